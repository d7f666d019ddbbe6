//! paxchain's search (model/src/search.rs) against the ground truth: the states themselves.
//!
//! stateright 0.31 fingerprints a state with its `Hash`, which cannot tell which actor holds
//! a timer (a set's hash writes its elements' hashes and not how many there are, so the
//! timer sets `[{t}, {}]` and `[{}, {t}]` hash alike). Its checkers then merge states that
//! differ in which server's timer is set, and never explore one of them. The search's
//! fingerprint (model/src/fingerprint.rs) tells them apart; these tests show the difference
//! and that the search visits exactly the distinct reachable states.

use common::scenario;
use paxchain::{Timer, Variant};
use paxchain_model::fingerprint::fingerprint;
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::{build, BankState, ModelConfig, NetworkKind};
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};

mod common;

#[test]
fn stateright_hash_cannot_tell_which_server_holds_a_timer_and_the_fingerprint_can() {
    let model = build(&scenario("default"));
    let init = model.init_states().swap_remove(0);
    let (a, b) = (0, 1); // two servers, neither with a timer at the start
    assert!(init.timers_set[a].iter().next().is_none());
    assert!(init.timers_set[b].iter().next().is_none());
    let mut on_a = init.clone();
    on_a.timers_set[a].set(Timer::Gather);
    let mut on_b = init;
    on_b.timers_set[b].set(Timer::Gather);

    assert_ne!(on_a, on_b);
    let any_hasher = RandomState::new();
    assert_eq!(any_hasher.hash_one(&on_a), any_hasher.hash_one(&on_b));
    assert_ne!(fingerprint(&on_a), fingerprint(&on_b));
}

/// Every distinct state reachable in `cfg`, compared by value (no hash decides anything).
fn distinct_reachable(cfg: &ModelConfig) -> usize {
    let model = build(cfg);
    let mut seen: HashSet<BankState> = HashSet::new();
    let mut queue: VecDeque<BankState> = model.init_states().into();
    seen.extend(queue.iter().cloned());
    while let Some(state) = queue.pop_front() {
        for (_, next) in model.next_steps(&state) {
            if model.within_boundary(&next) && seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
    }
    seen.len()
}

fn unique(cfg: &ModelConfig, threads: usize, breadth_first: bool) -> usize {
    let model = build(cfg);
    let options = SearchOptions {
        threads,
        breadth_first,
        ..model.search_options()
    };
    Search::spawn(model, options).join().unique_state_count()
}

#[test]
fn the_search_visits_exactly_the_distinct_reachable_states() {
    let fifo = ModelConfig {
        network: NetworkKind::Ordered,
        ..scenario("default")
    };
    for cfg in [
        scenario("default"),
        scenario("tiny"),
        scenario("crash-loss"),
        fifo,
    ] {
        assert!(
            cfg.symmetry().is_none(),
            "symmetry merges distinct states on purpose"
        );
        let exact = distinct_reachable(&cfg);
        assert_eq!(unique(&cfg, 2, false), exact);
    }
}

#[test]
fn stateright_merges_states_the_search_keeps_apart() {
    let cfg = scenario("default");
    let stateright = build(&cfg)
        .checker()
        .spawn_dfs()
        .join()
        .unique_state_count();
    assert_eq!(distinct_reachable(&cfg), 3_012);
    assert_eq!(stateright, 3_000);
}

#[test]
fn the_count_is_the_same_in_either_order_on_any_number_of_threads() {
    // five has a symmetry: its count must not depend on which state of an orbit came first.
    for name in ["default", "five", "course"] {
        let cfg = scenario(name);
        let counts: BTreeSet<usize> = [(1, false), (2, false), (1, true), (2, true)]
            .into_iter()
            .map(|(threads, bfs)| unique(&cfg, threads, bfs))
            .collect();
        assert_eq!(counts.len(), 1, "{name}: {counts:?}");
    }
}

/// The properties with a discovery in a complete search, by the search or by stateright's.
fn discovered(cfg: &ModelConfig, ours: bool) -> BTreeSet<&'static str> {
    let model = build(cfg);
    let found = if ours {
        let options = SearchOptions {
            threads: 2,
            finish_when: HasDiscoveries::All,
            ..model.search_options()
        };
        Search::spawn(model, options).join().discoveries()
    } else {
        model
            .checker_builder()
            .threads(2)
            .spawn_dfs()
            .join()
            .discoveries()
    };
    found.into_keys().collect()
}

#[test]
fn the_literal_variant_breaks_the_same_properties_as_under_stateright() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        ..scenario("default")
    };
    let ours = discovered(&cfg, true);
    assert!(ours.contains("chain prefix agreement"), "{ours:?}");
    assert_eq!(ours, discovered(&cfg, false));
}

#[test]
fn every_discovery_replays_to_a_state_that_shows_it() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        ..scenario("default")
    };
    let checker = common::search(&cfg);
    let model = checker.model();
    let found = checker.discoveries();
    assert!(
        found.len() >= 3,
        "violations and examples: {:?}",
        found.keys()
    );
    for p in model.properties() {
        let Some(path) = found.get(p.name) else {
            continue;
        };
        let holds = (p.condition)(model, path.last_state());
        match p.expectation {
            stateright::Expectation::Always => assert!(!holds, "{}", p.name),
            stateright::Expectation::Sometimes => assert!(holds, "{}", p.name),
            stateright::Expectation::Eventually => {}
        }
    }
}
