//! Which messages a server ignores for good: the model drops them from its network.
//!
//! A message this server will ignore in its current state *and in every state it can reach*
//! only multiplies the model's states: its delivery is always a no-op. The reasons are
//! monotone facts: the chain only grows (a crash keeps it), `promised` only rises (saved),
//! a round's ballot is never led again once left (a new round takes `promised.round + 1`),
//! a round's voters only grow, and each session's last outcome's sequence number only rises.
//! spec/properties.md ("Reductions") has the argument; model/tests/reductions.rs checks that
//! each message judged ignored is a no-op when delivered, in every reachable state.

use super::{Phase, ServerActor, ServerState, Variant};
use crate::ids::{Ballot, Height};
use crate::msg::{ApiMsg, Msg, PeerMsg};
use stateright::actor::Id;

/// An election in progress, which may yet move on to its proposal.
fn electing(p: &Phase) -> bool {
    matches!(p, Phase::Electing { .. })
}

impl ServerActor {
    /// Whether delivering `msg` from `src` changes nothing and sends nothing, now and in
    /// every state reachable from `st`.
    pub fn ignores_forever(&self, st: &ServerState, src: Id, msg: &Msg) -> bool {
        match msg {
            // A copy older than its session's last answer is dropped in silence (client_api
            // step 2).
            Msg::Api(ApiMsg::Submit { transfer }) => {
                self.refusal(transfer).is_none()
                    && (st.storage.last_outcomes.get(self.outcome_key(transfer.id)))
                        .is_some_and(|last| transfer.id.seq < last.transfer.id.seq)
            }
            Msg::Api(_) => false,
            Msg::Peer(m) => match self.peer_index(src) {
                Some(from) => self.ignores_peer_forever(st, from, m),
                None => true,
            },
            // Who may read it is the seal's to say, and a seal never changes.
            Msg::Relayed { seal, peer } => match self.opens(*seal) {
                Some(from) => self.ignores_peer_forever(st, from, peer),
                None => true,
            },
        }
    }

    /// [`ServerActor::ignores_forever`] for a peer message from server `from`.
    fn ignores_peer_forever(&self, st: &ServerState, from: usize, m: &PeerMsg) -> bool {
        let next = st.storage.chain.next_height();
        let safe = self.cfg.variant == Variant::Safe;
        match m {
            PeerMsg::Promise { ballot, height, .. } => {
                !self.may_count(st, from, *ballot, *height, electing, |_| false)
            }
            PeerMsg::Accepted { ballot, height } => {
                let proposing = |p: &Phase| matches!(p, Phase::Proposing { .. });
                !self.may_count(st, from, *ballot, *height, proposing, electing)
            }
            PeerMsg::LiteralAccepted { ballot, height, .. } => {
                let collecting = |p: &Phase| matches!(p, Phase::Collecting { .. });
                !self.may_count(st, from, *ballot, *height, collecting, electing)
            }
            // A promise only rises; `literal` never reads an OUTRANKED.
            PeerMsg::Outranked { promised } => !safe || *promised <= st.storage.promised,
            // `safe` appends only blocks from its tip on; `literal` appends any COMMIT.
            PeerMsg::Commit { block, .. } => safe && block.height < next,
            PeerMsg::CatchUp { blocks, .. } => !safe || blocks.iter().all(|b| b.height < next),
            _ => false,
        }
    }

    /// Whether a vote from `from` for `ballot` at `height` may still be counted: by the
    /// round in progress, now (`in_phase`, and not counted yet) or once it moves on from a
    /// phase before (`before`: an election that may still propose counts ACCEPTED replies
    /// then), or by a round this server may yet start (one above its promise). The judgement
    /// is about this state alone, whatever is in flight: the model checks it against every
    /// step the search takes (model/src/premises.rs).
    fn may_count(
        &self,
        st: &ServerState,
        from: usize,
        ballot: Ballot,
        height: Height,
        in_phase: fn(&Phase) -> bool,
        before: fn(&Phase) -> bool,
    ) -> bool {
        let counting = st.round.as_ref().is_some_and(|r| {
            r.ballot == ballot
                && r.height == height
                && (before(&r.phase) || in_phase(&r.phase) && !r.phase.voters().contains(from))
        });
        counting || ballot > st.storage.promised
    }
}
