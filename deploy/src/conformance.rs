//! Conformance mode: the hooks that let a harness replay a model trace on a real server.
//!
//! The conformance harness (harness/) plays a trace of the model checker on real
//! `paxchain server` processes and compares, after every step, each server's state with the
//! model's. Two things it needs cannot come from the protocol's own messages:
//!
//! 1. **Timers on cue.** The model fires a timer at a chosen step. The harness starts the
//!    servers with timeouts long enough never to fire, and sends
//!    [`HarnessRequest::FireTimer`] when the trace fires one.
//! 2. **The state.** [`HarnessRequest::ReportState`] asks for the server's whole
//!    [`ServerState`], with how many datagrams that can change it (protocol messages and
//!    fired timers) the server has handled since it started, and how many protocol
//!    datagrams it has sent. The harness counts what it sent and what it received, and
//!    waits until they agree: on a loaded machine a datagram sent just before another can
//!    still be on its way when the other arrives (loopback keeps order only within one
//!    CPU's queue, and a thread may move to another CPU between two sends).
//!
//! Both are test hooks, so a server obeys them only in [`Mode::Conformance`]
//! (`paxchain server --conformance`). Otherwise it answers [`HarnessReply::Refused`] and
//! changes nothing: a deployed bank cannot be made to time out early or leak its state.
//!
//! The server's host (crate::host) obeys them.

use paxchain::{ServerState, Timer};
use serde::{Deserialize, Serialize};

/// What the harness asks of a server.
#[derive(Clone, Debug, PartialEq, Hash, Eq, Serialize, Deserialize)]
pub enum HarnessRequest {
    /// Fire `timer` now, as if it had expired.
    FireTimer { timer: Timer },
    /// Answer with the whole state.
    ReportState,
}

/// A server's answer to a [`HarnessRequest`].
#[derive(Clone, Debug, PartialEq, Hash, Eq, Serialize, Deserialize)]
pub enum HarnessReply {
    /// The state after every datagram received before the request; how many protocol
    /// datagrams and fired timers the server has handled since it started, and how many
    /// protocol datagrams it has sent.
    State {
        state: Box<ServerState>,
        handled: u64,
        sent: u64,
    },
    /// The server is not in conformance mode.
    Refused { reason: String },
}

/// Whether a server obeys the harness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// A bank server: harness requests are refused.
    #[default]
    Normal,
    /// `--conformance`: harness requests are obeyed. For replaying traces only.
    Conformance,
}

/// Why a server refuses a harness request.
pub const REFUSED: &str = "harness requests are obeyed only by a server started with \
                           `paxchain server --conformance`";
