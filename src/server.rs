//! The bank server: executes its own client's transfers, and agrees on blocks with its peers.
//!
//! # The fast path
//! Server *i* owns account *i* and only ever executes transfers *from* it. It knows a lower
//! bound of that balance: its chain's balance minus the debits waiting in its local log
//! (credits in other servers' logs are unknown to it until a block brings them). When the bound
//! covers a transfer, the server appends it to its log, saves, and answers `Executed`
//! ([`client_api`]).
//!
//! # The slow path
//! When the bound is short, the server runs consensus on the next block, hoping that other
//! servers' logs hold credits for its account. How depends on the variant, chosen once here
//! ([`ServerActor::rules`]):
//! - `safe` ([`safe`]): a modified Paxos per chain height, whose promises carry the pending
//!   transfers that make up the block, with catch-up for servers that fall behind;
//! - `literal` ([`literal`]): the course text read literally, kept so the checker can show
//!   where it breaks (spec/deviations.md).
//!
//! The client API, the election's start, the commit's announcement and the final answer to
//! the client are the same in both; each variant supplies the rest through [`Consensus`].
//!
//! # One step, one save
//! Handlers decide; [`ServerActor::step`] applies. A handler changes the state and writes the
//! messages and timers it wants into an [`Outbox`], which cannot save. When the handler
//! returns, the step saves the durable [`Storage`] once if it changed, and only then hands
//! the sends to the runtime, so every message leaves after the save it may depend on, and a
//! step costs at most one save (deployed, one fsync).
//!
//! [`Storage`] holds what a crash must not forget: the promised ballot, the accepted block,
//! the chain, the local log and the last outcome given to each client session. Everything
//! else (the round being led, the requests waiting for consensus or staged for the next
//! flush) is rebuilt from the clients' retries.
//!
//! # Group commit
//! A fast-path transfer is executed at once but *staged*: held in volatile state, counted
//! against the balance, and saved and answered by the next *flush* together with every other
//! session's transfer staged by then ([`client_api`]). A server whose sessions are all in
//! flushes at once, so a lone client waits for nothing; otherwise the `Flush` timer ends the
//! wait. The model fires that timer at any moment, so "acknowledged transfers are never lost"
//! and "exactly once" are checked with every batching.

use crate::chain::Block;
use crate::ids::{Account, Ballot, Height};
use crate::ledger::{Balances, LedgerError, Rejection, Transfer};
use crate::msg::{AcceptedBlock, ApiMsg, Msg, Outcome, PeerMsg, Seal, Timer};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

mod client_api;
mod config;
mod ignored;
mod literal;
mod outbox;
mod safe;
mod state;

pub use config::{ServerConfig, ServerConfigError, Variant};
pub use outbox::Outbox;
use state::Before;
pub use state::{
    Answered, Instrumentation, Outcomes, Phase, Round, ServerState, Storage, Voters, Waiting,
};

/// The server actor.
#[derive(Clone, Debug)]
pub struct ServerActor {
    pub cfg: Arc<ServerConfig>,
}

/// The consensus rules of one variant: what a candidate brings to its own election, the
/// messages between servers, and what a leader does with its promises.
trait Consensus {
    /// The phase a new election at `height` starts in.
    fn electing(&self, a: &ServerActor, st: &ServerState, height: Height) -> Phase;
    /// A message from peer `from`.
    fn on_peer(
        &self,
        a: &ServerActor,
        state: &mut Cow<ServerState>,
        from: usize,
        msg: PeerMsg,
        fx: &mut Outbox,
    );
    /// Moves an election with enough promises on to its proposal.
    fn maybe_propose(&self, a: &ServerActor, st: &mut ServerState, fx: &mut Outbox);
    /// The `Gather` timer fired.
    fn on_gather(&self, a: &ServerActor, state: &mut Cow<ServerState>, fx: &mut Outbox);
}

impl Storage {
    /// Balances as this server knows them: its chain, then its own log (a replay of the log:
    /// for queries; the fast path asks [`ServerActor::available`]). An error only if the
    /// chain itself overdraws (possible in `literal`, never in `safe`).
    pub fn known_balances(&self, accounts: usize, initial: u64) -> Result<Balances, LedgerError> {
        let mut balances = self.chain.balances(accounts, initial)?;
        balances.apply_all(self.log.iter())?;
        Ok(balances)
    }
}

