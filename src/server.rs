//! The bank server: executes its own client's transfers, and agrees on blocks with its peers.
//!
//! # The fast path
//! Server *i* owns account *i* and only ever executes transfers *from* it. It knows a lower
//! bound of that balance: its chain's balance minus the debits waiting in its local log
//! (credits in other servers' logs are unknown to it until a block brings them). When the bound
//! covers a transfer, the server appends it to its log, saves, and answers `Executed`.
//!
//! # The slow path: modified Paxos, one instance per chain height
//! When the bound is short, the server runs consensus on the next block, hoping that other
//! servers' logs hold credits for its account:
//!
//! 1. **Election** (phase 1). It picks a ballot above every ballot it has promised, saves it,
//!    and sends PREPARE(ballot, height). A server that has promised nothing higher promises
//!    and answers with the block it has accepted for that height, if any, and its pending
//!    transfers (its local log).
//! 2. **Proposal** (phase 2). With promises from a quorum (its own included), and once the
//!    others have promised too or the `Gather` timer has fired, the leader picks
//!    the block: the accepted block with the highest ballot among the promises if there is
//!    one (it may already be chosen), else a fresh block of every pending transfer it heard
//!    of that is not yet on its chain. It accepts the block itself and sends ACCEPT.
//! 3. **Acceptance.** A server accepts a block for the height right after its tip under a
//!    ballot no lower than its promise; it saves the block, then answers ACCEPTED.
//! 4. **Commit.** With ACCEPTED from a quorum the block is chosen: the leader appends it,
//!    drops its transfers from its log, saves, and sends COMMIT(ballot, block).
//! 5. **Retry.** The leader re-checks the waiting transfer: covered, it executes it
//!    (`ExecutedAfterConsensus`); not covered after a fresh block, it answers
//!    `InsufficientFunds`; not covered after re-proposing someone else's block, it runs
//!    another instance for the next height.
//!
//! Servers that fall behind (lost COMMITs, a crash) learn blocks by height: any message about
//! a height above their tip makes them send CATCH-UP-REQUEST, any message about a height
//! below the sender's tip gets a CATCH-UP reply with the missing blocks. A restarted server
//! resumes from its storage and catches up the same way, at the first message it gets.
//!
//! # Durability
//! [`Storage`] holds what a crash must not forget: the promised ballot, the accepted block,
//! the chain, the local log and the last outcome given to the client. Every handler saves
//! *before* the sends that depend on what it saved. Everything else (the round being led,
//! the request waiting for consensus) is rebuilt from the client's retry.
//!
//! # The `literal` variant
//! The same actor also runs the protocol as the course text states it (see spec/): the
//! election carries nothing, ACCEPT and ACCEPTED carry pending transfers, the leader builds
//! the block from f ACCEPTED replies and commits it, followers append any COMMIT, and there is
//! no catch-up. The branches are marked `Variant::Literal`; everything else is shared.

use crate::chain::{Block, Chain};
use crate::ids::{Ballot, Height, TxId};
use crate::ledger::{validate, Balances, Rejection, Transfer};
use crate::msg::{fits_in_one_message, AcceptedBlock, ApiMsg, Msg, Outcome, PeerMsg};
use crate::node::Timer;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

mod config;
mod literal;

pub use config::{ServerConfig, ServerConfigError, Variant};

/// The server actor.
#[derive(Clone, Debug)]
pub struct ServerActor {
    pub cfg: Arc<ServerConfig>,
}

/// What a crash must not forget. Saved before every message that depends on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Storage {
    /// The highest ballot promised (or led): never accept or lead below it again.
    pub promised: Ballot,
    /// The block accepted for the height after the tip, and under which ballot.
    pub accepted: Option<AcceptedBlock>,
    /// The committed blocks; shared with the volatile state, never copied.
    pub chain: Arc<Chain>,
    /// Own client's transfers executed here and not yet in the chain, in execution order.
    pub log: Vec<Transfer>,
    /// The last final outcome given to the own client: retries get it again, older requests
    /// are ignored. This is what makes a retried or duplicated request execute once.
    pub last_outcome: Option<(TxId, Outcome)>,
}

