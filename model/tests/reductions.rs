//! The reductions (model/src/bank_model.rs) change no verdict: with and without them, every
//! property is violated, or its example reached, alike; and the literal variant's
//! counterexamples found without them replay with them to the same violation.

use common::scenario;
use paxchain::Variant;
use paxchain_model::properties::is_example;
use paxchain_model::trace::{replay, steps};
use paxchain_model::{build, ModelConfig, NetworkKind};
use stateright::{Checker, Model};
use std::collections::BTreeMap;

mod common;

/// A complete search: for each property, whether it had a discovery; and the unique states.
fn verdicts(cfg: &ModelConfig) -> (BTreeMap<&'static str, bool>, usize) {
    let checker = build(cfg).checker().threads(2).spawn_dfs().join();
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
    let checker = build(&unreduced_cfg)
        .checker()
        .threads(2)
        .spawn_dfs()
        .join();
    let model = checker.model();
    let reduced_model = build(&cfg);
    let mut violated = 0;
    for p in model.properties().iter().filter(|p| !is_example(p)) {
        let found = checker.discoveries().get(p.name).map(steps);
        assert_eq!(found.is_some(), reduced[p.name], "{}", p.name);
        if let Some(trace) = found {
            // The unreduced counterexample, replayed on the reduced model, breaks it too.
            let last = replay(&reduced_model, &trace).expect("the trace replays");
            assert!(!(p.condition)(&reduced_model, &last), "{}", p.name);
            violated += 1;
        }
    }
    assert!(
        violated >= 2,
        "the literal variant breaks several properties"
    );
}