impl ServerActor {
    /// A server with this configuration.
    pub fn new(cfg: ServerConfig) -> ServerActor {
        ServerActor { cfg: Arc::new(cfg) }
    }

    /// The variant's rules: the one place the variant is chosen.
    fn rules(&self) -> &'static dyn Consensus {
        match self.cfg.variant {
            Variant::Safe => &safe::Safe,
            Variant::Literal => &literal::Literal,
        }
    }

    /// Runs one handler as one step: at most one save, and it comes before every send.
    fn step(
        &self,
        state: &mut Cow<ServerState>,
        o: &mut Out<Self>,
        handle: impl FnOnce(&mut Cow<ServerState>, &mut Outbox),
    ) {
        let before = match state {
            Cow::Borrowed(st) => Before::Borrowed(&st.storage),
            Cow::Owned(st) => Before::owned(&st.storage),
        };
        let mut fx = Outbox::default();
        handle(state, &mut fx);
        if let Cow::Owned(st) = &*state {
            if !before.is(&st.storage) {
                o.save(self.saved(&st.storage, &before));
            }
        }
        o.append(&mut fx.into_out());
    }

    /// What the step writes: the whole storage (a seeded bug may leave one field as it was).
    fn saved(&self, now: &Storage, before: &Before) -> Storage {
        let mut saved = now.clone();
        if crate::bug!(self.cfg, PromiseNotSaved) {
            saved.promised = before.borrowed().promised;
        }
        if crate::bug!(self.cfg, AcceptedNotSaved) {
            saved.accepted = before.borrowed().accepted.clone();
        }
        if crate::bug!(self.cfg, LogNotSaved) {
            saved.log = before.borrowed().log.clone();
        }
        if crate::bug!(self.cfg, OutcomeNotSaved) {
            saved.last_outcomes = before.borrowed().last_outcomes.clone();
        }
        saved
    }

    pub(crate) fn n(&self) -> usize {
        self.cfg.servers.len()
    }

    fn peers(&self) -> impl Iterator<Item = &Id> {
        let me = self.cfg.index;
        (self.cfg.servers.iter().enumerate())
            .filter(move |(i, _)| *i != me)
            .map(|(_, id)| id)
    }

    fn peer_index(&self, src: Id) -> Option<usize> {
        let i = self.cfg.servers.iter().position(|&s| s == src)?;
        (i != self.cfg.index).then_some(i)
    }

    /// The sender of a relayed peer message, if its seal is for this server from a peer
    /// (protocol.md, *Peers*); `None` and it is not read.
    pub(crate) fn opens(&self, seal: Seal) -> Option<usize> {
        let (from, to) = (usize::from(seal.from), usize::from(seal.to));
        let for_me = to == self.cfg.index || crate::bug!(self.cfg, PeerCheckIgnoresReceiver);
        (for_me && from < self.n() && from != self.cfg.index).then_some(from)
    }

    /// Balances as this server knows them; `None` only if its chain overdraws.
    pub fn known_balances(&self, st: &Storage) -> Option<Balances> {
        st.known_balances(self.n(), self.cfg.initial_balance).ok()
    }

    /// The own account's spendable balance, the fast path's lower bound: the chain's balance
    /// minus the debits in the log and those staged for the next flush. Costs as many steps
    /// as there are accounts, however long the chain and the log.
    pub fn available(&self, st: &ServerState) -> u64 {
        let chain = st
            .storage
            .chain
            .balances(self.n(), self.cfg.initial_balance);
        let Ok(chain) = chain.map(|b| u128::from(b.of(self.cfg.account()))) else {
            return 0;
        };
        if crate::bug!(self.cfg, FastPathIgnoresLog) {
            return u64::try_from(chain).expect("a balance");
        }
        let staged: u128 = st
            .staged
            .iter()
            .map(|w| u128::from(w.transfer.amount))
            .sum();
        let owed = st.storage.log.debits() + staged;
        u64::try_from(chain.saturating_sub(owed)).expect("below a balance")
    }

    fn broadcast(&self, msg: PeerMsg, fx: &mut Outbox) {
        fx.broadcast(self.peers(), msg);
    }

    fn send(&self, dst: usize, msg: PeerMsg, fx: &mut Outbox) {
        fx.send(self.cfg.servers[dst], msg);
    }

    /// Starts an instance for the next height under a fresh ballot.
    fn start_election(&self, st: &mut ServerState, fx: &mut Outbox) {
        let round = st.storage.promised.round.saturating_add(1);
        if round > self.cfg.max_round {
            // Out of ballots: a clear answer beats waiting forever.
            st.round = None;
            fx.cancel_timer(Timer::Round);
            for (_, w) in std::mem::take(&mut st.waiting) {
                let reason = Rejection::NoQuorum;
                self.finish(st, w, Outcome::Rejected { reason }, fx);
            }
            return;
        }
        let height = st.storage.chain.next_height();
        // Among equal rounds the longest wait, in rounds lost, wins: the fairness of
        // contested heights, and of rounds that end without a block.
        let promised = st.storage.promised.round;
        let since = st.waiting.values().map(|w| w.since_round).min();
        let waited = since.map_or(0, |since| promised.saturating_sub(since));
        let ballot = Ballot {
            round,
            waited,
            leader: u8::try_from(self.cfg.index).expect("validated: at most 26 servers"),
        };
        // The ballot is saved (by the step) before anyone hears of it, so a restarted server
        // never leads the same ballot twice with different blocks.
        st.storage.promised = ballot;
        let phase = self.rules().electing(self, st, height);
        st.round = Some(Round {
            ballot,
            height,
            phase,
        });
        self.broadcast(PeerMsg::Prepare { ballot, height }, fx);
        fx.set_timer(Timer::Round, self.cfg.round_timeout.clone());
        self.rules().maybe_propose(self, st, fx);
    }

    /// Promises `ballot` unless a higher one was promised: records a higher ballot (stepping
    /// down from a lower round of its own). Returns whether the ballot stands.
    fn promise(&self, state: &mut Cow<ServerState>, ballot: Ballot, fx: &mut Outbox) -> bool {
        if self.outranked(ballot, state.storage.promised) {
            return false;
        }
        if ballot > state.storage.promised {
            let st = state.to_mut();
            if !crate::bug!(self.cfg, PromiseNotRaised) {
                st.storage.promised = ballot;
            }
            self.step_down(st, ballot, fx);
        }
        true
    }

    /// Whether `ballot` is below the ballot `promised`: ballots order as (round, waited,
    /// leader).
    fn outranked(&self, ballot: Ballot, promised: Ballot) -> bool {
        if crate::bug!(self.cfg, BallotTieIgnoresLeader) {
            return ballot.round < promised.round;
        }
        ballot < promised
    }

    /// Learns that some server has promised `ballot` (from an OUTRANKED, a COMMIT or a
    /// CATCH-UP): promising it too is always safe (a promise only forbids), steps down from
    /// a lower round of its own, and makes this server's next election start above it, not
    /// one ballot at a time above a promise that a crash or a partition left behind.
    fn learn_ballot(&self, st: &mut ServerState, ballot: Ballot, fx: &mut Outbox) {
        if ballot > st.storage.promised {
            st.storage.promised = ballot;
            self.step_down(st, ballot, fx);
        }
    }

    /// A server that promises (or learns of) a higher ballot can no longer finish its own
    /// lower round. If its client still waits, it tries again when the `Round` timer fires,
    /// re-armed here to the shorter `step_down_retry`: the rival's round may end without a
    /// block (nothing was pending), and then no COMMIT would come to wake this server up.
    /// (The model ignores durations: there the timer was armed already.)
    fn step_down(&self, st: &mut ServerState, ballot: Ballot, fx: &mut Outbox) {
        if st.round.as_ref().is_some_and(|r| r.ballot < ballot) {
            st.round = None;
            if !st.waiting.is_empty() {
                fx.set_timer(Timer::Round, self.cfg.step_down_retry());
            }
        }
    }

    /// A message from peer `from`: a promise goes to the shared election, the rest to the
    /// variant's rules.
    fn on_peer(&self, state: &mut Cow<ServerState>, from: usize, m: PeerMsg, fx: &mut Outbox) {
        match m {
            PeerMsg::Promise {
                ballot,
                height,
                accepted,
                pending,
                more,
            } => {
                let promise = Promised {
                    accepted,
                    pending,
                    more,
                };
                self.on_promise(state, from, ballot, height, promise, fx)
            }
            other => self.rules().on_peer(self, state, from, other, fx),
        }
    }

    /// Phase 1b arrives at the leader: count the promise, merge its pending transfers, keep
    /// the accepted block with the highest ballot, and see whether the leader can propose.
    fn on_promise(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        promise: Promised,
        fx: &mut Outbox,
    ) {
        let Promised {
            accepted,
            pending,
            more,
        } = promise;
        let is_electing = |p: &Phase| matches!(p, Phase::Electing { .. });
        let Some(round) = self.count_vote(state, from, ballot, height, is_electing) else {
            return;
        };
        let mut two_reports = None;
        if let Phase::Electing {
            pending: all,
            partial,
            highest,
            ..
        } = &mut round.phase
        {
            if !pending.is_empty() {
                all.insert(Account::of_server(from), pending);
            }
            *partial |= more;
            if crate::bug!(self.cfg, CommitOnTwoReports)
                && accepted.is_some()
                && accepted == *highest
            {
                two_reports = accepted.clone();
            }
            let higher = if crate::bug!(self.cfg, FirstAcceptedNotHighest) {
                highest.is_none()
            } else {
                accepted.as_ref().map(|a| a.ballot) > highest.as_ref().map(|h| h.ballot)
            };
            if higher {
                *highest = accepted;
            }
        }
        if let Some(chosen) = two_reports {
            return self.commit_unaccepted(state.to_mut(), ballot, chosen, fx);
        }
        self.rules().maybe_propose(self, state.to_mut(), fx);
    }

    /// The zoo's `commit-on-two-reports`: commits a block two promisers reported, without
    /// phase 2. Never called by a correct server.
    fn commit_unaccepted(
        &self,
        st: &mut ServerState,
        ballot: Ballot,
        chosen: AcceptedBlock,
        fx: &mut Outbox,
    ) {
        let block = chosen.block;
        if Arc::make_mut(&mut st.storage.chain)
            .append(block.clone())
            .is_ok()
        {
            self.absorb(st, &block);
            self.announce(st, ballot, block, false, fx);
        }
    }

    /// Counts `from`'s answer if it is for the round this server leads (same ballot and
    /// height, in a phase `in_phase` accepts) and not counted yet; returns the round so the
    /// caller can add what the answer carried. A stale or repeated answer changes nothing.
    fn count_vote<'a>(
        &self,
        state: &'a mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        in_phase: fn(&Phase) -> bool,
    ) -> Option<&'a mut Round> {
        let stale_too = crate::bug!(self.cfg, StaleVotesCounted);
        let news = state.round.as_ref().is_some_and(|r| {
            (r.ballot == ballot || stale_too && r.ballot.leader == ballot.leader)
                && r.height == height
                && in_phase(&r.phase)
                && !r.phase.voters().contains(from)
        });
        if !news {
            return None;
        }
        let round = state.to_mut().round.as_mut().expect("checked above");
        round.phase.voters_mut().insert(from);
        Some(round)
    }

    /// The round this server leads, if its current phase has at least `needed` voters.
    fn round_with_votes(&self, st: &ServerState, needed: usize) -> Option<Round> {
        (st.round.as_ref())
            .filter(|r| r.phase.voters().len() >= needed)
            .cloned()
    }

    /// Drops a block's transfers from the log and forgets an accepted block at or below its
    /// height: what follows every append, in both variants.
    fn absorb(&self, st: &mut ServerState, block: &Block) {
        if crate::bug!(self.cfg, CommitClearsLog) {
            st.storage.log = Arc::default();
        }
        let own = self.cfg.account();
        if block.transfers.iter().any(|t| t.from == own) && !st.storage.log.is_empty() {
            Arc::make_mut(&mut st.storage.log).absorb(block);
        }
        if (st.storage.accepted.as_ref()).is_some_and(|a| a.block.height <= block.height) {
            st.storage.accepted = None;
        }
    }

    /// The leader's block, just appended, is chosen: announce it, end the round, answer.
    /// `fresh`: the block was built from the round's own gathering (see [`Self::conclude`]).
    fn announce(
        &self,
        st: &mut ServerState,
        ballot: Ballot,
        block: Arc<Block>,
        fresh: bool,
        fx: &mut Outbox,
    ) {
        self.broadcast(PeerMsg::Commit { ballot, block }, fx);
        st.round = None;
        fx.cancel_timer(Timer::Round);
        self.conclude(st, fresh, fx);
    }

    /// The chain grew under us: a round for an old height is void; a waiting transfer may
    /// now be covered, or needs a new instance.
    fn after_growth(&self, st: &mut ServerState, fx: &mut Outbox) {
        let next = st.storage.chain.next_height();
        if st.round.as_ref().is_some_and(|r| r.height < next) {
            st.round = None;
        }
        if st.round.is_none() && !st.waiting.is_empty() {
            self.conclude(st, false, fx);
        }
    }
}

