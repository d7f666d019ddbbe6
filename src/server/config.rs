//! The server's fixed configuration and the protocol variant it runs.

use crate::ids::Account;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::ops::Range;
use std::time::Duration;

/// Which protocol the server runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Units every account holds before the first block.
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
}

/// A [`ServerConfig`] that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerConfigError {
    #[error("index {index} is not one of the {servers} servers")]
    IndexOutOfRange { index: usize, servers: usize },
    #[error("{0} servers: there must be 1 to 26")]
    ServerCount(usize),
    #[error("initial balance {initial} times {servers} accounts overflows 64 bits")]
    MoneyOverflow { initial: u64, servers: usize },
    #[error("max_round must be at least 1")]
    NoRounds,
    #[error("the round timeout range is empty")]
    EmptyTimeout,
}

impl ServerConfig {
    /// Checks the fields against each other.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let n = self.servers.len();
        if n == 0 || n > crate::ids::MAX_ACCOUNTS {
            return Err(ServerConfigError::ServerCount(n));
        }
        if self.index >= n {
            return Err(ServerConfigError::IndexOutOfRange {
                index: self.index,
                servers: n,
            });
        }
        if self.initial_balance.checked_mul(n as u64).is_none() {
            return Err(ServerConfigError::MoneyOverflow {
                initial: self.initial_balance,
                servers: n,
            });
        }
        if self.max_round == 0 {
            return Err(ServerConfigError::NoRounds);
        }
        if self.round_timeout.is_empty() {
            return Err(ServerConfigError::EmptyTimeout);
        }
        Ok(())
    }

    /// The account this server serves.
    pub fn account(&self) -> Account {
        Account::of_server(self.index)
    }

    /// Servers needed for a decision: a majority.
    pub fn quorum(&self) -> usize {
        self.servers.len() / 2 + 1
    }
}
