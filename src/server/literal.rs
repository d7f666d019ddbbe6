//! Phase 2 of the `literal` variant: the course's ⟨ACCEPT, n, TX(S)⟩, ⟨ACCEPTED, n, TX(R)⟩
//! and a block built from f ACCEPTED replies. Kept so the checker can show what goes wrong
//! (spec/deviations.md); the `safe` variant never runs this code.

use super::{Phase, Round, ServerActor, ServerState};
use crate::chain::Block;
use crate::ids::{Ballot, Height};
use crate::ledger::Transfer;
use crate::msg::PeerMsg;
use stateright::actor::Out;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

impl ServerActor {
    pub(super) fn on_literal_accept(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        o: &mut Out<Self>,
    ) {
        if !self.promise(state, ballot, o) {
            return;
        }
        let pending = state.storage.log.clone();
        let reply = PeerMsg::LiteralAccepted {
            ballot,
            height,
            pending,
        };
        self.send(from, reply, o);
    }

    pub(super) fn on_literal_accepted(
        &self,
        state: &mut Cow<ServerState>,
        from: usize,
        ballot: Ballot,
        height: Height,
        pending: Vec<Transfer>,
        o: &mut Out<Self>,
    ) {
        let collecting = |p: &Phase| matches!(p, Phase::Collecting { .. });
        let Some(round) = self.count_vote(state, from, ballot, height, collecting) else {
            return;
        };
        if let Phase::Collecting { pending: all, .. } = &mut round.phase {
            all.extend(pending);
        }
        self.maybe_commit_literal(state.to_mut(), o);
    }

    /// The course: "once the leader receives f accepted messages ... constructs block B".
    pub(super) fn maybe_commit_literal(&self, st: &mut ServerState, o: &mut Out<Self>) {
        let Some(Round {
            ballot,
            phase:
                Phase::Collecting {
                    accepted_by,
                    pending,
                },
            ..
        }) = st.round.clone()
        else {
            return;
        };
        if accepted_by.len() < (self.n() - 1) / 2 {
            return;
        }
        let mut transfers: BTreeSet<Transfer> = st.storage.log.iter().cloned().collect();
        transfers.extend(pending);
        let chain = &st.storage.chain;
        let block = Arc::new(Block::new(
            chain.next_height(),
            ballot,
            chain.tip().hash,
            transfers.into_iter().collect(),
        ));
        self.commit(st, ballot, block, true, o);
    }
}
