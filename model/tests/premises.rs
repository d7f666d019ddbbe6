//! The reductions' premises about the handlers are decided by the handlers and checked as the
//! search goes (model/src/premises.rs), so a wrong premise is caught with the reductions on:
//! - reduction 4's rule written wrongly, calling a message ignored that the handler acts on
//!   now: the message stays in flight, and the search says how often;
//! - the rule written wrongly, calling a message ignored for good that a later state counts:
//!   the step to that state fails the check, and the search says so;
//! - the handler's own check written wrongly under a correct rule (a vote counted from
//!   another ballot, a stale request executed, an accepted block not saved): each is caught
//!   by the property it breaks, with every reduction on, as `paxchain-check zoo` shows for
//!   the whole zoo;
//! - correct handlers and rules break no premise in any preset.

use common::scenario;
use paxchain::server::Phase;
use paxchain::{Msg, PeerMsg};
use paxchain_model::node::{Node, NodeState};
use paxchain_model::premises::IgnoreRule;
use paxchain_model::properties::is_example;
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::{build, scenarios, BankModel, ModelConfig};
use stateright::actor::Id;
use stateright::{Checker, HasDiscoveries};

mod common;

/// A complete search of `cfg` with reduction 4's rule `rule`: the model, its unique states
/// and the properties with a discovery.
fn search_with(cfg: &ModelConfig, rule: IgnoreRule) -> (BankModel, usize, Vec<&'static str>) {
    let mut model = build(cfg);
    model.premises.rule = rule;
    let options = SearchOptions {
        threads: 2,
        finish_when: HasDiscoveries::AnyFailures,
        ..model.search_options()
    };
    let done = Search::spawn(model.clone(), options).join();
    let mut found: Vec<_> = done.discoveries().keys().copied().collect();
    found.sort();
    (model, done.unique_state_count(), found)
}

/// The correct rule, except that a COMMIT of the next block, which the handler appends, is
/// called ignored too (`<=` for `<`): wrong now.
fn commit_at_the_tip_ignored(node: &Node, st: &NodeState, src: Id, msg: &Msg) -> bool {
    match (st, msg) {
        (NodeState::Server(s), Msg::Peer(PeerMsg::Commit { block, .. })) => {
            block.height <= s.storage.chain.next_height()
        }
        _ => node.ignores_forever(st, src, msg),
    }
}

/// The correct rule, except that a PROMISE is called ignored whenever the round in progress
/// does not count it, forgetting the rounds this server may yet start: right in every
/// reachable state (a promise never arrives before its PREPARE left), wrong for good.
fn promise_for_a_later_round_ignored(node: &Node, st: &NodeState, src: Id, msg: &Msg) -> bool {
    match (st, msg) {
        (NodeState::Server(s), Msg::Peer(PeerMsg::Promise { ballot, height, .. })) => {
            !s.round.as_ref().is_some_and(|r| {
                r.ballot == *ballot
                    && r.height == *height
                    && matches!(r.phase, Phase::Electing { .. })
                    && !r.phase.voters().contains(usize::from(src))
            })
        }
        _ => node.ignores_forever(st, src, msg),
    }
}

#[test]
fn a_rule_that_calls_a_message_ignored_that_the_handler_acts_on_keeps_it_in_flight() {
    let cfg = scenario("default");
    let (right, states, verdicts) = search_with(&cfg, Node::ignores_forever);
    assert_eq!(right.premises.kept().0, 0);
    let (wrong, mutant_states, mutant_verdicts) = search_with(&cfg, commit_at_the_tip_ignored);
    let (kept, first) = wrong.premises.kept();
    assert!(
        kept > 0,
        "the handler acts on the COMMITs the mutant calls ignored"
    );
    assert!(first.expect("described").contains("Commit"));
    // The search stayed sound: it explored what the handler does with them. (The steps
    // after which the handler acts on a COMMIT the mutant still calls ignored fail the
    // check for good as well.)
    assert_eq!((mutant_states, mutant_verdicts), (states, verdicts));
    assert!(wrong.premises.failures().iter().all(|f| f.reduction == 4));
}

