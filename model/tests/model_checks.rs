//! Exhaustive checks of the named scenarios, with pinned state counts so any change to the
//! protocol's reachable states shows up here. (The largest checks run in `paxchain-check`.)
//!
//! DFS: a complete search visits every reachable state whatever the thread count, so the
//! unique count is exact, and DFS needs a fraction of BFS's memory.

use common::{scenario, sum_over};
use paxchain::{Msg, PeerMsg, Variant};
use paxchain_model::properties::is_example;
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::trace::{replay, shrink, steps, Step};
use paxchain_model::{build, scenarios, BankModel, ModelConfig};
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::BTreeMap;

mod common;

/// Runs a complete DFS and asserts: no `always`/`eventually` discovery, every `sometimes`
/// example found, and the pinned number of unique states.
fn assert_passes(cfg: &ModelConfig, unique_states: usize) {
    cfg.validate().expect("valid preset");
    let checker = common::search(cfg);
    let model = checker.model();
    let found = checker.discoveries();
    for p in model.properties() {
        if is_example(&p) {
            assert!(
                found.contains_key(p.name),
                "example never reached: {}",
                p.name
            );
        } else {
            assert!(!found.contains_key(p.name), "violated: {}", p.name);
        }
    }
    assert_eq!(checker.unique_state_count(), unique_states);
}

#[test]
fn safe_passes_every_property_on_default() {
    assert_passes(&scenario("default"), PINNED_DEFAULT);
}

#[test]
fn safe_passes_every_property_on_tiny() {
    assert_passes(&scenario("tiny"), PINNED_TINY);
}

#[test]
fn safe_passes_every_property_on_course() {
    assert_passes(&scenario("course"), PINNED_COURSE);
}

#[test]
fn safe_passes_every_property_on_crash_loss() {
    assert_passes(&scenario("crash-loss"), PINNED_CRASH_LOSS);
}

#[test]
fn safe_passes_every_property_on_five() {
    assert_passes(&scenario("five"), PINNED_FIVE);
}

#[test]
fn safe_passes_with_competing_leaders_and_a_crash() {
    assert_passes(&scenario("contest-crash"), PINNED_CONTEST_CRASH);
}

#[test]
fn safe_passes_with_a_retry_across_a_crash() {
    assert_passes(&scenario("retry-crash"), PINNED_RETRY_CRASH);
}

#[test]
fn safe_passes_with_a_second_round_at_a_contested_height() {
    assert_passes(&scenario("second-round"), PINNED_SECOND_ROUND);
}

/// Two leaders over three ballots and more among five servers: every property holds, and
/// the examples that need it are reached (two leaders at one height, a server accepting
/// from one leader after promising the other, a third ballot's leader hearing of two
/// different accepted blocks). The largest check CI runs: minutes, not seconds.
#[test]
fn safe_passes_with_two_leaders_over_three_ballots_among_five_servers() {
    let cfg = scenario("three-ballots");
    let names: Vec<&str> = (build(&cfg).properties.iter()).map(|p| p.name).collect();
    for example in [
        "two leaders propose at one height",
        "a server accepts from one leader after promising the other",
        "a third ballot's leader hears two different accepted blocks",
    ] {
        assert!(names.contains(&example), "{example} is not checked");
    }
    assert_passes(&cfg, PINNED_THREE_BALLOTS);
}

/// The two examples of competing leaders need what their names say, so that "reached"
/// means something: with one leader no server ever accepts from another after promising
/// it, and with one round per leader no leader hears of two accepted blocks below its
/// ballot (there is one ballot below it at most).
#[test]
fn the_examples_of_competing_leaders_are_never_reached_without_them() {
    use paxchain_model::properties::{
        accepts_after_promising_another, leader_hears_two_accepted_blocks,
    };
    let one_leader = sum_over(&scenario("five"), None, |m, s| {
        usize::from(accepts_after_promising_another(m, s))
    });
    assert_eq!(one_leader, 0);
    let one_round = sum_over(&scenario("five-contest"), None, |m, s| {
        usize::from(leader_hears_two_accepted_blocks(m, s))
    });
    assert_eq!(one_round, 0);
}

