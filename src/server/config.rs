//! The server's fixed configuration and the protocol variant it runs.

use crate::bugs::Bug;
use crate::ids::Account;
use crate::ledger::{check_bank, BankError};
use crate::signature::AccountKeys;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Which protocol the server runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The corrected protocol: passes every property.
    #[default]
    Safe,
    /// The course text, read literally; kept so the checker can show its counterexamples.
    Literal,
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Variant, String> {
        match s {
            "safe" => Ok(Variant::Safe),
            "literal" => Ok(Variant::Literal),
            _ => Err(format!("`{s}`: expected safe or literal")),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Safe => "safe",
            Variant::Literal => "literal",
        })
    }
}

/// A server's fixed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// This server's index; it owns the account with the same index.
    pub index: usize,
    /// Every server's actor id, by index, this one included.
    pub servers: Vec<Id>,
    /// Units every account holds before the first block (whole units of money).
    pub initial_balance: u64,
    /// The protocol to run.
    pub variant: Variant,
    /// The highest ballot round this server starts; past it a waiting transfer is answered
    /// `NoQuorum`. Bounds the model's state space; `u32::MAX` when deployed.
    pub max_round: u32,
    /// How long an election or round may last before a higher ballot is tried (wall time;
    /// the model checker ignores durations).
    pub round_timeout: Range<Duration>,
    /// How long a leader with a quorum of promises waits for the other servers' promises
    /// (and their pending transfers) before proposing.
    pub gather_timeout: Range<Duration>,
    /// The most transfers one fresh block carries; the rest of the pending transfers wait
    /// for the next height. Bounds a block to what one datagram carries (a block of 500
    /// transfers is about 50 kB of JSON); the model checks the split with small bounds. A
    /// PROMISE carries at most this many of the promiser's log, the oldest.
    pub max_block: usize,
    /// How long a server with fast-path transfers staged waits for its other sessions'
    /// requests before it saves and answers what it has (group commit; wall time). A server
    /// whose sessions are all in flushes at once, so a lone client never waits for it.
    pub flush_timeout: Range<Duration>,
    /// How a transfer's signature is verified: the accounts' Ed25519 keys (deployed), or the
    /// model's abstract rule (the model, and a server in conformance mode).
    pub keys: Arc<AccountKeys>,
    /// A seeded bug to run with (the checker's bug zoo). Always `None` without the `bug-zoo`
    /// feature, where [`Bug`] has no values.
    pub bug: Option<Bug>,
}

impl Default for ServerConfig {
    /// Server A of three (ids 0 to 2), 10 units each, `safe`, no ballot bound, blocks of at
    /// most 200 transfers, and the deployment's timers: rounds retried after 400 to 800 ms,
    /// a 50 ms gather wait, a 1 ms flush wait.
    fn default() -> ServerConfig {
        ServerConfig {
            index: 0,
            servers: (0..3).map(Id::from).collect(),
            initial_balance: 10,
            variant: Variant::Safe,
            max_round: u32::MAX,
            round_timeout: Duration::from_millis(400)..Duration::from_millis(800),
            gather_timeout: Duration::from_millis(50)..Duration::from_millis(51),
            max_block: ServerConfig::MAX_BLOCK,
            flush_timeout: ServerConfig::FLUSH_TIMEOUT,
            keys: Arc::default(),
            bug: None,
        }
    }
}

/// A [`ServerConfig`] that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerConfigError {
    #[error("index {index} is not one of the {servers} servers")]
    IndexOutOfRange { index: usize, servers: usize },
    #[error("servers and initial balance: {0}")]
    Bank(#[from] BankError),
    #[error("max_round must be at least 1")]
    NoRounds,
    #[error("a timeout range is empty")]
    EmptyTimeout,
    #[error("max_block must be at least 1 transfer")]
    NoBlockRoom,
    #[error("keys: {keys} account keys for {servers} accounts")]
    KeyCount { keys: usize, servers: usize },
}

impl ServerConfig {
    /// Checks the fields against each other.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let n = self.servers.len();
        check_bank(n, self.initial_balance)?;
        if self.index >= n {
            return Err(ServerConfigError::IndexOutOfRange {
                index: self.index,
                servers: n,
            });
        }
        if self.max_round == 0 {
            return Err(ServerConfigError::NoRounds);
        }
        if self.round_timeout.is_empty()
            || self.gather_timeout.is_empty()
            || self.flush_timeout.is_empty()
        {
            return Err(ServerConfigError::EmptyTimeout);
        }
        if self.max_block == 0 {
            return Err(ServerConfigError::NoBlockRoom);
        }
        if let AccountKeys::Ed25519(keys) = &*self.keys {
            if keys.len() != n {
                let (keys, servers) = (keys.len(), n);
                return Err(ServerConfigError::KeyCount { keys, servers });
            }
        }
        Ok(())
    }

    /// The deployment's bound on a block: 200 transfers, which fit one datagram as JSON with
    /// their signatures (about 250 bytes each).
    pub const MAX_BLOCK: usize = 200;

    /// The deployment's flush wait: 1 ms.
    pub const FLUSH_TIMEOUT: Range<Duration> =
        Duration::from_micros(1_000)..Duration::from_micros(1_001);

    /// The account this server serves.
    pub fn account(&self) -> Account {
        Account::of_server(self.index)
    }

    /// How long a candidate that stepped down for a rival's higher ballot waits before it
    /// tries again (if its client still waits and no block woke it first): long enough for
    /// the rival's round (a gather wait and two exchanges), short against `round_timeout`.
    /// Twice the gather wait to half the round timeout; the round timeout itself if that is
    /// empty.
    pub fn step_down_retry(&self) -> Range<Duration> {
        let range = self.gather_timeout.start * 2..self.round_timeout.start / 2;
        if range.is_empty() {
            self.round_timeout.clone()
        } else {
            range
        }
    }

    /// Servers needed for a decision: a majority.
    pub fn quorum(&self) -> usize {
        if crate::bug!(self, QuorumOfHalf) {
            return self.servers.len() / 2;
        }
        if crate::bug!(self, QuorumOfAThird) {
            return self.servers.len() / 3 + 1;
        }
        self.servers.len() / 2 + 1
    }
}
