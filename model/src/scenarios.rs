//! Named scenarios: the presets the checker, the tests and the benchmarks share.
//!
//! Balances and amounts are scaled down from the course (100 and 10 units) so the state space
//! stays checkable: what matters to the protocol is whether a balance covers a transfer, not
//! the size of the numbers.

use crate::config::{ModelConfig, NetworkKind};
use paxchain::Account;

/// A preset: its name, a line saying what it shows, and its configuration.
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub config: ModelConfig,
}

const A: Account = Account(0);
const B: Account = Account(1);
const C: Account = Account(2);

/// Every preset, the default first.
pub fn all() -> Vec<Scenario> {
    let default = ModelConfig::default();
    vec![
        Scenario {
            name: "default",
            about: "3 servers, 1 unit each, UDP-like network; A and B both go short and compete to lead",
            config: default.clone(),
        },
        Scenario {
            name: "tiny",
            about: "3 servers, 1 unit each; A goes short, B's transfer covers it, A may retry its election",
            config: ModelConfig {
                workloads: vec![vec![(B, 1), (C, 1)], vec![(A, 1)]],
                network: NetworkKind::Unordered,
                max_round: 2,
                ..default.clone()
            },
        },
        Scenario {
            name: "course",
            about: "the course's three-server example, balances and amounts divided by 10",
            config: ModelConfig {
                initial_balance: 10,
                workloads: vec![vec![(C, 2), (B, 6), (B, 3)], vec![(A, 7), (A, 6)], vec![(A, 5)]],
                network: NetworkKind::Unordered,
                ..default.clone()
            },
        },
        Scenario {
            name: "crash-loss",
            about: "tiny's workload; any message may be lost, any one server may crash and recover (FIFO links)",
            config: ModelConfig {
                workloads: vec![vec![(B, 1), (C, 1)], vec![(A, 1)]],
                network: NetworkKind::Ordered,
                lossy: true,
                max_crashes: 1,
                max_round: 2,
                ..default.clone()
            },
        },
        Scenario {
            name: "five",
            about: "5 servers (f = 2), FIFO links; A goes short, E's transfer covers it, A may retry its election",
            config: ModelConfig {
                servers: 5,
                workloads: vec![vec![(B, 1), (C, 1)], vec![], vec![], vec![], vec![(A, 1)]],
                network: NetworkKind::Ordered,
                max_round: 2,
                ..default.clone()
            },
        },
        // The presets below combine what realistic bugs need (see spec/properties.md).
        Scenario {
            name: "contest-crash",
            about: "default's two competing leaders, and any one server may crash and recover (FIFO links)",
            config: ModelConfig {
                network: NetworkKind::Ordered,
                max_crashes: 1,
                ..default.clone()
            },
        },
        Scenario {
            name: "retry-crash",
            about: "tiny's workload with one ballot round; a server may crash and recover, and each client resends once (FIFO links)",
            config: ModelConfig {
                workloads: vec![vec![(B, 1), (C, 1)], vec![(A, 1)]],
                network: NetworkKind::Ordered,
                max_crashes: 1,
                client_retries: 1,
                ..default.clone()
            },
        },
        Scenario {
            name: "second-round",
            about: "default's two competing leaders, each with a second ballot round (FIFO links)",
            config: ModelConfig {
                network: NetworkKind::Ordered,
                max_round: 2,
                ..default.clone()
            },
        },
        Scenario {
            name: "five-contest",
            about: "5 servers; A and E each pay once, then both go short and compete (FIFO links)",
            config: ModelConfig {
                servers: 5,
                workloads: vec![vec![(B, 1), (C, 1)], vec![], vec![], vec![], vec![(A, 1), (B, 1)]],
                network: NetworkKind::Ordered,
                ..default.clone()
            },
        },
        Scenario {
            name: "three-ballots",
            about: "5 servers; E pays A, then A and E both go short and compete, each with a second ballot round: two leaders over three ballots and more (FIFO links)",
            config: ModelConfig {
                servers: 5,
                workloads: vec![vec![(B, 2)], vec![], vec![], vec![], vec![(A, 1), (B, 1)]],
                network: NetworkKind::Ordered,
                max_round: 2,
                ..default.clone()
            },
        },
        Scenario {
            name: "rogue-client",
            about: "tiny's workload, a rogue client at A's server (forged, invalid, foreign and id-reusing requests) and an attacker relaying every peer message to the servers it was not sealed for: all to be refused",
            config: ModelConfig {
                workloads: vec![vec![(B, 1), (C, 1)], vec![(A, 1)]],
                network: NetworkKind::Unordered,
                max_round: 2,
                rogue: Some(A),
                attacker: true,
                ..default.clone()
            },
        },
        Scenario {
            name: "lagging-promiser",
            about: "A pays B, then C twice, each time short; a lost COMMIT leaves C, which paid A, still holding that transfer when it promises for the next block (lossy FIFO links)",
            config: ModelConfig {
                workloads: vec![vec![(B, 1), (C, 1), (C, 1)], vec![], vec![(A, 1)]],
                network: NetworkKind::Ordered,
                lossy: true,
                max_round: 2,
                ..default.clone()
            },
        },
        Scenario {
            name: "sessions",
            about: "A's two sessions send at once (one pays B then C, the other C then B), more than A holds, and B pays A: one save answers both; UDP-like network, and any one server may crash",
            config: ModelConfig {
                max_crashes: 1,
                initial_balance: 3,
                workloads: vec![vec![(B, 1), (C, 1)], vec![(A, 1)]],
                sessions: vec![(A, vec![(C, 1), (B, 1)])],
                ..default
            },
        },
    ]
}

/// Presets whose complete search takes minutes rather than seconds. The tests and commands
/// that search every preset to the end (`paxchain-check coverage`, the premises and coverage
/// tests) take [`light`] instead; each heavy preset has a test of its own.
pub const HEAVY: &[&str] = &["three-ballots"];

/// Every preset but the [`HEAVY`] ones.
pub fn light() -> Vec<Scenario> {
    all()
        .into_iter()
        .filter(|s| !HEAVY.contains(&s.name))
        .collect()
}

/// The preset with this name.
pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

/// The names of all presets, for error messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_is_valid_and_named_once() {
        let all = super::all();
        for s in &all {
            assert_eq!(s.config.validate(), Ok(()), "{}", s.name);
        }
        let mut names = super::names();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(all[0].name, "default");
    }
}
