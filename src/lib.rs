//! paxchain: a bank whose servers keep a replicated blockchain of transfers, agreed on by a
//! modified Paxos written once as a stateright actor.
//!
//! This crate is the protocol and nothing else: no sockets, clocks or files.
//! - [`ids`], [`ledger`], [`chain`], [`log`]: the nouns, balance arithmetic, the hash-linked
//!   chain and the log of transfers executed but not yet in it.
//! - [`msg`]: the client API, the peer protocol and the timers.
//! - [`server`]: the server actor, its configuration and its two variants.
//! - [`bugs`]: the bug zoo, compiled in only with the `bug-zoo` feature (the checker's).
//!
//! The model (package `paxchain-model`) checks [`ServerActor`] exhaustively; the deployment
//! (package `paxchain-deploy`) runs the same actor over UDP. spec/architecture.md maps the parts.

pub mod bugs;
pub mod chain;
pub mod ids;
pub mod ledger;
pub mod log;
pub mod msg;
pub mod server;
pub mod signature;

pub use chain::{Block, Chain};
pub use ids::{Account, Ballot, Height, Session, TxId};
pub use ledger::{Rejection, Transfer};
pub use log::Log;
pub use msg::{ApiMsg, Msg, Outcome, PeerMsg, Seal, Timer};
pub use server::{ServerActor, ServerConfig, ServerState, Storage, Variant};
pub use signature::{AccountKeys, Signature};
