//! The `safe` consensus: a modified Paxos, one instance per chain height (spec/protocol.md).
//!
//! 1. **Election** (phase 1). A server short of funds picks a ballot above every ballot it
//!    has promised and sends PREPARE(ballot, height) ([`ServerActor::start_election`]). A
//!    server that has promised nothing higher promises and answers with the block it has
//!    accepted for that height, if any, and its pending transfers (its local log).
//! 2. **Gather.** With promises from a quorum (its own included), the leader waits for the
//!    other servers' promises until the last arrives or the `Gather` timer fires, so the
//!    block holds every reachable server's pending transfers.
//! 3. **Proposal** (phase 2). The leader picks the block: the accepted block with the highest
//!    ballot among the promises if there is one (it may already be chosen), else a fresh
//!    block of every pending transfer it heard of that is not yet on its chain. It accepts the
//!    block itself and sends ACCEPT.
//! 4. **Acceptance.** A server accepts a block for the height right after its tip under a
//!    ballot no lower than its promise, and answers ACCEPTED (after the step's save).
//! 5. **Commit.** With ACCEPTED from a quorum the block is chosen: the leader appends it,
//!    drops its transfers from its log and sends COMMIT; then it answers its client
//!    ([`ServerActor::conclude`]).
//!
//! Servers that fall behind (lost COMMITs, a crash) learn blocks by height: any message about
//! a height above their tip makes them send CATCH-UP-REQUEST, any message about a height
//! below the sender's tip gets a CATCH-UP reply with the missing blocks. A restarted server
//! resumes from its storage and catches up the same way, at the first message it gets.
//!
//! A PREPARE or ACCEPT from an older round than the receiver's promise is answered
//! OUTRANKED with that promise, and blocks come with a ballot (the COMMIT's, the CATCH-UP
//! sender's promise): a server that was away or cut off learns at once how far the ballots
//! have gone, and its next election starts above them (spec/protocol.md, "Fairness, and
//! catching up with the ballots").

use super::{electing, Consensus, Outbox, Phase, Round, ServerActor, ServerState, Voters};
use crate::chain::{Block, Chain};
use crate::ids::{Ballot, Height};
use crate::ledger::Transfer;
use crate::msg::{blocks_message, AcceptedBlock, PeerMsg, Timer};
use std::borrow::Cow;
use std::sync::Arc;

/// The corrected protocol.
pub(super) struct Safe;

impl Consensus for Safe {
    /// The candidate brings its own log (at most a block's worth, the oldest) and the block
    /// it accepted for this height, if any.
    fn electing(&self, a: &ServerActor, st: &ServerState, height: Height) -> Phase {
        let own_accepted = (st.storage.accepted.clone()).filter(|acc| acc.block.height == height);
        electing(
            st.storage.log.oldest(a.cfg.max_block),
            own_accepted,
            a.cfg.index,
        )
    }

    fn on_peer(
        &self,
        a: &ServerActor,
        state: &mut Cow<ServerState>,
        from: usize,
        msg: PeerMsg,
        fx: &mut Outbox,
    ) {
        match msg {
            PeerMsg::Prepare { ballot, height } => a.on_prepare(state, from, ballot, height, fx),
            // Phase 1b is the shared election's (`ServerActor::on_peer`).
            PeerMsg::Promise { .. } => {}
            PeerMsg::Accept { ballot, block } => a.on_accept(state, from, ballot, block, fx),
            PeerMsg::Accepted { ballot, height } => a.on_accepted(state, from, ballot, height, fx),
            PeerMsg::Outranked { promised } => {
                // Checked before `to_mut`: news that changes nothing leaves the state
                // borrowed, so the checker sees no new state.
                if promised > state.storage.promised {
                    a.learn_ballot(state.to_mut(), promised, fx);
                }
            }
            PeerMsg::Commit { ballot, block } => {
                let news = Blocks {
                    blocks: vec![block],
                    more: false,
                    ballot,
                };
                a.on_blocks(state, from, news, fx)
            }
            PeerMsg::CatchUpRequest { from: height } => a.send_blocks(state, from, height, fx),
            PeerMsg::CatchUp {
                blocks,
                more,
                promised,
            } => {
                let news = Blocks {
                    blocks,
                    more,
                    ballot: promised,
                };
                a.on_blocks(state, from, news, fx)
            }
            // The literal variant's phase 2 never reaches a safe server.
            PeerMsg::LiteralAccept { .. } | PeerMsg::LiteralAccepted { .. } => {}
        }
    }

