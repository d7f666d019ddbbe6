//! Rule coverage (model/src/rules.rs): which rules of the protocol each preset's complete
//! search exercises. A preset that stops exercising a branch fails here, and so does a zoo
//! bug whose branch its catching preset never takes.

use paxchain::{Ballot, Height, Msg, PeerMsg};
use paxchain_model::premises::Event;
use paxchain_model::rules::{fired, Rule, Rule::*};
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::{build, scenarios, BankModel, ModelConfig, NodeState};
use stateright::actor::{Actor, Id, Out};
use stateright::{Checker, HasDiscoveries, Model};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Each preset's rules that no step of its complete search fires (`literal`: `default`
/// under the literal variant, searched past its violations). `paxchain-check coverage`
/// prints the counts; spec/properties.md ("Rule coverage") says why each is missing.
#[rustfmt::skip]
const NEVER_FIRED: &[(&str, &[Rule])] = &[
    ("default", &[RefuseInvalid, RefuseReusedId, Stage, FlushOnTimer, GroupCommit,
        AnswerOutranked, RequestCatchUp, NothingToAgree, AnswerCatchUpRequest, HeedOutranked,
        AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash, Restart, ClientRetry]),
    ("tiny", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer, GroupCommit,
        RequestCatchUp, ProposeBounded, NothingToAgree, ApplyCatchUp, AnswerCatchUpRequest,
        StepDown, HeedOutranked, AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash,
        Restart, ClientRetry]),
    ("course", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer, GroupCommit,
        AnswerOutranked, RequestCatchUp, NothingToAgree, AnswerCatchUpRequest, HeedOutranked,
        AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash, Restart, ClientRetry]),
    ("crash-loss", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer,
        GroupCommit, AnswerOutranked, SendCatchUp, RequestCatchUp, ProposeBounded,
        NothingToAgree, ApplyCatchUp, AnswerCatchUpRequest, StepDown, HeedOutranked,
        AnotherInstance, LiteralAccept, LiteralCountAccepted, ClientRetry]),
    ("five", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer, GroupCommit,
        AnswerOutranked, SendCatchUp, RequestCatchUp, ProposeBounded, NothingToAgree,
        ApplyCatchUp, AnswerCatchUpRequest, StepDown, HeedOutranked, AnotherInstance,
        LiteralAccept, LiteralCountAccepted, Crash, Restart, ClientRetry]),
    ("contest-crash", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer,
        GroupCommit, AnswerOutranked, RequestCatchUp, NothingToAgree, AnswerCatchUpRequest,
        HeedOutranked, AnotherInstance, LiteralAccept, LiteralCountAccepted, ClientRetry]),
    ("retry-crash", &[RefuseInvalid, RefuseReusedId, Stage, FlushOnTimer, GroupCommit,
        AnswerOutranked, SendCatchUp, RequestCatchUp, ProposeHighestAccepted, ProposeBounded,
        NothingToAgree, ApplyCatchUp, AnswerCatchUpRequest, StepDown, HeedOutranked,
        AnotherInstance, LiteralAccept, LiteralCountAccepted]),
    ("second-round", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer,
        GroupCommit, LiteralAccept, LiteralCountAccepted, Crash, Restart, ClientRetry]),
    ("five-contest", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer,
        GroupCommit, AnswerOutranked, RequestCatchUp, NothingToAgree, AnswerCatchUpRequest,
        HeedOutranked, AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash, Restart,
        ClientRetry]),
    ("rogue-client", &[AnswerAgain, Stage, FlushOnTimer, GroupCommit, RequestCatchUp,
        ProposeBounded, NothingToAgree, ApplyCatchUp, AnswerCatchUpRequest, StepDown,
        HeedOutranked, AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash, Restart,
        ClientRetry]),
    ("lagging-promiser", &[RefuseInvalid, RefuseReusedId, AnswerAgain, Stage, FlushOnTimer,
        GroupCommit, AnswerOutranked, SendCatchUp, ProposeBounded, StepDown, HeedOutranked,
        AnotherInstance, LiteralAccept, LiteralCountAccepted, Crash, Restart, ClientRetry]),
    ("sessions", &[RefuseInvalid, RefuseReusedId, AnswerOutranked, RequestCatchUp,
        ProposeHighestAccepted, ProposeBounded, NothingToAgree, ApplyCatchUp,
        AnswerCatchUpRequest, StepDown, HeedOutranked, AnotherInstance, LiteralAccept,
        LiteralCountAccepted, ClientRetry]),
    ("literal", &[RefuseInvalid, RefuseReusedId, Stage, FlushOnTimer, GroupCommit,
        AnswerOutranked, SendCatchUp, RequestCatchUp, GatherOnTimer, ProposeHighestAccepted,
        ProposeFresh, ProposeBounded, NothingToAgree, AcceptBlock, CountAccepted, ApplyCatchUp,
        AnswerCatchUpRequest, HeedOutranked, AnotherInstance, Crash, Restart, ClientRetry]),
];