/// Every heavy preset is a preset, and only those are left out of the light ones.
#[test]
fn the_light_presets_are_every_preset_but_the_heavy_ones() {
    let all: Vec<&str> = scenarios::all().iter().map(|s| s.name).collect();
    let light: Vec<&str> = scenarios::light().iter().map(|s| s.name).collect();
    for heavy in scenarios::HEAVY {
        assert!(all.contains(heavy), "{heavy} is not a preset");
        assert!(!light.contains(heavy), "{heavy} is light");
    }
    assert_eq!(light.len() + scenarios::HEAVY.len(), all.len());
}

#[test]
fn safe_passes_with_two_leaders_among_five_servers() {
    assert_passes(&scenario("five-contest"), PINNED_FIVE_CONTEST);
}

/// The preset that catches a leader re-proposing committed transfers must itself pass.
#[test]
fn safe_passes_with_a_promiser_lagging_behind_a_second_block() {
    assert_passes(&scenario("lagging-promiser"), PINNED_LAGGING_PROMISER);
}

/// A client that sends invalid, foreign and id-reusing requests gets every one refused, and
/// none of them reaches a log or a chain.
/// Two sessions of one account in flight at once: group commit's staging, its timer and a
/// flush that answers both, with a crash anywhere.
#[test]
fn safe_passes_with_two_sessions_of_one_account_and_a_crash() {
    assert_passes(&scenario("sessions"), PINNED_SESSIONS);
}

#[test]
fn safe_refuses_every_request_of_a_rogue_client() {
    assert_passes(&scenario("rogue-client"), PINNED_ROGUE_CLIENT);
}

#[test]
fn safe_passes_on_the_default_scenario_over_fifo_links() {
    // The default scenario with a FIFO network: competing leaders, the smallest such space.
    let cfg = ModelConfig {
        network: paxchain_model::NetworkKind::Ordered,
        ..scenario("default")
    };
    assert_passes(&cfg, 5_852);
}

/// The violations of the first violating state the checker finds in `cfg` (one state often
/// breaks several properties), each as replayable steps, by property name.
fn first_violations(cfg: &ModelConfig) -> (BankModel, BTreeMap<&'static str, Vec<Step>>) {
    let model = build(cfg);
    let options = SearchOptions {
        finish_when: HasDiscoveries::AnyFailures,
        breadth_first: true,
        ..model.search_options()
    };
    let checker = Search::spawn(model, options).join();
    let model = checker.model().clone();
    let failures: BTreeMap<&'static str, Vec<Step>> = (checker.discoveries().into_iter())
        .filter(|(name, _)| {
            let properties = model.properties();
            let p = properties.iter().find(|p| p.name == *name).unwrap();
            !is_example(p)
        })
        .map(|(name, path)| (name, steps(&path)))
        .collect();
    assert!(
        !failures.is_empty(),
        "the literal variant has a counterexample"
    );
    (model, failures)
}