    fn maybe_propose(&self, a: &ServerActor, st: &mut ServerState, fx: &mut Outbox) {
        a.propose_when_gathered(st, fx);
    }

    /// The servers that have not promised yet are slow or down: go on with a quorum.
    fn on_gather(&self, a: &ServerActor, state: &mut Cow<ServerState>, fx: &mut Outbox) {
        let electing = |r: &Round| matches!(r.phase, Phase::Electing { .. });
        if !state.round.as_ref().is_some_and(electing) {
            return;
        }
        let st = state.to_mut();
        if let Some(Round {
            phase: Phase::Electing { gathered, .. },
            ..
        }) = &mut st.round
        {
            *gathered = true;
        }
        a.propose_when_gathered(st, fx);
    }
}

impl ServerActor {
    fn on_prepare(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        fx: &mut Outbox,
    ) {
        let next = state.storage.chain.next_height();
        if height < next {
            // The candidate is behind: it cannot lead this height; give it the blocks.
            return self.send_blocks(state, from, height, fx);
        }
        if !self.promise(state, ballot, fx) {
            return self.refuse(state, from, ballot, fx);
        }
        let accepted = (state.storage.accepted.as_ref())
            .filter(|acc| acc.block.height == height)
            .cloned();
        // At most a block's worth of the log, the oldest: a promise fits one datagram
        // however long the log has grown, and the rest goes to a later block.
        let (pending, more) = state.storage.log.oldest(self.cfg.max_block);
        let promise = PeerMsg::Promise {
            ballot,
            height,
            accepted,
            pending: Arc::new(pending),
            more,
        };
        self.send(from, promise, fx);
        if height > next {
            self.send(from, PeerMsg::CatchUpRequest { from: next }, fx);
        }
    }

    /// With a quorum of promises, gathered, moves to phase 2.
    fn propose_when_gathered(&self, st: &mut ServerState, fx: &mut Outbox) {
        let Some(Round {
            ballot,
            height,
            phase:
                Phase::Electing {
                    promised_by,
                    pending,
                    partial,
                    highest,
                    gathered,
                },
        }) = self.round_with_votes(st, self.cfg.quorum())
        else {
            return;
        };
        // A quorum is enough for safety, but the block should hold every reachable server's
        // pending transfers: wait for the others until the `Gather` timer fires.
        if promised_by.len() < self.n() && !gathered {
            return fx.set_timer(Timer::Gather, self.cfg.gather_timeout.clone());
        }
        fx.cancel_timer(Timer::Gather);
        // 1. A block some promiser accepted may already be chosen: propose it unchanged.
        // 2. Otherwise build a fresh block of every pending transfer heard of that is not
        //    already on the chain (a lagging promiser may still hold committed ones).
        let highest = highest.filter(|_| !crate::bug!(self.cfg, IgnoreAcceptedInPromises));
        let (block, fresh) = match highest {
            Some(acc) => (acc.block, false),
            None => {
                let chain = &st.storage.chain;
                let new = |t: &&Transfer| {
                    !chain.contains(t.id) || crate::bug!(self.cfg, ReproposeCommitted)
                };
                let logs: Vec<Vec<Transfer>> = (pending.values())
                    .map(|log| log.iter().filter(new).cloned().collect())
                    .collect();
                // 2a. A block carries at most `max_block`; the rest wait for the next height,
                //     and a block that left some out (or was built from a promise that left
                //     some out) is not the final word on a balance.
                let (transfers, all) = bounded(logs, self.cfg.max_block);
                let whole = all && !partial;
                if transfers.is_empty() {
                    // 3. Nobody has anything new: no block, and the answer is final.
                    st.round = None;
                    fx.cancel_timer(Timer::Round);
                    return self.conclude(st, true, fx);
                }
                let block = Block::new(height, ballot, chain.tip().hash, transfers);
                (Arc::new(block), whole)
            }
        };
        st.storage.accepted = Some(AcceptedBlock {
            ballot,
            block: block.clone(),
        });
        st.round = Some(Round {
            ballot,
            height,
            phase: Phase::Proposing {
                block: block.clone(),
                fresh,
                accepted_by: Voters::only(self.cfg.index),
            },
        });
        self.broadcast(PeerMsg::Accept { ballot, block }, fx);
        self.maybe_commit(st, fx);
    }

