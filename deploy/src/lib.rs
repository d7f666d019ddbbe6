//! The paxchain bank deployed: the checked server actor over UDP, and what people use to
//! talk to it. Nothing here decides anything about the protocol (that is the `paxchain`
//! crate); this crate moves datagrams, keeps storage on disk and talks to people.
//!
//! - [`runtime`]: runs one server through stateright's UDP runtime.
//! - [`wire`]: the datagram codec.
//! - [`host`]: the actor the runtime runs: the server, its storage, its seals, and the
//!   harness's and monitors' requests.
//! - [`conformance`]: the hooks a server obeys only in conformance mode, for the harness
//!   that replays model traces on real servers.
//! - [`storage`]: the durable copy the runtime's own storage file cannot guarantee.
//! - [`cluster`]: the cluster file; [`keys`]: the accounts' and servers' key files;
//!   [`peers`]: every peer datagram sealed with a MAC of its sender, receiver and bytes.
//! - [`audit`]: a chain checked without trusting a server (links, signatures, replay).
//! - [`udp_client`]: a client of the bank over UDP (used by the prompt, the demo and the tests).
//! - [`pipeline`]: a client with many requests in flight, one per session (the bench's).
//! - [`input`]: transfers and amounts as people write them, in files and at the prompt.
//! - [`prompt`], [`show`]: the terminal front end.
//! - [`demo`]: a local cluster of child processes.
//! - [`torture`]: a local cluster under load and a seeded fault schedule, with its history
//!   checked at the end.
//!
//! The `paxchain` binary (src/main.rs) puts these together as `server`, `prompt`, `demo` and `torture`.

#[cfg(test)]
mod arbitrary;
pub mod audit;
pub mod cluster;
pub mod conformance;
pub mod demo;
pub mod host;
pub mod input;
pub mod keys;
pub mod peers;
pub mod pipeline;
pub mod prompt;
pub mod runtime;
pub mod show;
pub mod storage;
pub mod torture;
pub mod udp_client;
pub mod wire;

pub use udp_client::UdpClient;
