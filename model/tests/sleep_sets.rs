//! Sleep sets (model/src/search/sleep.rs) rest on one promise of the model
//! (`bank_model::transition`): two steps that touch different actors commute, and neither
//! disables the other. Checked here on the reachable states of several presets, for every
//! two steps of a state: both orders reach the same state (a step the model leaves out as
//! leading back where it is counting as one that stays). And the search with sleep sets visits exactly the states the
//! search without them visits, examining fewer.

use common::{scenario, sum_over};
use paxchain_model::bank_model::{transition, Action};
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::{build, BankModel, BankState, ModelConfig};
use stateright::{Checker, Model};

mod common;

/// For every two commuting steps of `s` that lead somewhere, the number of pairs checked.
fn diamonds(m: &BankModel, s: &BankState) -> usize {
    let mut actions: Vec<Action> = Vec::new();
    m.actions(s, &mut actions);
    let steps: Vec<(Action, BankState)> = (actions.into_iter())
        .filter_map(|a| m.next_state(s, a.clone()).map(|next| (a, next)))
        .collect();
    let mut checked = 0;
    for (i, (a, after_a)) in steps.iter().enumerate() {
        for (b, after_b) in &steps[i + 1..] {
            let ordered = matches!(s.network, stateright::actor::Network::Ordered(_));
            if !transition(a, ordered).commutes_with(&transition(b, ordered)) {
                continue;
            }
            // A step the model leaves out as leading back where it is (reduction 8) is a
            // step that stays: on the duplicating network, a resend its receiver has come to
            // ignore for good in the meantime (reduction 4) changes nothing.
            let ab = m
                .next_state(after_a, b.clone())
                .unwrap_or_else(|| after_a.clone());
            let ba = m
                .next_state(after_b, a.clone())
                .unwrap_or_else(|| after_b.clone());
            assert!(
                ab == ba,
                "two commuting steps reach two states:\n{a:?}\n{b:?}\nfrom {s:#?}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn steps_of_different_actors_commute_in_every_state_reached() {
    for (name, bound) in [
        ("default", None),
        ("crash-loss", Some(20_000)),
        ("sessions", Some(20_000)),
        ("rogue-client", Some(20_000)),
        ("course", Some(20_000)),
    ] {
        let checked = sum_over(&scenario(name), bound, diamonds);
        assert!(checked > 1_000, "{name}: {checked} pairs");
    }
}

/// The same with a crash and loss on FIFO links, and a seeded bug: the promise is the
/// actor model's, whatever the handlers do.
#[cfg(feature = "bug-zoo")]
#[test]
fn steps_of_different_actors_commute_under_a_seeded_bug() {
    use paxchain::bugs::Bug;
    for bug in [
        Bug::AcceptedNotSaved,
        Bug::StaleRequestExecuted,
        Bug::CommitClearsLog,
    ] {
        let cfg = ModelConfig {
            bug: Some(bug),
            ..scenario("contest-crash")
        };
        let checked = sum_over(&cfg, Some(5_000), diamonds);
        assert!(checked > 1_000, "{bug}: {checked} pairs");
    }
}

/// The unique states and verdicts with and without sleep sets are the same; the states
/// examined are fewer with them. (five-contest is where a seen state's stored sleep set
/// matters: without waking up what slept before, 173,657 of its 185,299 states are found.)
#[test]
fn sleep_sets_visit_every_state_and_examine_fewer() {
    for name in [
        "default",
        "crash-loss",
        "rogue-client",
        "five",
        "five-contest",
    ] {
        let cfg: ModelConfig = scenario(name);
        let run = |sleep_sets: bool| {
            let model = build(&cfg);
            let options = SearchOptions {
                threads: 2,
                sleep_sets,
                ..model.search_options()
            };
            let search = Search::spawn(model, options).join();
            let mut found: Vec<&str> = search.discoveries().into_keys().collect();
            found.sort();
            (search.unique_state_count(), search.state_count(), found)
        };
        let (with, without) = (run(true), run(false));
        assert_eq!(with.0, without.0, "{name}: unique states");
        assert_eq!(with.2, without.2, "{name}: discoveries");
        assert!(
            with.1 * 10 < without.1 * 8,
            "{name}: {} examined with sleep sets, {} without",
            with.1,
            without.1
        );
    }
}