    fn on_accept(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        block: Arc<Block>,
        fx: &mut Outbox,
    ) {
        let next = state.storage.chain.next_height();
        let height = block.height;
        if height < next {
            return self.send_blocks(state, from, height, fx);
        }
        let promised = state.storage.promised;
        if self.outranked(ballot, promised) && !crate::bug!(self.cfg, AcceptIgnoresPromise) {
            return self.refuse(state, from, ballot, fx);
        }
        if height > next {
            return self.send(from, PeerMsg::CatchUpRequest { from: next }, fx);
        }
        if block.prev != state.storage.chain.tip().hash || !block.hash_is_valid() {
            return;
        }
        let accepted = Some(AcceptedBlock { ballot, block });
        if state.storage.promised != ballot || state.storage.accepted != accepted {
            let st = state.to_mut();
            st.storage.promised = ballot;
            st.storage.accepted = accepted;
            self.step_down(st, ballot, fx);
        }
        self.send(from, PeerMsg::Accepted { ballot, height }, fx);
    }

    fn on_accepted(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        fx: &mut Outbox,
    ) {
        let proposing = |p: &Phase| matches!(p, Phase::Proposing { .. });
        if self
            .count_vote(state, from, ballot, height, proposing)
            .is_some()
        {
            self.maybe_commit(state.to_mut(), fx);
        }
    }

    /// With a quorum of ACCEPTED, the block is chosen: append, announce, answer.
    fn maybe_commit(&self, st: &mut ServerState, fx: &mut Outbox) {
        let Some(Round {
            ballot,
            phase: Phase::Proposing { block, fresh, .. },
            ..
        }) = self.round_with_votes(st, self.cfg.quorum())
        else {
            return;
        };
        Arc::make_mut(&mut st.storage.chain)
            .append(block.clone())
            .expect("a leader's block extends its tip: a round is dropped when the chain grows");
        self.absorb(st, &block);
        self.announce(st, ballot, block, fresh, fx);
    }

    /// A PREPARE or ACCEPT below the promise, from an older round: tell the candidate what
    /// was promised, so its next ballot is above it (a silent refusal taught it one ballot
    /// per round timeout). Within one round the refusal stays silent: the candidate that won
    /// sent its own PREPARE to the loser too, so an OUTRANKED would tell it nothing new.
    fn refuse(&self, state: &ServerState, to: usize, ballot: Ballot, fx: &mut Outbox) {
        let promised = state.storage.promised;
        if ballot.round < promised.round {
            self.send(to, PeerMsg::Outranked { promised }, fx);
        }
    }

    /// Appends every block that extends the tip; asks for the gap if one arrives early, and
    /// for the rest if the sender said `more`. When the chain grows, the ballot that came
    /// with the blocks is learned too.
    fn on_blocks(&self, state: &mut Cow<ServerState>, from: usize, news: Blocks, fx: &mut Outbox) {
        let Blocks {
            blocks,
            more,
            ballot,
        } = news;
        let next = state.storage.chain.next_height();
        let useful: Vec<Arc<Block>> = blocks.into_iter().filter(|b| b.height >= next).collect();
        let Some(first) = useful.first() else {
            return;
        };
        if first.height > next {
            return self.send(from, PeerMsg::CatchUpRequest { from: next }, fx);
        }
        // 1. Count the blocks that extend the tip one after another, before touching the
        //    state: a deployed server's state is owned and changed in place, so its chain is
        //    never copied; the checker's stays borrowed when nothing appends.
        let mut tip = state.storage.chain.tip();
        let fitting = useful
            .iter()
            .take_while(|b| {
                let fits = Chain::follows(tip, b);
                tip = b;
                fits
            })
            .count();
        if fitting == 0 {
            return;
        }
        // 2. Append them, each absorbed into the log and the accepted block.
        let st = state.to_mut();
        for block in &useful[..fitting] {
            (Arc::make_mut(&mut st.storage.chain).append(block.clone()))
                .expect("checked to follow the tip");
            let log = crate::bug!(self.cfg, CatchUpKeepsLog).then(|| st.storage.log.clone());
            self.absorb(st, block);
            if let Some(log) = log {
                st.storage.log = log;
            }
        }
        self.learn_ballot(st, ballot, fx);
        if more {
            let from_height = st.storage.chain.next_height();
            self.send(from, PeerMsg::CatchUpRequest { from: from_height }, fx);
        }
        self.after_growth(st, fx);
    }

