//! The one configuration every model is built from, and its validation.

use crate::scripted_client::script_transfer;
use paxchain::bugs::Bug;
use paxchain::ledger::{check_bank, validate, BankError};
use paxchain::{Account, Rejection, Session, TxId, Variant};
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
    /// For each account in order, its client's script of transfers `(receiver, units)`: the
    /// account's first session. Accounts past the end, or with an empty script, have no
    /// client.
    pub workloads: Vec<Vec<(Account, u64)>>,
    /// More sessions: each a client of its account with a script of its own, sending at the
    /// same time as the account's other sessions. An account's entries are its sessions 1,
    /// 2, ... in order.
    pub sessions: Vec<(Account, Vec<(Account, u64)>)>,
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
    /// The network's attacker (`attacker`): every peer message a server sends is also
    /// relayed, with its seal, to every other server and back to its sender. No server may
    /// read one. Turns symmetry off (a seal names servers).
    pub attacker: bool,
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
            sessions: Vec::new(),
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
            attacker: false,
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
    #[error("sessions: account {0} does not exist")]
    SessionAccount(Account),
    #[error("sessions: account {account} has more than 256")]
    TooManySessions { account: Account },
}

/// One client of the model: its account, its session and its script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client<'a> {
    pub account: Account,
    pub session: Session,
    pub script: &'a [(Account, u64)],
}

/// Parses client scripts written as `B1 C2; A1`: one script per account in order (`;`
/// between them, an empty one for an account without a client), each transfer its
/// receiver's letter and its amount in units. One session per account: see
/// [`parse_sessions`] for more.
pub fn parse_workloads(text: &str) -> Result<Vec<Vec<(Account, u64)>>, String> {
    let (first, more) = parse_sessions(text)?;
    match more.first() {
        None => Ok(first),
        Some((account, _)) => Err(format!(
            "account {account} has a second session (`|`), which only --workloads takes"
        )),
    }
}

/// Parses [`parse_workloads`]' scripts where an account's script may be several, one per
/// session, separated by `|`: `B1 | C1; A1` gives A two sessions, one paying B and one
/// paying C. Returns the first sessions' scripts and the further sessions, as
/// [`ModelConfig`] holds them.
#[allow(clippy::type_complexity)]
pub fn parse_sessions(
    text: &str,
) -> Result<
    (
        Vec<Vec<(Account, u64)>>,
        Vec<(Account, Vec<(Account, u64)>)>,
    ),
    String,
> {
    let mut first = Vec::new();
    let mut more = Vec::new();
    for (i, account) in text.split(';').enumerate() {
        let mut scripts = account.split('|').map(parse_script);
        first.push(scripts.next().expect("split yields one at least")?);
        for script in scripts {
            more.push((Account::of_server(i.min(25)), script?));
        }
    }
    Ok((first, more))
}

/// One session's script: transfers like `B1`, separated by spaces or commas.
fn parse_script(script: &str) -> Result<Vec<(Account, u64)>, String> {
    let transfer = |word: &str| -> Result<(Account, u64), String> {
        let (to, amount) = word.split_at(word.chars().next().map_or(0, char::len_utf8));
        let to = Account::parse(to).map_err(|e| format!("`{word}`: {e}"))?;
        let amount = (amount.parse::<u64>())
            .map_err(|_| format!("`{word}`: expected a receiver's letter and units, e.g. B1"))?;
        Ok((to, amount))
    };
    (script.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|w| !w.is_empty())
        .map(transfer)
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
        for &(account, _) in &self.sessions {
            if account.index() >= n {
                return Err(ConfigError::SessionAccount(account));
            }
            if self.sessions.iter().filter(|s| s.0 == account).count() > 255 {
                return Err(ConfigError::TooManySessions { account });
            }
        }
        // The same checks a server makes before executing a transfer.
        for c in self.clients() {
            for (index, &step) in c.script.iter().enumerate() {
                let t = script_transfer(c.account, c.session, index, step, None);
                validate(&t, c.account, n)
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

    /// The script of account `i`'s first session (empty if it has none).
    pub fn script(&self, i: usize) -> &[(Account, u64)] {
        self.workloads.get(i).map_or(&[], |w| w.as_slice())
    }

    /// Every scripted client with a script, in the model's actor order: each account's
    /// first session in account order, then the further sessions as listed.
    pub fn clients(&self) -> impl Iterator<Item = Client<'_>> {
        let first = (0..self.servers).map(|i| Client {
            account: Account::of_server(i),
            session: Session::FIRST,
            script: self.script(i),
        });
        let more = self
            .sessions
            .iter()
            .enumerate()
            .map(|(k, (account, script))| {
                let before = self.sessions[..k]
                    .iter()
                    .filter(|s| s.0 == *account)
                    .count();
                Client {
                    account: *account,
                    session: Session(u8::try_from(before + 1).expect("validated: 256 at most")),
                    script,
                }
            });
        first.chain(more).filter(|c| !c.script.is_empty())
    }

    /// The script of a session's client (empty if it has none).
    pub fn script_of(&self, account: Account, session: Session) -> &[(Account, u64)] {
        (self.clients())
            .find(|c| (c.account, c.session) == (account, session))
            .map_or(&[], |c| c.script)
    }

    /// The servers that no client (scripted or rogue) talks to, as a bit mask by index.
    pub fn passive_servers(&self) -> u32 {
        let talked_to = |i: usize| {
            self.clients().any(|c| c.account.index() == i)
                || self.rogue.map(|a| a.index()) == Some(i)
        };
        (0..self.servers)
            .filter(|&i| !talked_to(i))
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

    /// Whether at least two accounts' clients send more than their initial balance, so two
    /// servers may go short and compete to lead.
    pub fn is_contested(&self) -> bool {
        let spent = |i: usize| -> u128 {
            (self.clients())
                .filter(|c| c.account.index() == i)
                .flat_map(|c| c.script.iter())
                .map(|&(_, amount)| u128::from(amount))
                .sum()
        };
        (0..self.servers)
            .filter(|&i| spent(i) > u128::from(self.initial_balance))
            .count()
            >= 2
    }

    /// Whether some account has two sessions or more: requests in flight together at one
    /// server, so its flushes may batch.
    pub fn has_concurrent_sessions(&self) -> bool {
        self.clients().count()
            > self
                .clients()
                .map(|c| c.account)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
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
        assert!(parse_workloads("B1 | C1")
            .unwrap_err()
            .contains("second session"));
        assert_eq!(
            parse_sessions("B1 | C1 | C2; A1"),
            Ok((
                vec![vec![(b, 1)], vec![(a, 1)]],
                vec![(a, vec![(c, 1)]), (a, vec![(c, 2)])]
            ))
        );
        let cfg = ModelConfig {
            sessions: vec![(a, vec![(c, 1)]), (b, vec![(c, 1)]), (a, vec![(b, 1)])],
            ..ModelConfig::default()
        };
        let sessions: Vec<(Account, Session)> =
            cfg.clients().map(|c| (c.account, c.session)).collect();
        assert_eq!(
            sessions,
            [(a, 0), (b, 0), (a, 1), (b, 1), (a, 2)].map(|(x, s)| (x, Session(s)))
        );
        assert_eq!(cfg.script_of(a, Session(2)), &[(b, 1)]);
        assert!(cfg.has_concurrent_sessions());
        assert!(!ModelConfig::default().has_concurrent_sessions());
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