#[test]
fn literal_appends_a_duplicated_commit_twice() {
    let cfg = ModelConfig {
        variant: Variant::Literal,
        ..scenario("default")
    };
    let (model, failures) = first_violations(&cfg);
    let (&name, trace) = failures.iter().next().expect("one at least");
    let trace = trace.clone();
    assert!(
        // A block appended twice holds its transfers twice: the books then move more money
        // than the receipts say (money conserved), and may overdraw (no double spend).
        ["exactly once", "no double spend", "money conserved"].contains(&name),
        "unexpected first violation: {name}"
    );
    let property = model
        .properties()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap();
    let broken = |s: &paxchain_model::BankState| !(property.condition)(&model, s);
    // The trace replays to a violating state, also after a trip through JSON.
    let json = serde_json::to_string(&trace).unwrap();
    let trace: Vec<Step> = serde_json::from_str(&json).unwrap();
    assert!(broken(&replay(&model, &trace).expect("the trace replays")));
    // Shrunk to what matters, it ends with the same COMMIT delivered twice to one server.
    let short = shrink(&model, &trace, broken);
    assert!(short.len() <= trace.len());
    assert!(broken(&replay(&model, &short).unwrap()));
    let commits: Vec<&Step> = short
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::Deliver {
                    msg: Msg::Peer(PeerMsg::Commit { .. }),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(commits.len(), 2, "{short:?}");
    assert_eq!(commits[0], commits[1]);
}

#[test]
fn literal_lets_two_leaders_commit_different_blocks_at_one_height() {
    // On a network that never duplicates, the literal protocol still forks the chain: two
    // leaders each build a block from ACCEPTED replies that no quorum ever accepted.
    let cfg = ModelConfig {
        variant: Variant::Literal,
        network: paxchain_model::NetworkKind::Unordered,
        ..scenario("default")
    };
    let (model, failures) = first_violations(&cfg);
    let trace = (failures.get("chain prefix agreement"))
        .unwrap_or_else(|| panic!("a fork, not only {:?}", failures.keys()));
    let last = replay(&model, trace).expect("the trace replays");
    let tips: Vec<_> = last.actor_states[..2]
        .iter()
        .map(|s| s.server().unwrap().storage.chain.tip().clone())
        .collect();
    assert_eq!(tips[0].height, tips[1].height);
    assert_ne!(tips[0].hash, tips[1].hash);
}

#[test]
fn a_step_that_is_not_enabled_does_not_replay() {
    let model = build(&scenario("tiny"));
    let bogus = vec![Step::Crash { actor: 7 }];
    assert!(replay(&model, &bogus).is_none());
    assert!(replay(&model, &[]).is_some());
}

// Unique states of each preset with the reductions (see spec/properties.md). A change here
// is a change to the protocol's reachable states: explain it in the commit.
const PINNED_DEFAULT: usize = 3_012;
const PINNED_TINY: usize = 11_537;
const PINNED_COURSE: usize = 54_755;
const PINNED_CRASH_LOSS: usize = 57_451;
const PINNED_FIVE: usize = 8_274;
const PINNED_CONTEST_CRASH: usize = 102_163;
const PINNED_RETRY_CRASH: usize = 165_141;
const PINNED_SECOND_ROUND: usize = 557_389;
const PINNED_FIVE_CONTEST: usize = 185_299;
const PINNED_THREE_BALLOTS: usize = 19_492_726;
const PINNED_LAGGING_PROMISER: usize = 24_303;
const PINNED_ROGUE_CLIENT: usize = 232_949;
const PINNED_SESSIONS: usize = 79_023;
const PINNED_SMALL_BLOCKS: usize = 4_226;
const PINNED_SMALL_BLOCKS_UNBOUNDED: usize = 4_234;

/// Blocks of one transfer (`max_block` 1): A pays 3 units with 1 of its own and one unit
/// from each of B and C, both pending in their logs. One block cannot carry both credits, so
/// A's transfer succeeds after consensus (the property's `sometimes`) only if the leader
/// leaves the second credit for the next height and, its block not being the whole of the
/// pending transfers, runs another round instead of refusing.
#[test]
fn safe_passes_with_blocks_too_small_for_every_pending_transfer() {
    let (a, b) = (paxchain::Account(0), paxchain::Account(1));
    let cfg = ModelConfig {
        workloads: vec![vec![(b, 3)], vec![(a, 1)], vec![(a, 1)]],
        max_block: 1,
        max_round: 2,
        network: paxchain_model::NetworkKind::Ordered,
        ..ModelConfig::default()
    };
    assert_passes(&cfg, PINNED_SMALL_BLOCKS);
    let whole = ModelConfig {
        max_block: paxchain::ServerConfig::MAX_BLOCK,
        ..cfg
    };
    assert_passes(&whole, PINNED_SMALL_BLOCKS_UNBOUNDED);
}