    /// Sends committed blocks from `from` on, as many as fit one datagram.
    fn send_blocks(&self, state: &ServerState, to: usize, from: Height, fx: &mut Outbox) {
        let (blocks, more) = blocks_message(&state.storage.chain, from);
        if !blocks.is_empty() {
            let promised = state.storage.promised;
            let catch_up = PeerMsg::CatchUp {
                blocks,
                more,
                promised,
            };
            self.send(to, catch_up, fx);
        }
    }
}

/// Committed blocks as a COMMIT or a CATCH-UP brings them, with the ballot they bring: the
/// COMMIT's, or the CATCH-UP sender's promise.
struct Blocks {
    blocks: Vec<Arc<Block>>,
    more: bool,
    ballot: Ballot,
}

/// The block's transfers, in id order, from each server's pending transfers in its log's
/// order; and whether that is all of them. Past `max`, each log's oldest are taken, one log
/// after another in turn: a block takes a prefix of every server's log, in the order it
/// executed them (so the server drops them from the front of its log), and favours no account.
fn bounded(logs: Vec<Vec<Transfer>>, max: usize) -> (Vec<Transfer>, bool) {
    let total: usize = logs.iter().map(Vec::len).sum();
    let mut taken = Vec::with_capacity(total.min(max));
    for turn in 0.. {
        let before = taken.len();
        for log in &logs {
            if taken.len() < max {
                taken.extend(log.get(turn).cloned());
            }
        }
        if taken.len() == max || taken.len() == before {
            break;
        }
    }
    taken.sort();
    let all = taken.len() == total;
    (taken, all)
}

#[cfg(test)]
mod tests {
    use super::bounded;
    use crate::ids::{Account, TxId};
    use crate::ledger::Transfer;

    fn t(client: u8, seq: u32) -> Transfer {
        Transfer::model_signed(
            TxId::new(Account(client), seq),
            Account(client),
            Account((client + 1) % 3),
            1,
        )
    }

    #[test]
    fn a_bound_takes_each_logs_oldest_in_turn_and_says_it_left_some_out() {
        let logs = || {
            vec![
                vec![t(0, 1), t(0, 2), t(0, 3)],
                vec![t(1, 7)],
                vec![t(2, 4), t(2, 5)],
            ]
        };
        let all = vec![t(0, 1), t(0, 2), t(0, 3), t(1, 7), t(2, 4), t(2, 5)];
        assert_eq!(bounded(logs(), 6), (all.clone(), true));
        assert_eq!(bounded(logs(), 9), (all.clone(), true));
        assert_eq!(bounded(logs(), 1), (vec![t(0, 1)], false));
        assert_eq!(bounded(logs(), 3), (vec![t(0, 1), t(1, 7), t(2, 4)], false));
        // Oldest of each log first: A's third waits while B and C have had their turns.
        let five = vec![t(0, 1), t(0, 2), t(1, 7), t(2, 4), t(2, 5)];
        assert_eq!(bounded(logs(), 5), (five, false));
        // A log's order, not its ids', decides which are oldest: session 2 executed first.
        let s = |session, seq| Transfer {
            id: TxId {
                session: crate::ids::Session(session),
                ..t(0, seq).id
            },
            ..t(0, seq)
        };
        let interleaved = vec![vec![s(2, 1), s(1, 1), s(2, 2)]];
        assert_eq!(bounded(interleaved, 2), (vec![s(1, 1), s(2, 1)], false));
    }
}
