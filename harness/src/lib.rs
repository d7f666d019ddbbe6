//! The implementation test harness: evidence that the running `paxchain` servers behave
//! as the checked model does.
//!
//! - [`replay`]: plays a model trace on real server processes, step by step, through a
//!   network the harness owns, and compares every server's state and every datagram in
//!   flight with the model's after each step (spec/conformance.md).
//! - [`relay`]: that network: the sockets, and the datagrams held until the trace moves them.
//! - [`compare`]: what "the same" means for a server's state and for the network.
//! - [`traces`]: what is replayed (the checker's JSON, or random walks) and the verdict.
//! - [`coverage`]: what replayed random walks of the model covered.
//! - [`fuzz`]: every decoder of outside bytes fed mutated inputs: a value or an error, never
//!   a panic or a hang.
//!
//! The harness writes no protocol logic: the model decides what happens, the unchanged
//! `paxchain` binary does it, and the harness moves opaque datagrams between them.

pub mod compare;
pub mod coverage;
pub mod fuzz;
pub mod relay;
pub mod replay;
pub mod traces;

pub use compare::Difference;
pub use replay::{Replay, Run, Session};
pub use traces::{Trace, Verdict};

/// Why the harness itself could not run (as opposed to a difference it found).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("server {server} {why}")]
    Server { server: String, why: String },
    /// The process ended while it was starting: its port was taken, or it refused what is
    /// on its disk. `last_words` is the last line of its log.
    #[error("server {server} exited at start ({status}): {last_words}")]
    Exited {
        server: String,
        status: std::process::ExitStatus,
        last_words: String,
    },
    #[error("unexpected datagram: {0}")]
    Stray(String),
    #[error("step {step} ({what}) is not a step of the model from the state before it")]
    NotAStep { step: usize, what: String },
    #[error("the configuration: {0}")]
    Config(String),
}