/// The server's whole state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerState {
    /// Durable: everything here is also in the last save.
    pub storage: Storage,
    /// Leader (volatile): the instance this server is leading, if any.
    pub round: Option<Round>,
    /// Client (volatile): the short-balance transfer waiting for consensus, and whom to answer.
    pub waiting: Option<Waiting>,
    /// Recovery (volatile): the tip height this incarnation restarted from after a crash.
    pub restarted_at: Option<Height>,
}

/// A transfer waiting for consensus.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Waiting {
    /// Where the outcome goes.
    pub client: Id,
    /// The transfer.
    pub transfer: Transfer,
}

/// One consensus instance led by this server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Round {
    /// The ballot this server leads.
    pub ballot: Ballot,
    /// The height of the block being agreed on.
    pub height: Height,
    /// How far the instance has got.
    pub phase: Phase,
}

/// The steps of a [`Round`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Collecting promises: who promised, the pending transfers they sent, the accepted
    /// block with the highest ballot among them, and whether the wait for promises beyond a
    /// quorum is over.
    Electing {
        promised_by: BTreeSet<usize>,
        pending: BTreeSet<Transfer>,
        highest: Option<AcceptedBlock>,
        gathered: bool,
    },
    /// `safe`: the block proposed, whether it was built fresh from the promises' pending
    /// transfers, and who has accepted it.
    Proposing {
        block: Arc<Block>,
        fresh: bool,
        accepted_by: BTreeSet<usize>,
    },
    /// `literal`: ACCEPTED replies so far and the transfers they carried.
    Collecting {
        accepted_by: BTreeSet<usize>,
        pending: BTreeSet<Transfer>,
    },
}

impl Phase {
    /// The servers that have answered in this phase (promised, or accepted).
    fn voters(&self) -> &BTreeSet<usize> {
        match self {
            Phase::Electing { promised_by, .. } => promised_by,
            Phase::Proposing { accepted_by, .. } | Phase::Collecting { accepted_by, .. } => {
                accepted_by
            }
        }
    }

    fn voters_mut(&mut self) -> &mut BTreeSet<usize> {
        match self {
            Phase::Electing { promised_by, .. } => promised_by,
            Phase::Proposing { accepted_by, .. } | Phase::Collecting { accepted_by, .. } => {
                accepted_by
            }
        }
    }
}

impl ServerState {
    fn fresh() -> ServerState {
        ServerState {
            storage: Storage::default(),
            round: None,
            waiting: None,
            restarted_at: None,
        }
    }
}

impl ServerActor {
    /// A server with this configuration.
    pub fn new(cfg: ServerConfig) -> ServerActor {
        ServerActor { cfg: Arc::new(cfg) }
    }

    fn n(&self) -> usize {
        self.cfg.servers.len()
    }

