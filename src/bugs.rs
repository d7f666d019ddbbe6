//! The bug zoo: realistic mistakes, each one switch at the line it changes, so the checker can
//! show which property catches it (`paxchain-check bugs`, `paxchain-check zoo`).
//!
//! Each [`Bug`] names the rule of spec/protocol.md it breaks and the property expected to
//! catch it; spec/bugs.md shows each one's shortest counterexample.
//!
//! # Who can turn a bug on
//! The variants exist only with the cargo feature `bug-zoo`, which only the checker enables.
//! Without it [`Bug`] has no values at all, so `ServerConfig::bug` can only be `None` and
//! every switch is the constant `false`: `cargo build -p paxchain-deploy` builds a server
//! that holds no bug code. A workspace build compiles the deployment together with the
//! checker, and cargo then compiles this crate once, with the feature: the bug code is in the
//! binary, but the deployment has no way to set a bug (`run_server` asserts that none is set).
//!
//! # A switch
//! `bug!(cfg, Name)` is `cfg.bug == Some(Bug::Name)` with the feature, `false` without it.

macro_rules! zoo {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $name:literal, caught_by: $property:literal;
    )*) => {
        /// One seeded bug (see the module comment). Without the `bug-zoo` feature there are none.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Bug {
            $(
                #[cfg(feature = "bug-zoo")]
                $(#[doc = $doc])*
                $variant,
            )*
        }

        impl Bug {
            /// Every bug compiled in, in zoo order.
            pub const ALL: &'static [Bug] = &[$(#[cfg(feature = "bug-zoo")] Bug::$variant),*];

            /// The bug's name on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(#[cfg(feature = "bug-zoo")] Bug::$variant => $name,)*
                }
            }

            /// The property that must catch it.
            pub fn caught_by(self) -> &'static str {
                match self {
                    $(#[cfg(feature = "bug-zoo")] Bug::$variant => $property,)*
                }
            }

            /// Its documentation: the first paragraph says what the mistake is, the rest
            /// which rule it breaks and how it shows.
            pub fn doc(self) -> &'static str {
                match self {
                    $(#[cfg(feature = "bug-zoo")] Bug::$variant => concat!($($doc, "\n"),*),)*
                }
            }
        }
    };
}

