//! The protocol's rules by name, and which of them a search exercised: rule coverage.
//!
//! A seeded bug lives in one branch of a handler. A preset whose search never takes that
//! branch cannot catch it, however long it runs, and nothing in a verdict says so. TLC
//! answers this with coverage per action; this module does the same for the handlers.
//!
//! Each [`Rule`] is a branch spec/protocol.md names (its section is [`Rule::section`]): a
//! promise granted, an ACCEPT refused as outranked, a catch-up applied, a block that leaves
//! transfers out, a duplicate answered from its outcome. Which rules a step fired is read
//! from the step itself, by [`fired`]: the event, the actor's state before and after, and
//! the messages it sent. The handlers are not asked: they stay pure and unchanged, and a
//! wrong reading here only mislabels a count; it can neither hide a state nor change a
//! verdict, unlike a reduction.
//!
//! The search counts each distinct step of an actor once, when the memo of steps first
//! computes it (`crate::delta`), and each distinct crash or recovery when the premises see
//! it (`crate::bank_model`); so a count is "in how many distinct steps the rule fired".
//! A step that changes nothing and sends nothing is no step at all for stateright, so a
//! rule whose whole effect is to ignore a message (a stale PROMISE, a relay sealed for
//! another server) never shows here; reduction 4 accounts for those (spec/properties.md).
//! The counts need the memo, which `--no-reduce` turns off.

use crate::node::{Node, NodeState};
use crate::premises::Event;
use paxchain::{ApiMsg, Msg, Outcome, PeerMsg, Rejection, ServerState, Timer};
use stateright::actor::{Command, Out};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

macro_rules! rules {
    ($($(#[$doc:meta])* $rule:ident = $name:literal in $section:literal;)*) => {
        /// A branch of the protocol that spec/protocol.md names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($(#[$doc])* $rule,)*
        }

        impl Rule {
            /// Every rule, in the order of spec/protocol.md.
            pub const ALL: &'static [Rule] = &[$(Rule::$rule),*];

            /// Its stable name, as `--coverage` prints it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$rule => $name,)*
                }
            }

            /// The section of spec/protocol.md ("Rules") that states it.
            pub fn section(self) -> &'static str {
                match self {
                    $(Rule::$rule => $section,)*
                }
            }
        }
    };
}

