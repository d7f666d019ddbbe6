//! The `literal` consensus: the course text read literally (spec/deviations.md), kept so the
//! checker can show where it breaks. The `safe` variant never runs this code.
//!
//! 1. **Election.** "Follow the Paxos leader election protocol": PREPARE and PROMISE, as in
//!    `safe`, but the promise carries nothing and a stale candidate gets no blocks.
//! 2. **Phase 2.** With a quorum of promises the leader multicasts ⟨ACCEPT, n, TX(S)⟩, its
//!    own pending transfers; a server that has not promised a higher ballot answers
//!    ⟨ACCEPTED, n, TX(R)⟩ with its own.
//! 3. **Commit.** "Once the leader receives f accepted messages": it builds a block of its own
//!    and the replies' transfers at its next height, appends it and sends COMMIT.
//! 4. **Append.** "Upon receiving a commit message ... each node appends block B": as it
//!    comes, without checking height, link or repeats. There is no catch-up.

use super::{electing, Consensus, Outbox, Phase, Round, ServerActor, ServerState, Voters};
use crate::chain::Block;
use crate::ids::{Ballot, Height};
use crate::ledger::Transfer;
use crate::msg::PeerMsg;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The course's protocol, as written.
pub(super) struct Literal;

impl Consensus for Literal {
    /// The course's election gathers nothing.
    fn electing(&self, a: &ServerActor, _st: &ServerState, _height: Height) -> Phase {
        electing((Vec::new(), false), None, a.cfg.index)
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
            PeerMsg::Prepare { ballot, height } => {
                if a.promise(state, ballot, fx) {
                    let promise = PeerMsg::Promise {
                        ballot,
                        height,
                        accepted: None,
                        pending: Arc::default(),
                        more: false,
                    };
                    a.send(from, promise, fx);
                }
            }
            // Phase 1b is the shared election's (`ServerActor::on_peer`).
            PeerMsg::Promise { .. } => {}
            PeerMsg::LiteralAccept { ballot, height, .. } => {
                if a.promise(state, ballot, fx) {
                    let pending = Arc::new(state.storage.log.to_vec());
                    let reply = PeerMsg::LiteralAccepted {
                        ballot,
                        height,
                        pending,
                    };
                    a.send(from, reply, fx);
                }
            }
            PeerMsg::LiteralAccepted {
                ballot,
                height,
                pending,
            } => a.on_literal_accepted(state, from, ballot, height, pending, fx),
            PeerMsg::Commit { block, .. } => {
                let st = state.to_mut();
                Arc::make_mut(&mut st.storage.chain).append_unchecked(block.clone());
                a.absorb(st, &block);
                a.after_growth(st, fx);
            }
            // The safe variant's phase 2 and catch-up never reach a literal server.
            PeerMsg::Accept { .. }
            | PeerMsg::Accepted { .. }
            | PeerMsg::Outranked { .. }
            | PeerMsg::CatchUpRequest { .. }
            | PeerMsg::CatchUp { .. } => {}
        }
    }

    /// No wait beyond a quorum: straight to phase 2 with the leader's own transfers.
    fn maybe_propose(&self, a: &ServerActor, st: &mut ServerState, fx: &mut Outbox) {
        let Some(Round {
            ballot,
            height,
            phase: Phase::Electing { .. },
        }) = a.round_with_votes(st, a.cfg.quorum())
        else {
            return;
        };
        fx.cancel_timer(crate::msg::Timer::Gather);
        let round = st.round.as_mut().expect("matched above");
        round.phase = Phase::Collecting {
            accepted_by: Voters::default(),
            pending: BTreeSet::new(),
        };
        let pending = Arc::new(st.storage.log.to_vec());
        a.broadcast(
            PeerMsg::LiteralAccept {
                ballot,
                height,
                pending,
            },
            fx,
        );
        a.maybe_commit_literal(st, fx);
    }

    /// The course has no wait for promises beyond a quorum, so this timer is never armed.
    fn on_gather(&self, _: &ServerActor, _: &mut Cow<ServerState>, _: &mut Outbox) {}
}

impl ServerActor {
    fn on_literal_accepted(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        pending: Arc<Vec<Transfer>>,
        fx: &mut Outbox,
    ) {
        let collecting = |p: &Phase| matches!(p, Phase::Collecting { .. });
        let Some(round) = self.count_vote(state, from, ballot, height, collecting) else {
            return;
        };
        if let Phase::Collecting { pending: all, .. } = &mut round.phase {
            all.extend(pending.iter().cloned());
        }
        self.maybe_commit_literal(state.to_mut(), fx);
    }

    /// The course: "once the leader receives f accepted messages ... constructs block B".
    fn maybe_commit_literal(&self, st: &mut ServerState, fx: &mut Outbox) {
        // f of 2f + 1: the leader's own acceptance is not counted among them.
        let Some(Round {
            ballot,
            phase: Phase::Collecting { pending, .. },
            ..
        }) = self.round_with_votes(st, (self.n() - 1) / 2)
        else {
            return;
        };
        let mut transfers: BTreeSet<Transfer> = st.storage.log.iter().cloned().collect();
        transfers.extend(pending);
        let chain = &st.storage.chain;
        let block = Arc::new(Block::new(
            chain.next_height(),
            ballot,
            chain.tip().hash,
            transfers.into_iter().collect(),
        ));
        Arc::make_mut(&mut st.storage.chain).append_unchecked(block.clone());
        self.absorb(st, &block);
        self.announce(st, ballot, block, true, fx);
    }
}
