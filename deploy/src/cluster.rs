//! The cluster file: which servers exist, where they listen, and the timer settings.
//!
//! ```toml
//! initial_balance = 10      # units every account starts with
//! round_timeout_ms = 400    # an election or round is retried after 1x to 2x this
//! gather_timeout_ms = 50    # a leader with a quorum waits this long for the other servers
//! flush_timeout_us = 1000   # a server with staged transfers waits this long for its other
//!                           # sessions' requests before saving and answering (group commit)
//! client_timeout_ms = 300   # a client resends after this long without an answer
//! client_retries = 10       # resends before a client reports the server unreachable
//! variant = "safe"          # or "literal": the course text, which the checker shows unsafe
//! # max_round = 3           # highest ballot round a server starts (default: no limit)
//! # max_block = 200         # most transfers in one block; the rest go to the next height
//!
//! [[servers]]               # in account order: the first is A, then B, ...
//! account = "A"
//! addr = "127.0.0.1:7001"
//! account_key = "3b6a...e8"  # account A's public key (`paxchain keygen` prints it)
//! server_key = "9f01...4c"   # server A's public key (`paxchain keygen --server`)
//! # bind = "127.0.0.1:7101" # listen here instead, when something relays `addr` to it
//! ```
//!
//! `variant`, `max_round` and `max_block` exist so that a cluster can run exactly a configuration the
//! checker explored (the conformance harness replays model traces on such clusters).

use ed25519_zebra::VerificationKey;
use paxchain::ledger::{check_bank, BankError};
use paxchain::signature::unhex;
use paxchain::{Account, AccountKeys, ServerConfig, Variant};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::net::SocketAddrV4;
use std::path::Path;
use std::time::Duration;

/// One server's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// The account it serves; entries are in account order.
    pub account: Account,
    /// Its UDP address (IPv4: the runtime identifies actors by IPv4 address and port).
    /// Peers and clients send here, and a datagram from here is a datagram from this server.
    pub addr: SocketAddrV4,
    /// Where the server listens, if not at `addr`: a relay then forwards `addr` to it (and
    /// sends this server's datagrams on from `addr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddrV4>,
    /// The account's Ed25519 public key, in hex: every server verifies the account's
    /// transfers against it. A cluster without keys runs only in conformance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_key: Option<String>,
    /// The server's X25519 public key, in hex: its peers derive their MAC keys with it
    /// (crate::peers). A cluster without them runs only in conformance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

impl ServerEntry {
    /// The address the server's socket binds.
    pub fn listen_addr(&self) -> SocketAddrV4 {
        self.bind.unwrap_or(self.addr)
    }
}

/// A whole cluster file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Units every account starts with.
    #[serde(default = "default_initial")]
    pub initial_balance: u64,
    /// Milliseconds before a stalled election or round is retried (randomized up to twice).
    /// A server that stepped down for a rival's ballot retries sooner: twice the gather wait
    /// to half this (`ServerConfig::step_down_retry`).
    #[serde(default = "default_round_ms")]
    pub round_timeout_ms: u64,
    /// Milliseconds a leader with a quorum of promises waits for the other servers' promises.
    #[serde(default = "default_gather_ms")]
    pub gather_timeout_ms: u64,
    /// Microseconds a server with fast-path transfers staged waits for its other client
    /// sessions' requests before it saves and answers them (group commit). A server whose
    /// sessions are all in does not wait.
    #[serde(default = "default_flush_us")]
    pub flush_timeout_us: u64,
    /// Milliseconds a client waits for an answer before resending.
    #[serde(default = "default_client_ms")]
    pub client_timeout_ms: u64,
    /// Resends before a client reports its server unreachable.
    #[serde(default = "default_retries")]
    pub client_retries: u32,
    /// The protocol the servers run: `safe`, or `literal` to demonstrate the course text's
    /// faults.
    #[serde(default)]
    pub variant: Variant,
    /// The highest ballot round a server starts (past it a waiting transfer is answered
    /// "no quorum"); no limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_round: Option<u32>,
    /// The most transfers one block carries (the rest wait for the next height); 500 when
    /// absent, which fits one datagram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block: Option<usize>,
    /// The servers, in account order.
    pub servers: Vec<ServerEntry>,
}

fn default_initial() -> u64 {
    10
}
fn default_round_ms() -> u64 {
    400
}
fn default_gather_ms() -> u64 {
    50
}
fn default_flush_us() -> u64 {
    ServerConfig::FLUSH_TIMEOUT.start.as_micros() as u64
}
fn default_client_ms() -> u64 {
    300
}
fn default_retries() -> u32 {
    10
}

/// A cluster file that cannot run. Each message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("servers and initial_balance: {0}")]
    Bank(#[from] BankError),
    #[error(
        "servers[{index}].account: is {got}, expected {expected} (list servers in account order)"
    )]
    AccountOrder {
        index: usize,
        got: Account,
        expected: Account,
    },
    #[error("servers[{index}].addr: {addr} is also used by servers[{first}]")]
    DuplicateAddr {
        index: usize,
        first: usize,
        addr: SocketAddrV4,
    },
    #[error("{field}: must be at least 1")]
    Zero { field: &'static str },
    #[error("servers[{index}].{field}: {why}")]
    BadKey {
        index: usize,
        field: &'static str,
        why: &'static str,
    },
}