rules! {
    /// A transfer that is invalid or not signed by its sender's owner is refused.
    RefuseInvalid = "refuse an invalid or unsigned transfer" in "Submit";
    /// A different transfer under an id already used is refused (`IdInUse`).
    RefuseReusedId = "refuse another transfer under a used id" in "Submit";
    /// A copy of the last answered transfer is answered again from its outcome.
    AnswerAgain = "answer a duplicate from its outcome" in "Submit";
    /// A covered transfer is staged, and waits for a later flush (other sessions' requests).
    Stage = "stage a covered transfer until a flush" in "Submit";
    /// A transfer the balance does not cover waits for consensus.
    Wait = "a short transfer waits for consensus" in "Submit";
    /// Staged transfers are saved and answered `Executed` in the step that staged them.
    FlushAtOnce = "flush in the step: save and answer" in "Group commit";
    /// The `Flush` timer saves and answers what is staged.
    FlushOnTimer = "flush on the timer: save and answer" in "Group commit";
    /// One save answers transfers of two or more sessions.
    GroupCommit = "one save answers several sessions" in "Group commit";
    /// A candidate saves a higher ballot and sends PREPARE.
    StartElection = "start an election" in "Election";
    /// Past the round bound, the waiting transfers are refused `NoQuorum`.
    RefusePastRoundBound = "refuse the waiting past the round bound" in "Election";
    /// PREPARE with a ballot at least the promise: promise and answer PROMISE.
    GrantPromise = "grant a promise" in "Prepare";
    /// PREPARE or ACCEPT from an older round: answer OUTRANKED.
    AnswerOutranked = "refuse an older round (OUTRANKED)" in "Prepare";
    /// A candidate or leader behind this server's tip is sent the blocks it lacks.
    SendCatchUp = "send a lagging peer its missing blocks" in "Prepare";
    /// A message about a height beyond the tip: ask for the blocks in between.
    RequestCatchUp = "ask for missing blocks" in "Catch-up";
    /// A PROMISE of the round being led is counted.
    CountPromise = "count a promise" in "Proposal (phase 2)";
    /// The `Gather` timer ends the wait for promises beyond a quorum.
    GatherOnTimer = "stop gathering on the timer" in "Gather";
    /// A promise reported an accepted block: propose the highest, unchanged.
    ProposeHighestAccepted = "propose the highest accepted block" in "Proposal (phase 2)";
    /// No promise reported an accepted block: propose a fresh one.
    ProposeFresh = "propose a fresh block" in "Proposal (phase 2)";
    /// A block that leaves pending transfers out (the bound, or a promise's long log).
    ProposeBounded = "propose a block that leaves transfers out" in "Proposal (phase 2)";
    /// Nothing pending anywhere: the round concludes without a block.
    NothingToAgree = "conclude with nothing to agree on" in "Proposal (phase 2)";
    /// ACCEPT that links to the tip, from the promised ballot or above: accept it.
    AcceptBlock = "accept a block" in "Accept";
    /// An ACCEPTED of the round being led is counted.
    CountAccepted = "count an ACCEPTED" in "Commit";
    /// A quorum accepted: the leader appends the block and sends COMMIT.
    CommitChosen = "commit a chosen block" in "Commit";
    /// A COMMIT extends this server's chain.
    AppendCommit = "append a committed block" in "Catch-up";
    /// CATCHUP blocks extend this server's chain.
    ApplyCatchUp = "apply a catch-up" in "Catch-up";
    /// A CATCHUP-REQUEST is answered with the blocks asked for.
    AnswerCatchUpRequest = "answer a catch-up request" in "Catch-up";
    /// A higher ballot ends the round this server led.
    StepDown = "step down for a higher ballot" in "Prepare";
    /// OUTRANKED raises this candidate's promise.
    HeedOutranked = "raise the promise on OUTRANKED" in "Outranked";
    /// A waiting transfer is executed after consensus.
    ExecuteAfterConsensus = "execute a waiting transfer after consensus" in "Conclude";
    /// A fresh block of everyone's transfers still does not cover it: refused.
    RefuseAfterFreshBlock = "refuse a waiting transfer after a fresh block" in "Conclude";
    /// Someone else's block was decided: another instance for those still waiting.
    AnotherInstance = "run another instance for the still waiting" in "Conclude";
    /// The `Round` timer fires with a round or a waiting transfer.
    RoundTimeout = "give up a stalled round on the timer" in "Timers";
    /// `literal` only: LITERAL-ACCEPT answered with this server's pending transfers.
    LiteralAccept = "literal: answer LITERAL-ACCEPT" in "literal";
    /// `literal` only: a LITERAL-ACCEPTED counted.
    LiteralCountAccepted = "literal: count a LITERAL-ACCEPTED" in "literal";
    /// A server crashes (the model's fault).
    Crash = "a server crashes" in "State";
    /// A server restarts from its storage.
    Restart = "restart from storage" in "State";
    /// A client sends its next transfer on an answer.
    ClientNext = "client: the next transfer on an answer" in "Accounts, clients, servers";
    /// A client resends its transfer on the `Retry` timer.
    ClientRetry = "client: resend on the timer" in "Timers";
}

/// How many distinct steps fired each rule, shared by every clone of a model.
#[derive(Clone)]
pub struct Coverage {
    counts: Arc<Vec<AtomicU64>>,
}

impl std::fmt::Debug for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.counts()).finish()
    }
}

impl Default for Coverage {
    /// A counter for every rule (a derived one would hold none, and count nothing).
    fn default() -> Coverage {
        Coverage::new()
    }
}

impl Coverage {
    pub fn new() -> Coverage {
        Coverage {
            counts: Arc::new(Rule::ALL.iter().map(|_| AtomicU64::new(0)).collect()),
        }
    }

    /// Counts one distinct step that fired `rules`.
    pub fn count(&self, rules: &[Rule]) {
        for r in rules {
            self.counts[*r as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every rule with its count, in [`Rule::ALL`]'s order.
    pub fn counts(&self) -> Vec<(Rule, u64)> {
        (Rule::ALL.iter())
            .map(|&r| (r, self.counts[r as usize].load(Ordering::Relaxed)))
            .collect()
    }

    /// The rules no step fired.
    pub fn never_fired(&self) -> Vec<Rule> {
        (self.counts().into_iter())
            .filter(|(_, n)| *n == 0)
            .map(|(r, _)| r)
            .collect()
    }
}

/// The rules one step of `actor` fired: `event` took it from `before` to `after` and gave
/// the commands `out`.
pub fn fired(
    actor: &Node,
    before: &NodeState,
    event: &Event,
    after: &NodeState,
    out: &Out<Node>,
) -> Vec<Rule> {
    let sends: Vec<&Msg> = (out.iter())
        .filter_map(|c| match c {
            Command::Send(_, m) => Some(m),
            _ => None,
        })
        .collect();
    let mut rules = Vec::new();
    match (actor, before.server(), after.server()) {
        (Node::Server { .. }, Some(b), Some(a)) => {
            let step = ServerStep {
                event,
                b,
                a,
                sends: &sends,
            };
            step.on_event(&mut rules);
            step.in_any_step(&mut rules);
        }
        (Node::Client(_), _, _) => match event {
            Event::Delivery { .. } if !sends.is_empty() => rules.push(Rule::ClientNext),
            Event::Timeout(Timer::Retry) => rules.push(Rule::ClientRetry),
            _ => {}
        },
        _ => {}
    }
    rules
}

/// Adds `rule` if `yes`.
fn when(rules: &mut Vec<Rule>, yes: bool, rule: Rule) {
    if yes {
        rules.push(rule);
    }
}

/// One step of a server, as [`fired`] reads it.
struct ServerStep<'a> {
    event: &'a Event<'a>,
    b: &'a ServerState,
    a: &'a ServerState,
    sends: &'a [&'a Msg],
}

impl ServerStep<'_> {
    fn sent_peer(&self, f: impl Fn(&PeerMsg) -> bool) -> bool {
        (self.sends.iter()).any(|m| matches!(m, Msg::Peer(p) if f(p)))
    }

    fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.sends.iter().filter_map(|m| match m {
            Msg::Api(ApiMsg::Outcome { outcome, .. }) => Some(outcome),
            _ => None,
        })
    }

    fn refused(&self, f: impl Fn(&Rejection) -> bool) -> bool {
        (self.outcomes()).any(|o| matches!(o, Outcome::Rejected { reason } if f(reason)))
    }

    /// Whether a vote for `ballot` was counted: the round it names is the one being led,
    /// and the step changed it or sent something (the vote that makes a quorum ends the
    /// phase, so its voters do not grow).
    fn counted(&self, ballot: &paxchain::Ballot) -> bool {
        let led = self.b.round.as_ref().is_some_and(|r| r.ballot == *ballot);
        led && (self.a.round != self.b.round || !self.sends.is_empty())
    }

    fn chain_grew(&self) -> bool {
        self.a.storage.chain.len() > self.b.storage.chain.len()
    }

    /// The rules of the event's own handler.
    fn on_event(&self, rules: &mut Vec<Rule>) {
        match self.event {
            Event::Delivery { msg, .. } => match msg {
                Msg::Api(ApiMsg::Submit { transfer }) => {
                    when(
                        rules,
                        self.refused(|r| matches!(r, Rejection::IdInUse { .. })),
                        Rule::RefuseReusedId,
                    );
                    let invalid = |r: &Rejection| {
                        !matches!(
                            r,
                            Rejection::IdInUse { .. }
                                | Rejection::InsufficientFunds { .. }
                                | Rejection::NoQuorum
                        )
                    };
                    when(rules, self.refused(invalid), Rule::RefuseInvalid);
                    let last = self.b.storage.last_outcomes.get(transfer.id.session);
                    let again = last.is_some_and(|l| l.transfer == *transfer);
                    when(
                        rules,
                        again && self.outcomes().next().is_some(),
                        Rule::AnswerAgain,
                    );
                    when(
                        rules,
                        self.a.staged.len() > self.b.staged.len(),
                        Rule::Stage,
                    );
                    when(
                        rules,
                        self.a.waiting.len() > self.b.waiting.len(),
                        Rule::Wait,
                    );
                }
                Msg::Peer(p) => self.on_peer(p, rules),
                _ => {}
            },
            Event::Timeout(Timer::Gather) => rules.push(Rule::GatherOnTimer),
            Event::Timeout(Timer::Round) => rules.push(Rule::RoundTimeout),
            Event::Timeout(_) => {}
            Event::Start(_) => rules.push(Rule::Restart),
        }
    }

    fn on_peer(&self, p: &PeerMsg, rules: &mut Vec<Rule>) {
        let catch_up = self.sent_peer(|q| matches!(q, PeerMsg::CatchUp { .. }));
        let outranked = self.sent_peer(|q| matches!(q, PeerMsg::Outranked { .. }));
        match p {
            PeerMsg::Prepare { .. } => {
                when(
                    rules,
                    self.sent_peer(|q| matches!(q, PeerMsg::Promise { .. })),
                    Rule::GrantPromise,
                );
                when(rules, outranked, Rule::AnswerOutranked);
                when(rules, catch_up, Rule::SendCatchUp);
            }
            PeerMsg::Accept { .. } => {
                when(
                    rules,
                    self.sent_peer(|q| matches!(q, PeerMsg::Accepted { .. })),
                    Rule::AcceptBlock,
                );
                when(rules, outranked, Rule::AnswerOutranked);
                when(rules, catch_up, Rule::SendCatchUp);
            }
            PeerMsg::Promise { ballot, .. } => {
                when(rules, self.counted(ballot), Rule::CountPromise)
            }
            PeerMsg::Accepted { ballot, .. } => {
                when(rules, self.counted(ballot), Rule::CountAccepted)
            }
            PeerMsg::Commit { .. } => when(rules, self.chain_grew(), Rule::AppendCommit),
            PeerMsg::CatchUp { .. } => when(rules, self.chain_grew(), Rule::ApplyCatchUp),
            PeerMsg::CatchUpRequest { .. } => when(rules, catch_up, Rule::AnswerCatchUpRequest),
            PeerMsg::Outranked { .. } => when(
                rules,
                self.a.storage.promised > self.b.storage.promised,
                Rule::HeedOutranked,
            ),
            PeerMsg::LiteralAccept { .. } => when(
                rules,
                self.sent_peer(|q| matches!(q, PeerMsg::LiteralAccepted { .. })),
                Rule::LiteralAccept,
            ),
            PeerMsg::LiteralAccepted { ballot, .. } => {
                when(rules, self.counted(ballot), Rule::LiteralCountAccepted)
            }
        }
    }

    /// The rules any event may lead to: elections, proposals, commits, answers.
    fn in_any_step(&self, rules: &mut Vec<Rule>) {
        let prepared = self.sent_peer(|q| matches!(q, PeerMsg::Prepare { .. }));
        when(rules, prepared, Rule::StartElection);
        when(rules, prepared && self.chain_grew(), Rule::AnotherInstance);
        when(
            rules,
            self.sent_peer(|q| matches!(q, PeerMsg::CatchUpRequest { .. })),
            Rule::RequestCatchUp,
        );
        self.proposal(rules);
        let committed = self.sent_peer(|q| matches!(q, PeerMsg::Commit { .. }));
        when(rules, committed && self.chain_grew(), Rule::CommitChosen);
        let executed = self.outcomes().filter(|o| **o == Outcome::Executed).count();
        let on_timer = matches!(self.event, Event::Timeout(Timer::Flush));
        when(rules, executed > 0 && on_timer, Rule::FlushOnTimer);
        let again = rules.contains(&Rule::AnswerAgain);
        when(
            rules,
            executed > 0 && !on_timer && !again,
            Rule::FlushAtOnce,
        );
        when(
            rules,
            self.a.instrumentation.batched && !self.b.instrumentation.batched,
            Rule::GroupCommit,
        );
        let after_consensus = |o: &&Outcome| **o == Outcome::ExecutedAfterConsensus;
        when(
            rules,
            self.outcomes().any(|o| after_consensus(&o)),
            Rule::ExecuteAfterConsensus,
        );
        let short = |r: &Rejection| matches!(r, Rejection::InsufficientFunds { .. });
        when(rules, self.refused(short), Rule::RefuseAfterFreshBlock);
        when(
            rules,
            self.refused(|r| *r == Rejection::NoQuorum),
            Rule::RefusePastRoundBound,
        );
        let led = |s: &ServerState| s.round.as_ref().map(|r| r.ballot);
        let left = led(self.b).is_some() && led(self.a) != led(self.b);
        let higher = self.a.storage.promised > led(self.b).unwrap_or_default();
        when(rules, left && higher && !prepared, Rule::StepDown);
    }

    /// The proposal rules: which block an ACCEPT carries, or none at all.
    fn proposal(&self, rules: &mut Vec<Rule>) {
        use paxchain::server::Phase;
        let electing = match self.b.round.as_ref().map(|r| &r.phase) {
            Some(Phase::Electing { highest, .. }) => Some(highest),
            _ => None,
        };
        let Some(highest) = electing else {
            return;
        };
        let accept = self.sends.iter().find_map(|m| match m {
            Msg::Peer(PeerMsg::Accept { block, .. }) => Some(block),
            _ => None,
        });
        match (accept, highest) {
            (Some(block), Some(h)) if block.hash == h.block.hash => {
                rules.push(Rule::ProposeHighestAccepted)
            }
            (Some(_), _) => {
                rules.push(Rule::ProposeFresh);
                let proposing = self.a.round.as_ref().map(|r| &r.phase);
                if matches!(proposing, Some(Phase::Proposing { fresh: false, .. })) {
                    rules.push(Rule::ProposeBounded);
                }
            }
            (None, _) => {
                let ended =
                    self.a.round.is_none() && self.b.storage.promised == self.a.storage.promised;
                let same_chain = !self.chain_grew();
                if ended
                    && same_chain
                    && matches!(
                        self.event,
                        Event::Delivery { .. } | Event::Timeout(Timer::Gather)
                    )
                {
                    rules.push(Rule::NothingToAgree);
                }
            }
        }
    }
}
