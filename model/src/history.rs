//! What the properties need to remember about the past: the auxiliary history.
//!
//! stateright only lets a model record messages, so the history is built from what servers
//! *send*: outcomes to clients (what was acknowledged), ACCEPT/COMMIT messages (who led
//! which ballot with which block) and the attacker's relays. Crashes cannot erase it: it
//! lives outside the actors.

use paxchain::chain::Digest;
use paxchain::{ApiMsg, Ballot, Height, Msg, Outcome, PeerMsg, TxId};
use stateright::actor::{Envelope, Id};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::config::ModelConfig;

/// The auxiliary history kept beside the actors' states. Its maps sit behind `Arc`s: every
/// successor state copies the history, and most steps leave it as it was.
/// Its `Debug` for the explorer (`{:#?}`) is in `crate::readable`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct History {
    /// Transfers a server acknowledged as executed, and whether some acknowledgement of it
    /// said after consensus.
    pub acknowledged: Arc<BTreeMap<TxId, bool>>,
    /// Every block proposed (ACCEPT) or committed (COMMIT): its ballot, height, the server
    /// that sent it, and the block's hash.
    pub proposals: Arc<BTreeSet<Proposal>>,
    /// Whether the network's attacker has relayed a peer message (model/src/attacker.rs).
    pub relayed: bool,
}

/// One block sent under one ballot by one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proposal {
    pub ballot: Ballot,
    pub height: Height,
    pub leader: Id,
    pub block: Digest,
}

/// Records acknowledgements and proposals as they are sent.
pub fn record_msg_out(
    _cfg: &ModelConfig,
    history: &History,
    env: Envelope<&Msg>,
) -> Option<History> {
    match env.msg {
        Msg::Api(ApiMsg::Outcome { id, outcome }) if outcome.is_executed() => {
            // Whether *some* acknowledgement came after consensus: an order-free record, so
            // that two actors' steps recorded in either order leave one history (the
            // search's sleep sets take such steps as commuting).
            let after_consensus = *outcome == Outcome::ExecutedAfterConsensus;
            if let Some(&was) = history.acknowledged.get(id) {
                if was || !after_consensus {
                    return None;
                }
            }
            let mut h = history.clone();
            Arc::make_mut(&mut h.acknowledged).insert(*id, after_consensus);
            Some(h)
        }
        Msg::Peer(PeerMsg::Accept { ballot, block } | PeerMsg::Commit { ballot, block }) => {
            let p = Proposal {
                ballot: *ballot,
                height: block.height,
                leader: env.src,
                block: block.hash,
            };
            if history.proposals.contains(&p) {
                return None;
            }
            let mut h = history.clone();
            Arc::make_mut(&mut h.proposals).insert(p);
            Some(h)
        }
        Msg::Relayed { .. } if !history.relayed => Some(History {
            relayed: true,
            ..history.clone()
        }),
        _ => None,
    }
}