impl Actor for ServerActor {
    type Msg = Msg;
    type State = ServerState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(&self, _id: Id, storage: &Option<Storage>, _o: &mut Out<Self>) -> ServerState {
        // A restart resumes from storage and sends nothing: the first message about a higher
        // height (a PREPARE, an ACCEPT, a COMMIT still in flight) triggers the catch-up. A
        // broadcast here would let the model's unbounded crash/recover cycles pile up
        // messages without bound (see spec/protocol.md, "Catch-up").
        match storage {
            Some(storage) => {
                let tip = storage.chain.tip().height;
                let mut storage = storage.clone();
                if crate::bug!(self.cfg, RestartResetsPromise) {
                    storage.promised = Ballot::default();
                }
                if crate::bug!(self.cfg, RestartDropsLog) {
                    storage.log = Arc::default();
                }
                ServerState::resumed(storage, Some(tip))
            }
            None => ServerState::fresh(),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ServerState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        self.step(state, o, |state, fx| match msg {
            Msg::Api(ApiMsg::Submit { transfer }) => self.on_submit(state, src, transfer, fx),
            Msg::Api(query) => self.on_query(state, src, query, fx),
            // Peer messages from outside the cluster are ignored.
            Msg::Peer(m) => {
                if let Some(from) = self.peer_index(src) {
                    self.on_peer(state, from, m, fx);
                }
            }
            // A relayed one is read as its sealer's, if sealed for this server.
            Msg::Relayed { seal, peer } => {
                if let Some(from) = self.opens(seal) {
                    self.on_peer(state, from, peer, fx);
                }
            }
        });
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ServerState>, timer: &Timer, o: &mut Out<Self>) {
        self.step(state, o, |state, fx| match timer {
            // The election or round stalled (lost messages, a crashed or competing leader):
            // try again under a higher ballot, unless nothing is waiting any more.
            Timer::Round if !state.waiting.is_empty() => {
                let st = state.to_mut();
                st.round = None;
                self.start_election(st, fx);
            }
            Timer::Gather => self.rules().on_gather(self, state, fx),
            Timer::Flush => self.on_flush_timer(state, fx),
            _ => {}
        });
    }

    fn name(&self) -> String {
        format!("server {}", self.cfg.account())
    }
}

/// A new election's phase: only the candidate has promised, bringing `pending` (the oldest
/// of its log, `partial` if that is not all of it) and `highest`.
fn electing(
    (pending, partial): (Vec<Transfer>, bool),
    highest: Option<AcceptedBlock>,
    me: usize,
) -> Phase {
    let mut all = BTreeMap::new();
    if !pending.is_empty() {
        all.insert(Account::of_server(me), Arc::new(pending));
    }
    Phase::Electing {
        promised_by: Voters::only(me),
        pending: all,
        partial,
        highest,
        gathered: false,
    }
}

/// What a PROMISE brings besides its ballot and height.
struct Promised {
    accepted: Option<AcceptedBlock>,
    pending: Arc<Vec<Transfer>>,
    more: bool,
}

#[cfg(test)]
mod tests;