impl Cluster {
    /// `n` servers on consecutive loopback ports from `first_port`.
    pub fn local(n: usize, first_port: u16, initial_balance: u64) -> Cluster {
        Cluster {
            initial_balance,
            round_timeout_ms: default_round_ms(),
            gather_timeout_ms: default_gather_ms(),
            flush_timeout_us: default_flush_us(),
            client_timeout_ms: default_client_ms(),
            client_retries: default_retries(),
            variant: Variant::Safe,
            max_round: None,
            max_block: None,
            servers: (0..n)
                .map(|i| ServerEntry {
                    account: Account::of_server(i),
                    addr: SocketAddrV4::new([127, 0, 0, 1].into(), first_port + i as u16),
                    bind: None,
                    account_key: None,
                    server_key: None,
                })
                .collect(),
        }
    }

    /// Reads and validates a cluster file.
    pub fn load(path: &Path) -> Result<Cluster, ClusterError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Read {
            path: shown.clone(),
            source,
        })?;
        Cluster::parse(&text, &shown)
    }

    /// A cluster file's text, validated; `shown` names it in errors.
    pub fn parse(text: &str, shown: &str) -> Result<Cluster, ClusterError> {
        let cluster: Cluster = toml::from_str(text).map_err(|e| ClusterError::Parse {
            path: shown.to_string(),
            source: Box::new(e),
        })?;
        cluster.validate()?;
        Ok(cluster)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a cluster is plain data")
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ClusterError> {
        check_bank(self.servers.len(), self.initial_balance)?;
        for (index, s) in self.servers.iter().enumerate() {
            let expected = Account::of_server(index);
            if s.account != expected {
                return Err(ClusterError::AccountOrder {
                    index,
                    got: s.account,
                    expected,
                });
            }
            let taken = |o: &ServerEntry| [o.addr, o.listen_addr()];
            for addr in [s.addr, s.listen_addr()] {
                if let Some(first) = self.servers[..index]
                    .iter()
                    .position(|o| taken(o).contains(&addr))
                {
                    return Err(ClusterError::DuplicateAddr { index, first, addr });
                }
            }
        }
        self.account_keys()?;
        self.server_keys()?;
        for (field, value) in [
            ("round_timeout_ms", self.round_timeout_ms),
            ("flush_timeout_us", self.flush_timeout_us),
            ("client_timeout_ms", self.client_timeout_ms),
            ("max_block", self.max_block.map_or(1, |m| m as u64)),
        ] {
            if value == 0 {
                return Err(ClusterError::Zero { field });
            }
        }
        Ok(())
    }

    /// The actor ids of all servers, by index.
    pub fn ids(&self) -> Vec<Id> {
        self.servers.iter().map(|s| Id::from(s.addr)).collect()
    }

    /// Every account's public key, if the file gives them (all or none).
    pub fn account_keys(&self) -> Result<Option<Vec<VerificationKey>>, ClusterError> {
        let Some(keys) = self.hex_keys("account_key", |s| s.account_key.as_deref())? else {
            return Ok(None);
        };
        let keys = keys.into_iter().enumerate().map(|(index, bytes)| {
            VerificationKey::try_from(bytes).map_err(|_| ClusterError::BadKey {
                index,
                field: "account_key",
                why: "not an Ed25519 public key",
            })
        });
        keys.collect::<Result<Vec<_>, _>>().map(Some)
    }

    /// Every server's public key, if the file gives them (all or none).
    pub fn server_keys(&self) -> Result<Option<Vec<x25519_dalek::PublicKey>>, ClusterError> {
        let keys = self.hex_keys("server_key", |s| s.server_key.as_deref())?;
        Ok(keys.map(|keys| {
            keys.into_iter()
                .map(x25519_dalek::PublicKey::from)
                .collect()
        }))
    }

    /// One kind of key of every server, as 32 bytes each: none if no server gives it, an
    /// error if some give it and others do not, or one is not 64 hex digits.
    fn hex_keys(
        &self,
        field: &'static str,
        key: impl Fn(&ServerEntry) -> Option<&str>,
    ) -> Result<Option<Vec<[u8; 32]>>, ClusterError> {
        if self.servers.iter().all(|s| key(s).is_none()) {
            return Ok(None);
        }
        let keys = self.servers.iter().enumerate().map(|(index, s)| {
            let bad = |why| ClusterError::BadKey { index, field, why };
            let text = key(s).ok_or(bad("missing, where others are given"))?;
            let bytes = unhex(text).and_then(|b| <[u8; 32]>::try_from(b).ok());
            bytes.ok_or(bad("not 64 hex digits"))
        });
        keys.collect::<Result<Vec<_>, _>>().map(Some)
    }

    /// The configuration of server `index`: the file's variant, ballot bound and keys (the
    /// model's signature rule if it gives none: conformance mode only, `runtime` checks).
    pub fn server_config(&self, index: usize) -> ServerConfig {
        let keys = match self.account_keys().expect("a validated cluster") {
            Some(keys) => AccountKeys::Ed25519(keys),
            None => AccountKeys::Model,
        };
        let round = Duration::from_millis(self.round_timeout_ms);
        ServerConfig {
            index,
            servers: self.ids(),
            initial_balance: self.initial_balance,
            variant: self.variant,
            max_round: self.max_round.unwrap_or(u32::MAX),
            max_block: self.max_block.unwrap_or(ServerConfig::MAX_BLOCK),
            round_timeout: round..round * 2,
            gather_timeout: Duration::from_millis(self.gather_timeout_ms)
                ..Duration::from_millis(self.gather_timeout_ms + 1),
            flush_timeout: Duration::from_micros(self.flush_timeout_us)
                ..Duration::from_micros(self.flush_timeout_us + 1),
            keys: std::sync::Arc::new(keys),
            // The deployment never runs a seeded bug (src/bugs.rs).
            bug: None,
        }
    }

    /// The entry of an account's server.
    pub fn server_of(&self, account: Account) -> Option<&ServerEntry> {
        self.servers.get(account.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_bad_fields_are_named() {
        let c = Cluster::local(3, 7101, 100);
        let back: Cluster = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
        back.validate().unwrap();

        let mut swapped = c.clone();
        swapped.servers.swap(0, 1);
        let e = swapped.validate().unwrap_err().to_string();
        assert!(e.starts_with("servers[0].account"), "{e}");

        let mut dup = c.clone();
        dup.servers[2].addr = dup.servers[0].addr;
        let e = dup.validate().unwrap_err().to_string();
        assert!(e.starts_with("servers[2].addr"), "{e}");

        let mut relayed = c.clone();
        relayed.servers[1].bind = Some(relayed.servers[0].addr);
        let e = relayed.validate().unwrap_err().to_string();
        assert!(e.starts_with("servers[1].addr"), "{e}");
        relayed.servers[1].bind = Some(SocketAddrV4::new([127, 0, 0, 1].into(), 7201));
        relayed.variant = Variant::Literal;
        relayed.max_round = Some(2);
        relayed.max_block = Some(3);
        let back: Cluster = toml::from_str(&relayed.to_toml()).unwrap();
        assert_eq!(back, relayed);
        back.validate().unwrap();
        assert_eq!(back.server_config(1).max_round, 2);
        assert_eq!(back.server_config(1).max_block, 3);
        let empty = Cluster {
            max_block: Some(0),
            ..back.clone()
        };
        let e = empty.validate().unwrap_err().to_string();
        assert!(e.contains("max_block"), "{e}");
        assert_eq!(back.server_config(1).variant, Variant::Literal);

        let e = toml::from_str::<Cluster>("servers = []\nbogus = 1").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let none = Cluster {
            servers: vec![],
            ..c
        };
        assert!(matches!(
            none.validate(),
            Err(ClusterError::Bank(BankError::AccountCount(0)))
        ));
    }

    #[test]
    fn keys_are_all_or_none_and_bad_ones_are_named() {
        let mut c = Cluster::local(2, 7301, 10);
        assert!(c.account_keys().unwrap().is_none());
        assert!(c.server_keys().unwrap().is_none());
        // A real Ed25519 and X25519 public key: the basepoints' encodings.
        let ed = "5866666666666666666666666666666666666666666666666666666666666666";
        let x = format!("09{}", "00".repeat(31));
        for s in &mut c.servers {
            s.account_key = Some(ed.into());
            s.server_key = Some(x.clone());
        }
        c.validate().unwrap();
        assert_eq!(c.account_keys().unwrap().unwrap().len(), 2);
        assert_eq!(c.server_keys().unwrap().unwrap().len(), 2);
        let named = |c: &Cluster| c.validate().unwrap_err().to_string();
        let mut missing = c.clone();
        missing.servers[1].server_key = None;
        assert_eq!(
            named(&missing),
            "servers[1].server_key: missing, where others are given"
        );
        let mut short = c.clone();
        short.servers[0].account_key = Some("abcd".into());
        assert_eq!(named(&short), "servers[0].account_key: not 64 hex digits");
        let mut off_curve = c.clone();
        off_curve.servers[1].account_key = Some(format!("02{}", "00".repeat(31)));
        assert_eq!(
            named(&off_curve),
            "servers[1].account_key: not an Ed25519 public key"
        );
    }

    #[test]
    fn defaults_fill_the_timer_fields() {
        let c: Cluster =
            toml::from_str("[[servers]]\naccount = \"A\"\naddr = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(c.initial_balance, 10);
        assert_eq!(
            c.server_config(0).round_timeout.start,
            Duration::from_millis(400)
        );
        assert_eq!(c.server_config(0).variant, Variant::Safe);
        assert_eq!(c.server_config(0).max_round, u32::MAX);
        assert_eq!(c.servers[0].listen_addr(), c.servers[0].addr);
    }
}