    fn peers(&self) -> impl Iterator<Item = &Id> {
        let me = self.cfg.index;
        self.cfg
            .servers
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != me)
            .map(|(_, id)| id)
    }

    fn peer_index(&self, src: Id) -> Option<usize> {
        let i = self.cfg.servers.iter().position(|&s| s == src)?;
        (i != self.cfg.index).then_some(i)
    }

    fn is_literal(&self) -> bool {
        self.cfg.variant == Variant::Literal
    }

    /// Balances as this server knows them: its chain, then its own log. `None` only if the
    /// chain itself overdraws (possible in `literal`, never in `safe`).
    pub fn known_balances(&self, st: &Storage) -> Option<Balances> {
        let mut b = st.chain.balances(self.n(), self.cfg.initial_balance).ok()?;
        b.apply_all(&st.log).ok()?;
        Some(b)
    }

    /// The own account's spendable balance: the fast path's lower bound.
    pub fn available(&self, st: &Storage) -> u64 {
        self.known_balances(st)
            .map_or(0, |b| b.of(self.cfg.account()))
    }

    fn save(&self, st: &ServerState, o: &mut Out<Self>) {
        o.save(st.storage.clone());
    }

    fn reply(&self, client: Id, id: TxId, outcome: Outcome, o: &mut Out<Self>) {
        o.send(client, ApiMsg::Outcome { id, outcome }.into());
    }

    fn broadcast(&self, msg: PeerMsg, o: &mut Out<Self>) {
        o.broadcast(self.peers(), &msg.into());
    }

    fn send(&self, dst: usize, msg: PeerMsg, o: &mut Out<Self>) {
        o.send(self.cfg.servers[dst], msg.into());
    }

    /// Gives the own client a final outcome: saved first, so a retry gets the same answer.
    fn finish(&self, st: &mut ServerState, w: Waiting, outcome: Outcome, o: &mut Out<Self>) {
        if outcome.is_executed() {
            st.storage.log.push(w.transfer.clone());
        }
        st.storage.last_outcome = Some((w.transfer.id, outcome.clone()));
        self.save(st, o);
        self.reply(w.client, w.transfer.id, outcome, o);
    }

    // ---------------------------------------------------------------- client API

    fn on_submit(&self, state: &mut Cow<ServerState>, client: Id, t: Transfer, o: &mut Out<Self>) {
        // 1. What can be refused without balances is refused at once (nothing to save).
        if let Err(reason) = validate(&t, self.cfg.account(), self.n()) {
            return self.reply(client, t.id, Outcome::Rejected { reason }, o);
        }
        // 2. Exactly once: the last answered request gets its answer again; older ones are
        //    stale copies (the client only sends the next after an answer) and are dropped.
        if let Some((id, outcome)) = &state.storage.last_outcome {
            if t.id == *id {
                return self.reply(client, t.id, outcome.clone(), o);
            }
            if t.id.seq < id.seq {
                return;
            }
        }
        // 3. The transfer waiting for consensus: a retry changes nothing but where to answer;
        //    an older id is stale; a *different* transfer under its id is refused (UDP is not
        //    authenticated, and one id must never name two transfers).
        if let Some(w) = &state.waiting {
            if t.id.seq < w.transfer.id.seq {
                return;
            }
            if t.id == w.transfer.id {
                if t != w.transfer {
                    let reason = Rejection::IdInUse { id: t.id };
                    return self.reply(client, t.id, Outcome::Rejected { reason }, o);
                }
                if w.client != client {
                    state.to_mut().waiting.as_mut().expect("checked").client = client;
                }
                return;
            }
        }
        let st = state.to_mut();
        // A newer request means the client gave up on the waiting one: it is dropped.
        st.waiting = None;
        let w = Waiting {
            client,
            transfer: t,
        };
        // 4. Fast path.
        if self.available(&st.storage) >= w.transfer.amount {
            return self.finish(st, w, Outcome::Executed, o);
        }
        // 5. Slow path: wait for consensus (a new request replaces one the client gave up on).
        st.waiting = Some(w);
        if st.round.is_none() {
            self.start_election(st, o);
        }
    }

    fn on_query(&self, state: &ServerState, client: Id, q: ApiMsg, o: &mut Out<Self>) {
        let st = &state.storage;
        let answer = match q {
            ApiMsg::GetBalance { account } if account.index() < self.n() => ApiMsg::Balance {
                account,
                balance: self.known_balances(st).map_or(0, |b| b.of(account)),
                height: st.chain.tip().height,
            },
            ApiMsg::GetBalance { account } => ApiMsg::Outcome {
                id: TxId {
                    client: account,
                    seq: 0,
                },
                outcome: Outcome::Rejected {
                    reason: Rejection::UnknownAccount { account },
                },
            },
            ApiMsg::GetLog => ApiMsg::Log {
                transfers: st.log.clone(),
            },
            ApiMsg::GetChain { from } => {
                let rest = st.chain.blocks_from(from);
                let n = fits_in_one_message(rest);
                ApiMsg::Chain {
                    from,
                    blocks: rest[..n].iter().map(|b| (**b).clone()).collect(),
                    more: n < rest.len(),
                }
            }
            ApiMsg::GetLastAnswered => ApiMsg::LastAnswered {
                id: st.last_outcome.as_ref().map(|(id, _)| *id),
            },
            ApiMsg::GetStatus => ApiMsg::Status {
                promised: st.promised,
                leading: state.round.is_some(),
                tip: st.chain.tip().height,
                pending: st.log.len(),
            },
            _ => return, // answers are for clients; a server ignores them
        };
        o.send(client, answer.into());
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
        let news = state.round.as_ref().is_some_and(|r| {
            r.ballot == ballot
                && r.height == height
                && in_phase(&r.phase)
                && !r.phase.voters().contains(&from)
        });
        if !news {
            return None;
        }
        let round = state.to_mut().round.as_mut().expect("checked above");
        round.phase.voters_mut().insert(from);
        Some(round)
    }

    // ---------------------------------------------------------------- election

    /// Starts an instance for the next height under a fresh ballot.
    fn start_election(&self, st: &mut ServerState, o: &mut Out<Self>) {
        let round = st.storage.promised.round.saturating_add(1);
        if round > self.cfg.max_round {
            // Out of ballots: a clear answer beats waiting forever.
            st.round = None;
            o.cancel_timer(Timer::Round);
            if let Some(w) = st.waiting.take() {
                let reason = Rejection::NoQuorum;
                self.finish(st, w, Outcome::Rejected { reason }, o);
            }
            return;
        }
        let ballot = Ballot {
            round,
            leader: u8::try_from(self.cfg.index).expect("validated: at most 26 servers"),
        };
        let height = st.storage.chain.next_height();
        // 1. The ballot is saved before anyone hears of it, so a restarted server never leads
        //    the same ballot twice with different blocks.
        st.storage.promised = ballot;
        self.save(st, o);
        let own_accepted = st
            .storage
            .accepted
            .clone()
            .filter(|a| a.block.height == height && !self.is_literal());
        let own_pending = if self.is_literal() {
            BTreeSet::new()
        } else {
            st.storage.log.iter().cloned().collect()
        };
        st.round = Some(Round {
            ballot,
            height,
            phase: Phase::Electing {
                promised_by: BTreeSet::from([self.cfg.index]),
                pending: own_pending,
                highest: own_accepted,
                gathered: false,
            },
        });
        self.broadcast(PeerMsg::Prepare { ballot, height }, o);
        o.set_timer(Timer::Round, self.cfg.round_timeout.clone());
        self.maybe_propose(st, o);
    }

    fn on_prepare(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        o: &mut Out<Self>,
    ) {
        let next = state.storage.chain.next_height();
        if height < next && !self.is_literal() {
            // The candidate is behind: it cannot lead this height; give it the blocks.
            return self.send_blocks(state, from, height, o);
        }
        if !self.promise(state, ballot, o) {
            return;
        }
        let (accepted, pending) = if self.is_literal() {
            (None, Vec::new())
        } else {
            let accepted = (state.storage.accepted.as_ref())
                .filter(|a| a.block.height == height)
                .cloned();
            (accepted, state.storage.log.clone())
        };
        let promise = PeerMsg::Promise {
            ballot,
            height,
            accepted,
            pending,
        };
        self.send(from, promise, o);
        if height > next && !self.is_literal() {
            self.send(from, PeerMsg::CatchUpRequest { from: next }, o);
        }
    }

    /// Promises `ballot` unless a higher one was promised: records and saves a higher ballot
    /// (stepping down from a lower round of its own). Returns whether the ballot stands.
    pub(super) fn promise(
        &self,
        state: &mut Cow<ServerState>,
        ballot: Ballot,
        o: &mut Out<Self>,
    ) -> bool {
        if ballot < state.storage.promised {
            return false;
        }
        if ballot > state.storage.promised {
            let st = state.to_mut();
            st.storage.promised = ballot;
            self.abandon_lower_round(st, ballot);
            self.save(st, o);
        }
        true
    }

    /// A server that promises a higher ballot can no longer finish its own lower round.
    /// The round timer stays armed: if the higher leader fails, this server tries again.
    fn abandon_lower_round(&self, st: &mut ServerState, ballot: Ballot) {
        if st.round.as_ref().is_some_and(|r| r.ballot < ballot) {
            st.round = None;
        }
    }

    /// Phase 1b arrives at the leader: count the promise, merge its pending transfers, and
    /// keep the accepted block with the highest ballot.
    fn on_promise(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        promise: PeerMsg,
        o: &mut Out<Self>,
    ) {
        let PeerMsg::Promise {
            ballot,
            height,
            accepted,
            pending,
        } = promise
        else {
            unreachable!("on_promise is only called with a Promise");
        };
        let electing = |p: &Phase| matches!(p, Phase::Electing { .. });
        let Some(round) = self.count_vote(state, from, ballot, height, electing) else {
            return;
        };
        if let Phase::Electing {
            pending: all,
            highest,
            ..
        } = &mut round.phase
        {
            all.extend(pending);
            if accepted.as_ref().map(|a| a.ballot) > highest.as_ref().map(|h| h.ballot) {
                *highest = accepted;
            }
        }
        self.maybe_propose(state.to_mut(), o);
    }

    // ---------------------------------------------------------------- proposal

    /// With a quorum of promises, moves to phase 2.
    fn maybe_propose(&self, st: &mut ServerState, o: &mut Out<Self>) {
        let Some(Round {
            ballot,
            height,
            phase:
                Phase::Electing {
                    promised_by,
                    pending,
                    highest,
                    gathered,
                },
        }) = st.round.clone()
        else {
            return;
        };
        if promised_by.len() < self.cfg.quorum() {
            return;
        }
        // A quorum is enough for safety, but the block should hold every reachable server's
        // pending transfers: wait for the others until the `Gather` timer fires.
        if !self.is_literal() && promised_by.len() < self.n() && !gathered {
            return o.set_timer(Timer::Gather, self.cfg.gather_timeout.clone());
        }
        o.cancel_timer(Timer::Gather);
        if self.is_literal() {
            let round = st.round.as_mut().expect("matched above");
            round.phase = Phase::Collecting {
                accepted_by: BTreeSet::new(),
                pending: BTreeSet::new(),
            };
            let pending = st.storage.log.clone();
            self.broadcast(
                PeerMsg::LiteralAccept {
                    ballot,
                    height,
                    pending,
                },
                o,
            );
            return self.maybe_commit_literal(st, o);
        }
        // 1. A block some promiser accepted may already be chosen: propose it unchanged.
        // 2. Otherwise build a fresh block of every pending transfer heard of that is not
        //    already on the chain (a lagging promiser may still hold committed ones).
        let (block, fresh) = match highest {
            Some(a) => (a.block, false),
            None => {
                let chain = &st.storage.chain;
                let transfers: Vec<Transfer> = pending
                    .into_iter()
                    .filter(|t| !chain.contains(t.id))
                    .collect();
                if transfers.is_empty() {
                    // 3. Nobody has anything new: no block, and the answer is final.
                    st.round = None;
                    o.cancel_timer(Timer::Round);
                    return self.conclude(st, true, o);
                }
                let block = Block::new(height, ballot, chain.tip().hash, transfers);
                (Arc::new(block), true)
            }
        };
        st.storage.accepted = Some(AcceptedBlock {
            ballot,
            block: block.clone(),
        });
        self.save(st, o);
        st.round = Some(Round {
            ballot,
            height,
            phase: Phase::Proposing {
                block: block.clone(),
                fresh,
                accepted_by: BTreeSet::from([self.cfg.index]),
            },
        });
        self.broadcast(PeerMsg::Accept { ballot, block }, o);
        self.maybe_commit(st, o);
    }

    fn on_accept(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        block: Arc<Block>,
        o: &mut Out<Self>,
    ) {
        let next = state.storage.chain.next_height();
        let height = block.height;
        if height < next {
            return self.send_blocks(state, from, height, o);
        }
        if ballot < state.storage.promised {
            return;
        }
        if height > next {
            return self.send(from, PeerMsg::CatchUpRequest { from: next }, o);
        }
        if block.prev != state.storage.chain.tip().hash || !block.hash_is_valid() {
            return;
        }
        let accepted = Some(AcceptedBlock { ballot, block });
        if state.storage.promised != ballot || state.storage.accepted != accepted {
            let st = state.to_mut();
            st.storage.promised = ballot;
            st.storage.accepted = accepted;
            self.abandon_lower_round(st, ballot);
            self.save(st, o);
        }
        self.send(from, PeerMsg::Accepted { ballot, height }, o);
    }

    fn on_accepted(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        o: &mut Out<Self>,
    ) {
        let proposing = |p: &Phase| matches!(p, Phase::Proposing { .. });
        if self
            .count_vote(state, from, ballot, height, proposing)
            .is_some()
        {
            self.maybe_commit(state.to_mut(), o);
        }
    }

    /// With a quorum of ACCEPTED, the block is chosen: append, save, announce, answer.
    fn maybe_commit(&self, st: &mut ServerState, o: &mut Out<Self>) {
        let Some(Round {
            ballot,
            phase:
                Phase::Proposing {
                    block,
                    fresh,
                    accepted_by,
                },
            ..
        }) = st.round.clone()
        else {
            return;
        };
        if accepted_by.len() < self.cfg.quorum() {
            return;
        }
        self.commit(st, ballot, block, fresh, o);
    }

    /// The leader's block is chosen: append, save, announce, end the round, answer.
    /// `fresh`: the block was built from the round's own gathering (see [`Self::conclude`]).
    fn commit(
        &self,
        st: &mut ServerState,
        ballot: Ballot,
        block: Arc<Block>,
        fresh: bool,
        o: &mut Out<Self>,
    ) {
        self.append(st, block.clone()).expect(
            "a leader's block extends its tip: a round is dropped when the chain grows, \
             and literal appends never fail",
        );
        self.save(st, o);
        self.broadcast(PeerMsg::Commit { ballot, block }, o);
        st.round = None;
        o.cancel_timer(Timer::Round);
        self.conclude(st, fresh, o);
    }

    // ---------------------------------------------------------------- commit and catch-up

    /// Appends a block (checked in `safe`, blindly in `literal`), then drops its transfers
    /// from the log and forgets an accepted block at or below its height.
    fn append(
        &self,
        st: &mut ServerState,
        block: Arc<Block>,
    ) -> Result<(), crate::chain::ChainError> {
        let height = block.height;
        let chain = Arc::make_mut(&mut st.storage.chain);
        if self.is_literal() {
            chain.append_unchecked(block.clone());
        } else {
            chain.append(block.clone())?;
        }
        st.storage.log.retain(|t| !block.contains(t.id));
        if st
            .storage
            .accepted
            .as_ref()
            .is_some_and(|a| a.block.height <= height)
        {
            st.storage.accepted = None;
        }
        Ok(())
    }

    fn on_commit(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        block: Arc<Block>,
        o: &mut Out<Self>,
    ) {
        if self.is_literal() {
            // The course: "upon receiving a commit message ... appends block B".
            let st = state.to_mut();
            self.append(st, block).expect("literal appends never fail");
            self.save(st, o);
            return self.after_growth(st, o);
        }
        self.on_blocks(state, from, vec![block], false, o);
    }

    /// Appends every block that extends the tip; asks for the gap if one arrives early, and
    /// for the rest if the sender said `more`.
    fn on_blocks(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        blocks: Vec<Arc<Block>>,
        more: bool,
        o: &mut Out<Self>,
    ) {
        let next = state.storage.chain.next_height();
        let useful: Vec<Arc<Block>> = blocks.into_iter().filter(|b| b.height >= next).collect();
        let Some(first) = useful.first() else {
            return;
        };
        if first.height > next {
            return self.send(from, PeerMsg::CatchUpRequest { from: next }, o);
        }
        let mut grown = state.as_ref().clone();
        for block in useful {
            if self.append(&mut grown, block).is_err() {
                break;
            }
        }
        if grown.storage.chain.next_height() > next {
            let st = state.to_mut();
            *st = grown;
            self.save(st, o);
            if more {
                let from_height = st.storage.chain.next_height();
                self.send(from, PeerMsg::CatchUpRequest { from: from_height }, o);
            }
            self.after_growth(st, o);
        }
    }

    /// Sends committed blocks from `from` on, as many as fit one datagram.
    fn send_blocks(&self, state: &ServerState, to: usize, from: Height, o: &mut Out<Self>) {
        let rest = state.storage.chain.blocks_from(from);
        let n = fits_in_one_message(rest);
        if n > 0 {
            let more = n < rest.len();
            let blocks = rest[..n].to_vec();
            self.send(to, PeerMsg::CatchUp { blocks, more }, o);
        }
    }

    /// The chain grew under us: a round for an old height is void; a waiting transfer may
    /// now be covered, or needs a new instance.
    fn after_growth(&self, st: &mut ServerState, o: &mut Out<Self>) {
        let next = st.storage.chain.next_height();
        if st.round.as_ref().is_some_and(|r| r.height < next) {
            st.round = None;
        }
        if st.round.is_none() && st.waiting.is_some() {
            self.conclude(st, false, o);
        }
    }

    /// After a decision: execute the waiting transfer if now covered; otherwise answer
    /// `InsufficientFunds` if this server's own fresh block was decided (everyone it heard
    /// from has contributed), else try another instance.
    fn conclude(&self, st: &mut ServerState, fresh: bool, o: &mut Out<Self>) {
        let Some(w) = st.waiting.clone() else {
            return;
        };
        let balance = self.available(&st.storage);
        if balance >= w.transfer.amount {
            st.waiting = None;
            self.finish(st, w, Outcome::ExecutedAfterConsensus, o);
        } else if fresh {
            st.waiting = None;
            let amount = w.transfer.amount;
            let reason = Rejection::InsufficientFunds { balance, amount };
            self.finish(st, w, Outcome::Rejected { reason }, o);
        } else {
            self.start_election(st, o);
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
            Some(storage) => ServerState {
                storage: storage.clone(),
                restarted_at: Some(storage.chain.tip().height),
                ..ServerState::fresh()
            },
            None => ServerState::fresh(),
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ServerState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let peer = match msg {
            Msg::Api(ApiMsg::Submit { transfer }) => {
                return self.on_submit(state, src, transfer, o)
            }
            Msg::Api(query) => return self.on_query(state, src, query, o),
            Msg::Peer(m) => (self.peer_index(src), m),
        };
        let (Some(from), m) = peer else {
            return; // peer messages from outside the cluster are ignored
        };
        match m {
            PeerMsg::Prepare { ballot, height } => self.on_prepare(state, from, ballot, height, o),
            promise @ PeerMsg::Promise { .. } => self.on_promise(state, from, promise, o),
            PeerMsg::Accept { ballot, block } if !self.is_literal() => {
                self.on_accept(state, from, ballot, block, o)
            }
            PeerMsg::Accepted { ballot, height } => {
                self.on_accepted(state, from, ballot, height, o)
            }
            PeerMsg::LiteralAccept { ballot, height, .. } if self.is_literal() => {
                self.on_literal_accept(state, from, ballot, height, o)
            }
            PeerMsg::LiteralAccepted {
                ballot,
                height,
                pending,
            } => self.on_literal_accepted(state, from, ballot, height, pending, o),
            PeerMsg::Commit { block, .. } => self.on_commit(state, from, block, o),
            PeerMsg::CatchUpRequest { from: height } if !self.is_literal() => {
                self.send_blocks(state, from, height, o)
            }
            PeerMsg::CatchUp { blocks, more } if !self.is_literal() => {
                self.on_blocks(state, from, blocks, more, o)
            }
            _ => {} // a message of the other variant
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ServerState>, timer: &Timer, o: &mut Out<Self>) {
        match timer {
            // The election or round stalled (lost messages, a crashed or competing leader):
            // try again under a higher ballot, unless nothing is waiting any more.
            Timer::Round if state.waiting.is_some() => {
                let st = state.to_mut();
                st.round = None;
                self.start_election(st, o);
            }
            // The servers that have not promised yet are slow or down: go on with a quorum.
            Timer::Gather
                if state
                    .round
                    .as_ref()
                    .is_some_and(|r| matches!(r.phase, Phase::Electing { .. })) =>
            {
                let st = state.to_mut();
                if let Some(Round {
                    phase: Phase::Electing { gathered, .. },
                    ..
                }) = &mut st.round
                {
                    *gathered = true;
                }
                self.maybe_propose(st, o);
            }
            _ => {}
        }
    }

    fn name(&self) -> String {
        format!("server {}", self.cfg.account())
    }
}

#[cfg(test)]
mod tests;
