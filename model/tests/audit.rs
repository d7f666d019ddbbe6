//! The fast step agrees with stateright's own: along thousands of random walks, each step
//! taken through the memo of steps and the deltas builds, field for field as printed, the
//! state that stateright's own step builds with the handlers run afresh
//! (`paxchain_model::reference`).
//!
//! The walks run one after another on one thread, so the memo answers from everything the
//! walks before computed, as it does in a long search. A block digest that left out the
//! ballot's `waited` made two chains equal that were not, and the memo then answered for one
//! with the other's outcome; on the default scenario with three ballot rounds, this test
//! fails at walk 371.

use common::scenario;
use paxchain_model::trace::Step;
use paxchain_model::walk::{walk_with, Bias};
use paxchain_model::{build, reference, ModelConfig};

mod common;

/// Walks `walks` seeded walks of `cfg` and replays each both ways; returns the steps taken.
fn walks_agree(cfg: ModelConfig, walks: u64) -> usize {
    let model = build(&cfg);
    let mut steps = 0;
    for seed in 1..=walks {
        let bias = Bias::for_seed(seed, cfg.servers);
        let (walk, _) = walk_with(&model, seed, 60, &bias, |_, _| true);
        let actions: Vec<_> = walk.iter().map(Step::to_action).collect();
        if let Some(why) = reference::diagnose(&model, &actions) {
            panic!("walk {seed} of {cfg:?}: {why}");
        }
        steps += walk.len();
    }
    steps
}

#[test]
fn the_fast_step_builds_what_stateright_builds_with_three_ballot_rounds() {
    let three_rounds = ModelConfig {
        max_round: 3,
        ..scenario("default")
    };
    assert!(walks_agree(three_rounds, 2_000) > 20_000);
}

#[test]
fn the_fast_step_builds_what_stateright_builds_on_five_servers_with_symmetry() {
    let five = ModelConfig {
        max_round: 3,
        ..scenario("five-contest")
    };
    assert!(walks_agree(five, 600) > 10_000);
}

#[test]
fn the_fast_step_builds_what_stateright_builds_with_crashes_loss_and_retries() {
    for name in [
        "contest-crash",
        "retry-crash",
        "lagging-promiser",
        "rogue-client",
    ] {
        assert!(walks_agree(scenario(name), 300) > 3_000, "{name}");
    }
}

/// The exhaustive search's own audit (`check --audit N`): the path to every Nth state it
/// expands replays, through stateright's own step, to that state.
#[test]
fn the_search_audits_every_nth_state_and_finds_them_all_as_built() {
    use paxchain_model::search::{Search, SearchOptions};
    use stateright::Checker;
    for (name, every) in [("default", 7), ("five", 23), ("crash-loss", 97)] {
        let model = build(&scenario(name));
        let options = SearchOptions {
            threads: 2,
            audit_every: Some(every),
            ..model.search_options()
        };
        let done = Search::spawn(model, options).join();
        assert!(done.defects().is_empty(), "{name}: {:?}", done.defects());
        assert!(done.unique_state_count() > 3_000, "{name}");
    }
}
