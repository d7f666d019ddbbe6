//! The reductions (model/src/bank_model.rs) change no verdict: with and without them, every
//! property is violated, or its example reached, alike; and the literal variant's
//! counterexamples found without them replay with them to the same violation.

use common::scenario;
use paxchain::Variant;
use paxchain_model::properties::is_example;
use paxchain_model::trace::{steps, Step};
use paxchain_model::{build, BankModel, BankState, ModelConfig, NetworkKind};
use stateright::{Checker, Model};
use std::collections::BTreeMap;

mod common;

/// A complete search: for each property, whether it had a discovery; and the unique states.
fn verdicts(cfg: &ModelConfig) -> (BTreeMap<&'static str, bool>, usize) {
    let checker = common::search(cfg);
    let found = checker.discoveries();
    let verdicts = (checker.model().properties().iter())
        .map(|p| (p.name, found.contains_key(p.name)))
        .collect();
    (verdicts, checker.unique_state_count())
}

fn assert_same_verdicts(cfg: ModelConfig) {
    let (reduced, fewer) = verdicts(&ModelConfig {
        reduce: true,
        ..cfg.clone()
    });
    let (full, more) = verdicts(&ModelConfig {
        reduce: false,
        ..cfg
    });
    assert_eq!(reduced, full);
    assert!(
        fewer < more,
        "the reduction applies here: {fewer} vs {more}"
    );
}

#[test]
fn forgetting_the_last_delivery_changes_no_verdict() {
    assert_same_verdicts(ModelConfig {
        network: NetworkKind::Duplicating,
        max_round: 1,
        ..scenario("tiny")
    });
}

#[test]
fn clearing_a_crashed_servers_volatile_state_changes_no_verdict() {
    assert_same_verdicts(ModelConfig {
        max_round: 1,
        ..scenario("crash-loss")
    });
}

#[test]
fn leaving_loss_out_of_an_unordered_network_changes_no_verdict() {
    assert_same_verdicts(ModelConfig {
        lossy: true,
        max_round: 1,
        ..scenario("tiny")
    });
}

#[test]
fn symmetry_and_no_crash_of_durable_servers_change_no_verdict() {
    // Four servers: A pays B then C, D pays A. B and C have no client: symmetric, and
    // never crashing with the reductions on.
    assert_same_verdicts(ModelConfig {
        servers: 4,
        workloads: paxchain_model::parse_workloads("B1 C1; ; ; A1").expect("valid"),
        max_crashes: 1,
        max_round: 1,
        ..scenario("five")
    });
}

#[test]
fn lazy_loss_on_fifo_links_changes_no_verdict() {
    // A lost COMMIT is what lets a promiser lag: the loss that matters is kept.
    assert_same_verdicts(ModelConfig {
        max_round: 1,
        ..scenario("lagging-promiser")
    });
}

/// The loss that matters must survive the reduction: with a leader that re-proposes
/// committed transfers, only a lost COMMIT exposes the bug, and both ways must find it.
#[cfg(feature = "bug-zoo")]
#[test]
fn lazy_loss_keeps_the_loss_that_exposes_a_seeded_bug() {
    let cfg = ModelConfig {
        bug: Some(paxchain::bugs::Bug::ReproposeCommitted),
        ..scenario("lagging-promiser")
    };
    let (reduced, _) = verdicts(&cfg);
    assert_eq!(reduced.get("exactly once"), Some(&true), "{reduced:?}");
    assert_same_verdicts(cfg);
}

#[test]
fn the_literal_variant_breaks_the_same_properties_on_lossy_fifo_links() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        network: NetworkKind::Ordered,
        lossy: true,
        ..scenario("default")
    };
    let (reduced, fewer) = verdicts(&cfg);
    let (full, more) = verdicts(&ModelConfig {
        reduce: false,
        ..cfg
    });
    assert_eq!(reduced, full);
    assert!(fewer < more);
    assert!(
        full.iter().filter(|(_, &found)| found).count() >= 2,
        "the literal variant breaks properties here: {full:?}"
    );
}

/// Replays `trace` on a reduced model, where a step back to the same state is left out
/// (reduction 8): such a step must still be enabled, and leaves the state as it is.
fn replay_skipping_loops(model: &BankModel, trace: &[Step]) -> BankState {
    let mut state = model.init_states().remove(0);
    for step in trace {
        let action = step.to_action();
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        assert!(enabled.contains(&action), "not enabled: {step:?}");
        if let Some(next) = model.next_state(&state, action) {
            state = next;
        }
    }
    state
}

#[test]
fn the_literal_variant_breaks_the_same_properties_either_way() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        max_height: 2,
        ..scenario("default")
    };
    let (reduced, _) = verdicts(&cfg);
    let unreduced_cfg = ModelConfig {
        reduce: false,
        ..cfg.clone()
    };
    let checker = common::search(&unreduced_cfg);
    let model = checker.model();
    let reduced_model = build(&cfg);
    let mut violated = 0;
    for p in model.properties().iter().filter(|p| !is_example(p)) {
        let found = checker.discoveries().get(p.name).map(steps);
        assert_eq!(found.is_some(), reduced[p.name], "{}", p.name);
        if let Some(trace) = found {
            // The unreduced counterexample, replayed on the reduced model, breaks it too.
            let last = replay_skipping_loops(&reduced_model, &trace);
            assert!(!(p.condition)(&reduced_model, &last), "{}", p.name);
            violated += 1;
        }
    }
    assert!(
        violated >= 2,
        "the literal variant breaks several properties"
    );
}
