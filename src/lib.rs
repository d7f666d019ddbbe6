//! paxchain: a bank whose servers keep a replicated blockchain of transfers, agreed on by a
//! modified Paxos written once as stateright actors.
//!
//! - [`ids`], [`ledger`], [`chain`]: the nouns, balance arithmetic and the hash-linked chain.
//! - [`msg`]: the client API and the peer protocol.
//! - [`server`], [`client`]: the two actors; [`node`] wraps them for the model checker.
//!
//! The model (package `paxchain-model`) checks these actors exhaustively; [`deploy`] runs the
//! same [`server::ServerActor`] over UDP.

pub mod chain;
pub mod client;
pub mod deploy;
pub mod ids;
pub mod ledger;
pub mod msg;
pub mod node;
pub mod server;

pub use chain::{Block, Chain};
pub use client::{ClientActor, ClientConfig, ClientState};
pub use ids::{Account, Ballot, Height, TxId};
pub use ledger::{Rejection, Transfer};
pub use msg::{ApiMsg, Msg, Outcome, PeerMsg};
pub use node::{Node, NodeState, Timer};
pub use server::{ServerActor, ServerConfig, ServerState, Storage, Variant};