zoo! {
    /// **Quorum of half.** The quorum is ⌊N/2⌋ instead of ⌊N/2⌋+1: with three servers a
    /// leader decides alone.
    ///
    /// Breaks protocol.md, *Proposal* and *Commit*: "a quorum (⌊N/2⌋+1, self included)". Two
    /// quorums need not intersect, so two leaders commit different blocks at one height.
    QuorumOfHalf = "quorum-of-half", caught_by: "chain prefix agreement";

    /// **Stale votes counted.** A leader counts a PROMISE or ACCEPTED for any of its ballots at
    /// the height, not only the ballot it leads now.
    ///
    /// Breaks protocol.md, *Proposal*: "A promise or `Accepted` counts only if it carries the
    /// ballot and height of the round being led". A reply to the leader's first ballot, sent
    /// before a rival's higher ballot took the voter over, completes a quorum the voter never
    /// gave the second ballot.
    StaleVotesCounted = "stale-votes-counted", caught_by: "chain prefix agreement";

    /// **Ballot tie ignores the leader.** Ballots are compared by round only, so two servers'
    /// ballots with the same round both stand with every acceptor.
    ///
    /// Breaks protocol.md, *Election*: "Ballots order by round, then by `waited`, then by the
    /// leader's index". Two leaders of round 1 both gather promises and both get their blocks
    /// accepted.
    BallotTieIgnoresLeader = "ballot-tie-ignores-leader", caught_by: "chain prefix agreement";

    /// **Promise not raised.** A server answers a higher PREPARE with a promise but does not
    /// record the higher ballot.
    ///
    /// Breaks protocol.md, *Prepare*: "set `promised`, save, and answer". The server then
    /// still accepts the lower ballot's block, which the higher leader did not hear about.
    PromiseNotRaised = "promise-not-raised", caught_by: "chain prefix agreement";

    /// **Accept ignores the promise.** A server accepts a block under a ballot below the one
    /// it promised.
    ///
    /// Breaks protocol.md, *Accept*: "If the ballot is below `promised`, refuse it". The
    /// lower leader's block gets chosen behind the back of the higher one.
    AcceptIgnoresPromise = "accept-ignores-promise", caught_by: "chain prefix agreement";

    /// **Accepted blocks ignored.** A leader always builds a fresh block, ignoring the blocks
    /// its promisers report as accepted.
    ///
    /// Breaks protocol.md, *Proposal*: "if any promise reported an accepted block, propose the
    /// one with the highest ballot, unchanged". A block that was already chosen is replaced.
    IgnoreAcceptedInPromises = "ignore-accepted-in-promises", caught_by: "chain prefix agreement";

    /// **First accepted, not highest.** A leader re-proposes the first accepted block it hears
    /// of (its own, if it has one) instead of the one with the highest ballot.
    ///
    /// Breaks protocol.md, *Proposal*: "the one with the highest ballot". An older, never
    /// chosen block displaces one a later ballot chose.
    FirstAcceptedNotHighest = "first-accepted-not-highest", caught_by: "chain prefix agreement";

    /// **Committed transfers re-proposed.** A fresh block takes every pending transfer the
    /// promises carried, even those already on the leader's chain.
    ///
    /// Breaks protocol.md, *Proposal*: "minus those already on my chain (a lagging promiser
    /// may still hold committed ones)". A transfer is chained twice.
    ReproposeCommitted = "repropose-committed", caught_by: "exactly once";

    /// **Promise not saved.** The step saves everything but the newly promised ballot.
    ///
    /// Breaks protocol.md, *State*: "each step saves `Storage` once, if it changed, before any
    /// of the step's messages leave". After a crash the server promises or accepts a lower
    /// ballot again, and two blocks are chosen at one height.
    PromiseNotSaved = "promise-not-saved", caught_by: "chain prefix agreement";

    /// **Accepted block not saved.** The step saves everything but the newly accepted block.
    ///
    /// Breaks protocol.md, *Accept*: "set `promised` and `accepted`, save, answer". A
    /// restarted acceptor reports no accepted block, and a chosen block is replaced.
    AcceptedNotSaved = "accepted-not-saved", caught_by: "chain prefix agreement";

    /// **Log not saved.** The step saves everything but the log, so a transfer is answered
    /// `Executed` while only memory holds it.
    ///
    /// Breaks protocol.md, *Submit* (4): "appends it to the log, sets the session's last
    /// outcome, saves, and answers".
    /// A crash then loses an acknowledged transfer.
    LogNotSaved = "log-not-saved", caught_by: "acknowledged transfers are never lost";

    /// **Last outcome not saved.** The step saves everything but the last outcome given to the
    /// client.
    ///
    /// Breaks protocol.md, *State*: "each step saves `Storage` once, if it changed, before any
    /// of the step's messages leave". After a crash, a retry of the last transfer is executed
    /// a second time.
    OutcomeNotSaved = "outcome-not-saved", caught_by: "exactly once";

    /// **Restart resets the promise.** A restarted server starts from its saved chain, log and
    /// accepted block, but with nothing promised ("a fresh start").
    ///
    /// Breaks protocol.md, *Catch-up*: "A restarted server resumes from storage". It accepts a
    /// lower ballot it had refused before the crash.
    RestartResetsPromise = "restart-resets-promise", caught_by: "chain prefix agreement";

    /// **Restart drops the log.** A restarted server starts with an empty log, as if pending
    /// transfers were only a cache of what the peers know.
    ///
    /// Breaks protocol.md, *Catch-up*: "A restarted server resumes from storage". Transfers
    /// the client was told were executed disappear.
    RestartDropsLog = "restart-drops-log", caught_by: "acknowledged transfers are never lost";

    /// **Retry executed again.** A retry of the last answered transfer is executed again
    /// instead of being answered with the saved outcome.
    ///
    /// Breaks protocol.md, *Submit* (2): "If the id is its session's last outcome's, answer
    /// it again".
    RetryExecutedAgain = "retry-executed-again", caught_by: "exactly once";

    /// **Answered id reused.** A server remembers only the *id* of the last answered
    /// transfer, and answers any transfer under that id with its outcome.
    ///
    /// Breaks protocol.md, *Submit* (2): "a *different* transfer under that id is refused with
    /// `IdInUse`". A forged or buggy request is told "Executed" for a transfer that never ran.
    AnsweredIdReused = "answered-id-reused", caught_by: "bad requests are refused";

    /// **Stale request executed.** A delayed copy of an older request is treated as new
    /// instead of dropped.
    ///
    /// Breaks protocol.md, *Submit* (2): "if its sequence number is lower, drop it". A
    /// duplicate UDP datagram executes a transfer twice.
    StaleRequestExecuted = "stale-request-executed", caught_by: "exactly once";

    /// **Catch-up keeps the log.** A server appending blocks it learned by COMMIT or catch-up
    /// does not drop their transfers from its log.
    ///
    /// Breaks protocol.md, *Catch-up* and *Commit*: "append it, drop its transfers from the
    /// log". A transfer is then both chained and pending, and counted twice.
    CatchUpKeepsLog = "catch-up-keeps-log", caught_by: "exactly once";

    /// **Fast path ignores the log.** The fast path checks the chain's balance only, not
    /// minus the debits already waiting in the log.
    ///
    /// Breaks protocol.md, *Submit* (4): "the chain's balance minus the debits in the log". Two
    /// transfers spend the same unit.
    FastPathIgnoresLog = "fast-path-ignores-log", caught_by: "no double spend";

    /// **Commit clears the whole log.** Appending a block empties the log, instead of dropping
    /// only the block's transfers.
    ///
    /// Breaks protocol.md, *Commit*: "drop its transfers from the log". A transfer executed
    /// after the promise that carried the log is lost.
    CommitClearsLog = "commit-clears-log", caught_by: "acknowledged transfers are never lost";

    /// **Sessions share one outcome.** A server keeps one last outcome per account, as when
    /// each account had one client, and compares a request's id with whichever of the
    /// account's sessions was answered last.
    ///
    /// Breaks protocol.md, *Sessions*: "every exactly-once rule is applied per session". A
    /// duplicate of session 0's answered request, arriving after session 1's answer, is
    /// neither that answer's retry nor older than it, so it is executed again. Only a
    /// scenario with two sessions at one server can show it.
    SessionsShareOutcome = "sessions-share-outcome", caught_by: "exactly once";

    /// **Answered before the flush.** A server answers a fast-path transfer `Executed` as
    /// soon as it stages it, instead of after the flush that saves it.
    ///
    /// Breaks protocol.md, *Group commit*: "the step saves them once, then answers them all".
    /// A crash before the flush forgets a transfer its client was told was executed. Only a
    /// server with two sessions ever holds a transfer staged past its step.
    AnsweredBeforeFlush = "answered-before-flush", caught_by: "acknowledged transfers are never lost";

    /// **Signature checked on the fast path only.** A server verifies a transfer's signature
    /// where it executes it at once, and not before it makes a short transfer wait for
    /// consensus.
    ///
    /// Breaks protocol.md, *Submit* (1): "Refuse what is invalid or not signed by the
    /// sender's owner". A forged transfer the balance does not cover waits, and executes
    /// after the round that brings the credit.
    SlowPathSkipsSignature = "slow-path-skips-signature", caught_by: "every executed transfer was signed by its sender's owner";

    /// **Signature leaves out the amount.** The bytes a transfer's owner signs are its id,
    /// sender and receiver, but not its amount.
    ///
    /// Breaks protocol.md, *Accounts, clients, servers*: "its signature covers every field of
    /// the transfer". Anyone who sees a signed transfer can send it again with another amount
    /// before the original arrives, and the server executes the altered one.
    SignatureLeavesOutAmount = "signature-leaves-out-amount", caught_by: "validity";

    /// **Peer check ignores the receiver.** A server reads a sealed peer message if the seal
    /// names a peer as its sender, whoever it was sealed for.
    ///
    /// Breaks protocol.md, *Peers*: "a server reads a peer message only if it is sealed for
    /// it, by a peer". A message an attacker captured on its way from A to B, replayed to C
    /// (or back to A), is read as if A had sent it there. With pair keys the MAC would still
    /// refuse it deployed (C does not hold A and B's key); the rule is checked as written,
    /// not the accident that saves it.
    PeerCheckIgnoresReceiver = "peer-check-ignores-receiver", caught_by: "a server acts only on peer messages sealed for it";

    /// **Quorum from the Byzantine bound.** The quorum is ⌊N/3⌋+1, the f+1 of a cluster of
    /// 3f+1 that tolerates lying servers, instead of ⌊N/2⌋+1. With three servers both are 2.
    ///
    /// Breaks protocol.md, *Proposal*: "a quorum (⌊N/2⌋+1, self included)". Five servers
    /// get quorums of two, which need not meet: two leaders, each with a quorum of its own,
    /// commit different blocks at one height. No three-server configuration can show it,
    /// because there the wrong formula gives the right number; and one ballot cannot, because
    /// a ballot proposes one block. It takes five servers and two ballots.
    QuorumOfAThird = "quorum-of-a-third", caught_by: "chain prefix agreement";

    /// **Two reports mean chosen.** A leader that hears the same block accepted under the same
    /// ballot from two of its promisers takes it as chosen and commits it at once, skipping
    /// phase 2: "two acceptors are a majority".
    ///
    /// Breaks protocol.md, *Commit*: "With `Accepted` from a quorum (self included) the block
    /// is chosen". With three servers two acceptors *are* a majority, so the shortcut commits
    /// only chosen blocks and no three-server configuration can show it. With five, a block
    /// two servers accepted under one ballot may have lost to another that three servers
    /// accepted under a later ballot: a leader of a third ballot whose quorum holds the first
    /// two commits the loser. It takes five servers and three ballots.
    CommitOnTwoReports = "commit-on-two-reports", caught_by: "chain prefix agreement";

    /// **Retry under a new id.** The client resends an unanswered transfer under a fresh id,
    /// so the server cannot recognise the retry.
    ///
    /// Breaks protocol.md, *Accounts, clients, servers*: "Retries reuse the id". The bank
    /// then holds a transfer under an id its user never gave, and if the first copy was
    /// executed too, the one transfer the user asked for moves money twice.
    RetryNewId = "retry-new-id", caught_by: "validity";
}

impl std::fmt::Display for Bug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Bug, String> {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| match names.is_empty() {
                true => "this build has no bug zoo (the `bug-zoo` feature is off)".to_string(),
                false => format!("no bug `{s}`; the zoo has: {}", names.join(", ")),
            })
    }
}

/// Whether `$cfg.bug` is the bug named `$name`; always `false` without the `bug-zoo` feature.
#[cfg(feature = "bug-zoo")]
#[macro_export]
macro_rules! bug {
    ($cfg:expr, $name:ident) => {
        $cfg.bug == Some($crate::bugs::Bug::$name)
    };
}

/// Whether `$cfg.bug` is the bug named `$name`; always `false` without the `bug-zoo` feature.
#[cfg(not(feature = "bug-zoo"))]
#[macro_export]
macro_rules! bug {
    ($cfg:expr, $name:ident) => {
        false
    };
}
