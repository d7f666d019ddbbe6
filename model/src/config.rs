//! The one configuration every model is built from, and its validation.

use crate::scripted_client::script_transfer;
use paxchain::bugs::Bug;
use paxchain::ledger::{check_bank, validate, BankError};
use paxchain::{Account, Rejection, TxId, Variant};
use std::fmt;
use std::str::FromStr;

/// How the model's network treats messages. UDP loses (see `lossy`), reorders and duplicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkKind {
    /// FIFO per sender/receiver pair, each message delivered once (a TCP-like network).
    Ordered,
    /// Any order, each message delivered once.
    Unordered,
    /// Any order, and a delivered message may be delivered again: UDP's duplicates.
    Duplicating,
}

impl FromStr for NetworkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ordered" => Ok(NetworkKind::Ordered),
            "unordered" => Ok(NetworkKind::Unordered),
            "duplicating" => Ok(NetworkKind::Duplicating),
            _ => Err(format!("`{s}`: expected ordered, unordered or duplicating")),
        }
    }
}

impl fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkKind::Ordered => "ordered",
            NetworkKind::Unordered => "unordered",
            NetworkKind::Duplicating => "duplicating",
        })
    }
}

/// Everything that shapes one model: the cluster, the clients' scripts, the faults, the bounds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModelConfig {
    /// Number of servers, and so of accounts `A`, `B`, ...: 1 to 7 (the model's practical limit).
    pub servers: usize,
    /// Units every account starts with.
    pub initial_balance: u64,
    /// For each account in order, its client's script of transfers `(receiver, units)`.
    /// Accounts past the end, or with an empty script, have no client.
    pub workloads: Vec<Vec<(Account, u64)>>,
    /// The protocol the servers run.
    pub variant: Variant,
    /// How messages travel.
    pub network: NetworkKind,
    /// Whether any message may be lost.
    pub lossy: bool,
    /// Servers that may be down at the same time (each recovers from its storage). At most f.
    pub max_crashes: usize,
    /// Highest ballot round a server starts; bounds elections.
    pub max_round: u32,
    /// The most transfers one block carries; the rest wait for the next height.
    pub max_block: usize,
    /// Resends per transfer by a client before it gives up on it.
    pub client_retries: u32,
    /// Longest chain explored, in blocks after genesis; states beyond it are not expanded
    /// (only the `literal` variant, which appends duplicate COMMITs, ever reaches it).
    pub max_height: u32,
    /// Merge states no rule or property can tell apart (see `bank_model`). Off only to
    /// check that the reductions change no verdict.
    pub reduce: bool,
    /// In depth-first search, merge states that differ only by a renaming of the servers no
    /// client talks to (see `symmetry`). Needs `reduce`.
    pub symmetry: bool,
    /// A seeded bug from the zoo (`paxchain::bugs`), run by servers and clients alike. No
    /// reduction depends on it: their premises are decided by the handlers, buggy or not
    /// (`crate::premises`).
    pub bug: Option<Bug>,
    /// A rogue client (`rogue_client`) talking to this account's server, beside its
    /// scripted client if it has one: every request it makes must be refused.
    pub rogue: Option<Account>,
}

impl Default for ModelConfig {
    /// Three servers, one unit each, two clients whose second transfers need consensus, on a
    /// network that reorders and duplicates like UDP; one ballot round per server.
    fn default() -> Self {
        let (a, b, c) = (Account(0), Account(1), Account(2));
        ModelConfig {
            servers: 3,
            initial_balance: 1,
            workloads: vec![vec![(b, 1), (c, 1)], vec![(a, 1), (c, 1)]],
            variant: Variant::Safe,
            network: NetworkKind::Duplicating,
            lossy: false,
            max_crashes: 0,
            max_round: 1,
            max_block: paxchain::ServerConfig::MAX_BLOCK,
            client_retries: 0,
            max_height: 4,
            reduce: true,
            symmetry: true,
            bug: None,
            rogue: None,
        }
    }
}

/// A [`ModelConfig`] that cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("servers: {0}; the model takes 1 to 7")]
    Servers(usize),
    #[error("workloads: {clients} scripts for {servers} accounts")]
    TooManyClients { clients: usize, servers: usize },
    #[error("workloads: transfer {id} of client {}: {reason}", id.client)]
    Workload { id: TxId, reason: Rejection },
    #[error("servers and initial_balance: {0}")]
    Bank(#[from] BankError),
    #[error("max_crashes: {crashes} with {servers} servers tolerates at most {f}")]
    TooManyCrashes {
        crashes: usize,
        servers: usize,
        f: usize,
    },
    #[error("max_round: must be at least 1")]
    NoRounds,
    #[error("max_height: must be at least 1")]
    NoHeight,
    #[error("max_block: must be at least 1 transfer")]
    NoBlockRoom,
    #[error("rogue: account {0} does not exist")]
    RogueAccount(Account),
}

