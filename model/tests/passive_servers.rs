//! Reductions 5 and 6 rest on facts about the passive servers, those no client talks to.
//! Checked here in every reachable state:
//! - renaming those servers is an automorphism of the model: it commutes with every step
//!   and changes no property's value; the representative is one of the renamed states, and
//!   the same for all of them (reduction 5);
//! - such a server never leads, waits or sets a timer, and its memory equals its storage, so
//!   its crash is a pause (reduction 6, which the model decides state by state with the
//!   real handlers; checked here unreduced, where these servers do crash, and shown to fail
//!   under a seeded bug that breaks it).

use common::{scenario, sum_over_reachable};
use paxchain::{Storage, Variant};
use paxchain_model::fingerprint::fingerprint;
use paxchain_model::symmetry::{rename, representative, representative_fingerprint};
use paxchain_model::{BankModel, BankState, ModelConfig, NetworkKind};
use stateright::Model;
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

fn fp(s: &BankState) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Every renaming of the servers in `mask`, as a map from actor index to actor index.
fn renamings(mask: u32, actors: usize) -> Vec<Vec<usize>> {
    let slots: Vec<usize> = (0..actors).filter(|&i| mask & (1 << i) != 0).collect();
    let mut all = vec![];
    permutations(&slots, &mut vec![], &mut all);
    all.into_iter()
        .map(|order| {
            let mut renamed: Vec<usize> = (0..actors).collect();
            for (&from, &to) in slots.iter().zip(&order) {
                renamed[from] = to;
            }
            renamed
        })
        .collect()
}

fn permutations(rest: &[usize], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if rest.is_empty() {
        return out.push(prefix.clone());
    }
    for (i, &x) in rest.iter().enumerate() {
        let mut others = rest.to_vec();
        others.remove(i);
        prefix.push(x);
        permutations(&others, prefix, out);
        prefix.pop();
    }
}

/// The successors of `s` within bounds.
fn successor_states(m: &BankModel, s: &BankState) -> Vec<BankState> {
    let mut actions = Vec::new();
    m.actions(s, &mut actions);
    (actions.into_iter())
        .filter_map(|a| m.next_state(s, a))
        .filter(|n| m.within_boundary(n))
        .collect()
}

/// Checks the automorphism in every reachable state of `cfg`; returns the states checked.
fn check_symmetry(cfg: ModelConfig) -> usize {
    let mask = cfg.interchangeable_servers();
    assert!(mask.count_ones() >= 2, "the configuration has a symmetry");
    sum_over_reachable(&cfg, move |m, s| {
        let all = renamings(mask, s.actor_states.len());
        let orbit: Vec<BankState> = all.iter().map(|r| rename(s, r)).collect();
        let canonical = fp(&representative(mask, s));
        assert!(orbit.iter().any(|o| fp(o) == canonical), "in the orbit");
        let next = successor_states(m, s);
        for (r, t) in all.iter().zip(&orbit) {
            assert_eq!(
                fp(&representative(mask, t)),
                canonical,
                "one representative"
            );
            assert_eq!(
                representative_fingerprint(mask, t),
                fingerprint(&representative(mask, t)),
                "the representative's fingerprint, computed without building it"
            );
            for p in m.properties() {
                assert_eq!((p.condition)(m, s), (p.condition)(m, t), "{}", p.name);
            }
            let expected: BTreeSet<u64> = next.iter().map(|n| fp(&rename(n, r))).collect();
            let got: BTreeSet<u64> = successor_states(m, t).iter().map(fp).collect();
            assert_eq!(got, expected, "renaming commutes with every step");
        }
        1
    })
}

#[test]
fn renaming_passive_servers_is_an_automorphism_of_five() {
    assert!(check_symmetry(scenario("five")) > 5_000);
}

#[test]
fn renaming_passive_servers_is_an_automorphism_with_a_crash_and_loss() {
    // Four servers: A pays B then C, D pays A; B and C are passive.
    let cfg = ModelConfig {
        servers: 4,
        workloads: paxchain_model::parse_workloads("B1 C1; ; ; A1").expect("valid"),
        max_crashes: 1,
        max_round: 1,
        lossy: true,
        ..scenario("five")
    };
    assert!(check_symmetry(cfg) > 10_000);
}

#[test]
fn renaming_passive_servers_is_an_automorphism_on_unordered_networks() {
    for network in [NetworkKind::Duplicating, NetworkKind::Unordered] {
        let cfg = ModelConfig {
            network,
            max_round: 1,
            ..scenario("five")
        };
        assert!(check_symmetry(cfg) > 1_000, "{network:?}");
    }
}

/// Checks reduction 6's premise for every server no client talks to, in every reachable
/// state of `cfg` unreduced (so that these servers crash). Returns how many (server, state)
/// pairs it checked and how many of them break the premise.
fn durable(cfg: ModelConfig) -> (usize, usize) {
    let passive = cfg.passive_servers();
    assert!(
        passive != 0,
        "the configuration has a server no client talks to"
    );
    let unreduced = ModelConfig {
        reduce: false,
        ..cfg
    };
    let checked = Arc::new(AtomicUsize::new(0));
    let counter = checked.clone();
    let broken = sum_over_reachable(&unreduced, move |m, s| {
        let mut broken = 0;
        for i in (0..m.cfg.servers).filter(|&i| passive & (1 << i) != 0 && !s.crashed[i]) {
            let st = s.actor_states[i].server().expect("a server");
            let saved: Storage = s.actor_storages[i].clone().unwrap_or_default();
            let all_durable = st.round.is_none()
                && st.waiting.is_empty()
                && st.staged.is_empty()
                && st.idle.is_empty()
                && s.timers_set[i].iter().next().is_none()
                && st.storage == saved;
            broken += usize::from(!all_durable);
            counter.fetch_add(1, Ordering::Relaxed);
        }
        broken
    });
    (checked.load(Ordering::Relaxed), broken)
}

/// Asserts the premise holds in every state of `cfg`, and that it checked at least `min`.
fn assert_durable(cfg: ModelConfig, min: usize) {
    let (checked, broken) = durable(cfg);
    assert_eq!(
        broken, 0,
        "a passive server leads, waits, set a timer, or holds unsaved state"
    );
    assert!(checked > min, "checked {checked}");
}

#[test]
fn a_passive_servers_state_is_all_durable_across_crashes_and_loss() {
    let cfg = ModelConfig {
        max_round: 1,
        ..scenario("crash-loss")
    };
    assert_durable(cfg, 100_000);
}

#[test]
fn a_passive_servers_state_is_all_durable_with_two_blocks_on_lossy_links() {
    let cfg = ModelConfig {
        max_round: 1,
        ..scenario("lagging-promiser")
    };
    assert_durable(cfg, 10_000);
}

#[test]
fn a_passive_servers_state_is_all_durable_in_the_literal_variant() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        max_round: 1,
        max_height: 2,
        ..scenario("crash-loss")
    };
    assert_durable(cfg, 10_000);
}

/// The premise check can fail: a server that accepts a block without saving it holds in
/// memory what its storage lacks. (Reduction 6 is decided state by state by the handlers,
/// so such a server crashes in the model exactly where this happens: model/src/premises.rs.)
#[cfg(feature = "bug-zoo")]
#[test]
fn an_accepted_block_not_saved_breaks_the_premise() {
    let (_, broken) = durable(ModelConfig {
        bug: Some(paxchain::bugs::Bug::AcceptedNotSaved),
        max_round: 1,
        max_crashes: 0,
        ..scenario("crash-loss")
    });
    assert!(broken > 0);
}