fn config(name: &str) -> ModelConfig {
    match name {
        "literal" => ModelConfig {
            variant: paxchain::Variant::Literal,
            ..scenarios::by_name("default").expect("a preset").config
        },
        _ => scenarios::by_name(name).expect("a preset").config,
    }
}

/// A complete search of `cfg` on one thread (the same steps every run); the model, whose
/// coverage it filled.
fn searched(cfg: &ModelConfig) -> BankModel {
    let model = build(cfg);
    let options = SearchOptions {
        threads: 1,
        finish_when: HasDiscoveries::All,
        ..model.search_options()
    };
    Search::spawn(model.clone(), options).join();
    model
}

#[test]
fn each_preset_exercises_its_pinned_rules_and_every_rule_fires_somewhere() {
    let mut fired_somewhere: BTreeSet<Rule> = BTreeSet::new();
    for (name, pinned) in NEVER_FIRED {
        let model = searched(&config(name));
        let got: BTreeSet<Rule> = model.coverage.never_fired().into_iter().collect();
        assert_eq!(
            got,
            pinned.iter().copied().collect(),
            "{name}: the rules never fired"
        );
        fired_somewhere.extend(Rule::ALL.iter().filter(|r| !got.contains(r)));
    }
    let nowhere: Vec<&str> = (Rule::ALL.iter())
        .filter(|r| !fired_somewhere.contains(*r))
        .map(|r| r.name())
        .collect();
    assert!(nowhere.is_empty(), "rules no preset exercises: {nowhere:?}");
    assert_eq!(
        NEVER_FIRED.len(),
        scenarios::light().len() + 1,
        "every preset is pinned"
    );
}

/// Every zoo bug's branch is exercised by its catching preset, correct: a hunt there has a
/// chance. (Read from the pins, which the test above holds to the searches.)
#[cfg(feature = "bug-zoo")]
#[test]
fn each_zoo_bug_s_branch_fires_in_its_catching_preset() {
    use paxchain::bugs::Bug;
    use paxchain_model::zoo::{catching_scenario, rule_of};
    for &bug in Bug::ALL {
        let Some(rule) = rule_of(bug) else {
            continue;
        };
        let preset = catching_scenario(bug);
        if scenarios::HEAVY.contains(&preset) {
            // Too large to search here: model/tests/three_ballots.rs checks it.
            continue;
        }
        let (_, never) = (NEVER_FIRED.iter().find(|(name, _)| *name == preset))
            .unwrap_or_else(|| panic!("{preset} is pinned"));
        assert!(
            !never.contains(&rule),
            "{bug}: its preset {preset} never fires `{}`",
            rule.name()
        );
    }
}

/// The rules read off real handler steps: a PREPARE above the promise is granted, one from
/// an older round answered OUTRANKED.
#[test]
fn a_step_fires_the_rules_its_effects_show() {
    let model = build(&config("default"));
    let b = &model.actors[1];
    let start: NodeState = model.init_states()[0].actor_states[1].as_ref().clone();
    let step = |st: &NodeState, ballot: Ballot| {
        let msg = Msg::Peer(PeerMsg::Prepare {
            ballot,
            height: Height(1),
        });
        let mut state = Cow::Borrowed(st);
        let mut out = Out::new();
        b.on_msg(Id::from(1), &mut state, Id::from(0), msg.clone(), &mut out);
        let after = state.into_owned();
        let event = Event::Delivery {
            src: Id::from(0),
            msg: &msg,
        };
        let rules = fired(b, st, &event, &after, &out);
        (after, rules)
    };
    let (promised, rules) = step(&start, Ballot::new(2, 0));
    assert_eq!(rules, vec![GrantPromise]);
    let (_, rules) = step(&promised, Ballot::new(1, 2));
    assert_eq!(rules, vec![AnswerOutranked]);
}