/// Parses client scripts written as `B1 C2; A1`: one script per account in order (`;`
/// between them, an empty one for an account without a client), each transfer its
/// receiver's letter and its amount in units.
pub fn parse_workloads(text: &str) -> Result<Vec<Vec<(Account, u64)>>, String> {
    let transfer = |word: &str| -> Result<(Account, u64), String> {
        let (to, amount) = word.split_at(word.chars().next().map_or(0, char::len_utf8));
        let to = Account::parse(to).map_err(|e| format!("`{word}`: {e}"))?;
        let amount = (amount.parse::<u64>())
            .map_err(|_| format!("`{word}`: expected a receiver's letter and units, e.g. B1"))?;
        Ok((to, amount))
    };
    text.split(';')
        .map(|script| {
            (script.split(|c: char| c == ',' || c.is_whitespace()))
                .filter(|w| !w.is_empty())
                .map(transfer)
                .collect()
        })
        .collect()
}

impl ModelConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self.servers;
        if !(1..=7).contains(&n) {
            return Err(ConfigError::Servers(n));
        }
        if self.workloads.len() > n {
            return Err(ConfigError::TooManyClients {
                clients: self.workloads.len(),
                servers: n,
            });
        }
        // The same checks a server makes before executing a transfer.
        for (i, script) in self.workloads.iter().enumerate() {
            let client = Account::of_server(i);
            for (index, &step) in script.iter().enumerate() {
                let t = script_transfer(client, index, step);
                validate(&t, client, n)
                    .map_err(|reason| ConfigError::Workload { id: t.id, reason })?;
            }
        }
        check_bank(n, self.initial_balance)?;
        let f = (n - 1) / 2;
        if self.max_crashes > f {
            return Err(ConfigError::TooManyCrashes {
                crashes: self.max_crashes,
                servers: n,
                f,
            });
        }
        if self.max_round == 0 {
            return Err(ConfigError::NoRounds);
        }
        if self.max_height == 0 {
            return Err(ConfigError::NoHeight);
        }
        if self.max_block == 0 {
            return Err(ConfigError::NoBlockRoom);
        }
        if let Some(a) = self.rogue.filter(|a| a.index() >= n) {
            return Err(ConfigError::RogueAccount(a));
        }
        Ok(())
    }

    /// The script of account `i`'s client (empty if it has none).
    pub fn script(&self, i: usize) -> &[(Account, u64)] {
        self.workloads.get(i).map_or(&[], |w| w.as_slice())
    }

    /// The servers that no client (scripted or rogue) talks to, as a bit mask by index.
    pub fn passive_servers(&self) -> u32 {
        (0..self.servers)
            .filter(|&i| self.script(i).is_empty() && self.rogue.map(|a| a.index()) != Some(i))
            .fold(0, |mask, i| mask | 1 << i)
    }

    /// The servers reduction 6 may keep from crashing, as a bit mask by index: those no
    /// client talks to, with the reductions on. In each state the model leaves a crash out
    /// only where the real handlers make it a pause (`premises::crash_is_a_pause`).
    pub fn durable_servers(&self) -> u32 {
        if !self.reduce {
            return 0;
        }
        self.passive_servers()
    }

    /// Whether the model has Drop actions. Loss on an unordered network is subsumed by a
    /// message never delivered (spec/properties.md, "Reductions"), so with `reduce` only FIFO
    /// links explore it.
    pub fn explores_loss(&self) -> bool {
        self.lossy && (self.network == NetworkKind::Ordered || !self.reduce)
    }

    /// Whether at least two clients send more than their initial balance, so two servers may
    /// go short and compete to lead.
    pub fn is_contested(&self) -> bool {
        let short = |script: &Vec<(Account, u64)>| {
            script
                .iter()
                .map(|&(_, amount)| u128::from(amount))
                .sum::<u128>()
                > u128::from(self.initial_balance)
        };
        self.workloads.iter().filter(|s| short(s)).count() >= 2
    }

    /// Whether the scenario has no faults at all, so every request must be answered.
    pub fn is_fault_free(&self) -> bool {
        !self.lossy && self.max_crashes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_parse_from_text_and_bad_words_are_named() {
        let (a, b, c) = (Account(0), Account(1), Account(2));
        assert_eq!(
            parse_workloads("B1 C2; ;a1,c1"),
            Ok(vec![vec![(b, 1), (c, 2)], vec![], vec![(a, 1), (c, 1)]])
        );
        assert!(parse_workloads("B").unwrap_err().contains("`B`"));
        assert!(parse_workloads("B1 7C").unwrap_err().contains("`7C`"));
        assert!(parse_workloads("Bx").is_err());
    }

    #[test]
    fn default_is_valid_and_bad_fields_are_named() {
        assert_eq!(ModelConfig::default().validate(), Ok(()));
        let bad = ModelConfig {
            max_crashes: 2,
            ..ModelConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::TooManyCrashes { f: 1, .. })
        ));
        let bad = ModelConfig {
            workloads: vec![vec![(Account(0), 1)]],
            ..ModelConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::Workload {
                reason: Rejection::SameAccount { .. },
                ..
            })
        ));
        let bad = ModelConfig {
            workloads: vec![vec![(Account(5), 1)]],
            ..ModelConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::Workload {
                reason: Rejection::UnknownAccount { .. },
                ..
            })
        ));
        let bad = ModelConfig {
            initial_balance: u64::MAX,
            ..ModelConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::Bank(BankError::MoneyOverflow { .. }))
        ));
    }
}