#[test]
fn a_rule_that_is_right_now_but_not_for_good_fails_the_check_of_a_later_step() {
    let cfg = scenario("default");
    let (wrong, _, _) = search_with(&cfg, promise_for_a_later_round_ignored);
    assert!(wrong.premises.failure_count() > 0);
    let failure = &wrong.premises.failures()[0];
    assert_eq!(failure.reduction, 4);
    assert!(failure.what.contains("Promise"), "{failure}");
    assert!(failure.what.contains("no longer after a step"), "{failure}");
}

#[test]
fn correct_handlers_keep_every_premise_in_every_preset() {
    for s in scenarios::light() {
        let (model, _, found) = search_with(&s.config, Node::ignores_forever);
        let violated = (model.properties.iter())
            .filter(|p| !is_example(p) && found.contains(&p.name))
            .count();
        assert_eq!(violated, 0, "{}: {found:?}", s.name);
        assert_eq!(
            model.premises.failure_count(),
            0,
            "{}: {:?}",
            s.name,
            model.premises.failures()
        );
        assert_eq!(model.premises.kept().0, 0, "{}", s.name);
    }
}

/// Each bug below escaped every preset while a seeded bug switched the reductions off: the
/// rule reduction 4 copies from the handler, or the durable state reduction 6 assumes, hid
/// it. With the premises decided by the handlers, each is caught with the reductions on.
#[cfg(feature = "bug-zoo")]
#[test]
fn handler_bugs_under_the_reductions_premises_are_caught_with_the_reductions_on() {
    use paxchain::bugs::Bug;
    use paxchain_model::zoo::catching_config;
    for bug in [
        Bug::StaleVotesCounted,
        Bug::StaleRequestExecuted,
        Bug::AcceptedNotSaved,
    ] {
        let cfg = catching_config(bug);
        assert!(
            cfg.reduce,
            "{bug}: its preset checks with the reductions on"
        );
        let (model, _, violated) = search_with(&cfg, Node::ignores_forever);
        assert!(violated.contains(&bug.caught_by()), "{bug}: {violated:?}");
        if bug != Bug::AcceptedNotSaved {
            assert!(
                model.premises.kept().0 > 0,
                "{bug}: the handler acts on what the rule ignores"
            );
        }
    }
}

/// No reduction is chosen by the seeded bug: a model with a bug is reduced exactly as the
/// same model without one, so the zoo checks with the settings a user's check has.
#[cfg(feature = "bug-zoo")]
#[test]
fn no_reduction_is_switched_by_a_seeded_bug() {
    use paxchain::bugs::Bug;
    for s in scenarios::all() {
        let plain = build(&s.config);
        for &bug in Bug::ALL {
            let buggy = build(&ModelConfig {
                bug: Some(bug),
                ..s.config.clone()
            });
            let (a, b) = (plain.search_options(), buggy.search_options());
            let same = plain.cfg.reduce == buggy.cfg.reduce
                && plain.durable == buggy.durable
                && plain.symmetric == buggy.symmetric
                && plain.cfg.explores_loss() == buggy.cfg.explores_loss()
                && plain.cfg.interchangeable_servers() == buggy.cfg.interchangeable_servers()
                && a.fingerprint.map(|f| f as usize) == b.fingerprint.map(|f| f as usize)
                && a.expand.is_some() == b.expand.is_some()
                && plain.premises.rule as usize == buggy.premises.rule as usize;
            assert!(same, "{bug} changes the reductions of {}", s.name);
        }
    }
}

/// And by the source: but for the constructor that hands the bug to the actors (lib.rs), the
/// scripted client's own seeded bug and the zoo, no file of the model reads it (`.bug` or the
/// `bug!` switch), so no reduction, search or fingerprint can depend on it.
#[test]
fn no_file_of_the_model_but_the_actors_setup_reads_the_bug() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = ["lib.rs", "zoo.rs", "scripted_client.rs"];
    let mut read = 0;
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("readable")
                    .map(|e| e.expect("an entry").path()),
            );
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        read += 1;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if allowed.contains(&name) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            assert!(
                !code.contains(".bug") && !code.contains("bug!("),
                "{}:{}: the bug is read here: {line}",
                path.display(),
                n + 1
            );
        }
    }
    assert!(read > 20, "the model's source was read: {read} files");
}
