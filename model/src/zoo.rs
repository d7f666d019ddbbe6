//! The bug zoo's other half: for each seeded bug (`paxchain::bugs::Bug`), the smallest preset
//! that catches it, and the hunt that shows it does.
//!
//! A hunt searches the preset with the bug switched on, breadth-first, and stops as soon as
//! the property the bug names is violated. Its counterexample is replayed (a discovery that
//! does not replay is the tool's bug, not a result) and shrunk until no step can go. On one
//! thread the search is deterministic, so the trace's length can be pinned.
//!
//! [`swarm_config`] is the large configuration the swarm search must catch every bug on.

use crate::properties::is_example;
use crate::rules::Rule;
use crate::search::{Search, SearchOptions};
use crate::trace::{self, Step};
use crate::{build, scenarios, BankModel, BankState, ModelConfig};
use paxchain::bugs::Bug;
use stateright::{Checker, HasDiscoveries};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The preset that catches `bug`: of those that do within 5 s, the one with the fewest states
/// (`paxchain-check zoo --matrix` hunts every bug on every preset). `default` comes first:
/// its duplicating network resends requests as a client's retry would.
pub fn catching_scenario(bug: Bug) -> &'static str {
    match bug {
        Bug::QuorumOfHalf => "default",
        Bug::StaleVotesCounted => "second-round",
        Bug::BallotTieIgnoresLeader => "default",
        Bug::PromiseNotRaised => "default",
        Bug::AcceptIgnoresPromise => "default",
        Bug::IgnoreAcceptedInPromises => "default",
        Bug::FirstAcceptedNotHighest => "second-round",
        Bug::ReproposeCommitted => "lagging-promiser",
        Bug::PromiseNotSaved => "contest-crash",
        Bug::AcceptedNotSaved => "contest-crash",
        Bug::LogNotSaved => "default",
        Bug::OutcomeNotSaved => "retry-crash",
        Bug::RestartResetsPromise => "contest-crash",
        Bug::RestartDropsLog => "crash-loss",
        Bug::RetryExecutedAgain => "default",
        Bug::AnsweredIdReused => "rogue-client",
        Bug::StaleRequestExecuted => "default",
        Bug::CatchUpKeepsLog => "default",
        Bug::FastPathIgnoresLog => "default",
        Bug::CommitClearsLog => "default",
        Bug::RetryNewId => "retry-crash",
        Bug::SessionsShareOutcome => "sessions",
        Bug::AnsweredBeforeFlush => "sessions",
        Bug::SlowPathSkipsSignature => "rogue-client",
        Bug::SignatureLeavesOutAmount => "rogue-client",
        Bug::PeerCheckIgnoresReceiver => "rogue-client",
        Bug::QuorumOfAThird => "five-contest",
        Bug::CommitOnTwoReports => "three-ballots",
    }
}

/// The rule (crate::rules) whose branch a bug's line is in: the branch its catching preset
/// must exercise for the hunt to have a chance, which model/tests/coverage.rs checks.
/// `None` for a bug in a branch whose correct form does nothing (drops a stale copy,
/// ignores a relay): stateright takes no step that changes nothing, so there is no step to
/// count, and only the bug's own step shows.
pub fn rule_of(bug: Bug) -> Option<Rule> {
    Some(match bug {
        Bug::QuorumOfHalf => Rule::CountPromise,
        Bug::StaleVotesCounted => Rule::CountAccepted,
        Bug::BallotTieIgnoresLeader => Rule::StartElection,
        Bug::PromiseNotRaised => Rule::GrantPromise,
        Bug::AcceptIgnoresPromise => Rule::AcceptBlock,
        Bug::IgnoreAcceptedInPromises => Rule::ProposeHighestAccepted,
        Bug::FirstAcceptedNotHighest => Rule::ProposeHighestAccepted,
        Bug::ReproposeCommitted => Rule::ProposeFresh,
        Bug::PromiseNotSaved => Rule::GrantPromise,
        Bug::AcceptedNotSaved => Rule::AcceptBlock,
        Bug::LogNotSaved => Rule::FlushAtOnce,
        Bug::OutcomeNotSaved => Rule::FlushAtOnce,
        Bug::RestartResetsPromise => Rule::Restart,
        Bug::RestartDropsLog => Rule::Restart,
        Bug::RetryExecutedAgain => Rule::AnswerAgain,
        Bug::AnsweredIdReused => Rule::RefuseReusedId,
        Bug::StaleRequestExecuted => return None,
        Bug::CatchUpKeepsLog => Rule::ApplyCatchUp,
        Bug::FastPathIgnoresLog => Rule::FlushAtOnce,
        Bug::CommitClearsLog => Rule::CommitChosen,
        Bug::RetryNewId => Rule::ClientRetry,
        Bug::SessionsShareOutcome => Rule::GroupCommit,
        Bug::AnsweredBeforeFlush => Rule::Stage,
        Bug::SlowPathSkipsSignature => Rule::RefuseInvalid,
        Bug::SignatureLeavesOutAmount => Rule::RefuseInvalid,
        Bug::PeerCheckIgnoresReceiver => return None,
        Bug::QuorumOfAThird => Rule::CountPromise,
        Bug::CommitOnTwoReports => Rule::CountPromise,
    })
}

/// The one large configuration every bug is swarmed on (`paxchain-check zoo --swarm`):
/// five servers (f = 2), up to two down at once, loss and duplication; A and B each pay one
/// unit, then go short and compete to lead, while C pays A; one client resend each, three
/// ballot rounds. Exhaustive search cannot finish it; a swarm is the only search here.
/// A bug whose catching preset has the rogue client gets it here too, at the same server.
pub fn swarm_config(bug: Option<Bug>) -> ModelConfig {
    let default = scenarios::by_name("default").expect("a preset").config;
    ModelConfig {
        servers: 5,
        max_crashes: 2,
        lossy: true,
        network: crate::NetworkKind::Duplicating,
        max_round: 3,
        client_retries: 1,
        workloads: crate::parse_workloads("B1 C2; A1 C1; A1").expect("a valid script"),
        bug,
        rogue: bug.and_then(|b| catching_config(b).rogue),
        ..default
    }
}

/// The model configuration of `bug`'s catching preset, with the bug on.
pub fn catching_config(bug: Bug) -> ModelConfig {
    let name = catching_scenario(bug);
    let scenario = scenarios::by_name(name).expect("the zoo names existing presets");
    ModelConfig {
        bug: Some(bug),
        ..scenario.config
    }
}

/// How a hunt for one bug ended.
#[derive(Clone, Debug)]
pub struct Hunt {
    /// The bug hunted.
    pub bug: Bug,
    /// The shrunk counterexample that breaks the bug's property, if one was found and replays.
    pub trace: Option<Vec<Step>>,
    /// Every `always` property the trace's last state breaks (the expected one among them).
    pub broken: Vec<&'static str>,
    /// Unique states the search visited.
    pub unique: usize,
    /// Wall time of search, replay and shrinking.
    pub elapsed: Duration,
    /// Why there is no trace, if there is none.
    pub failure: Option<Escape>,
    /// How often the bug's handlers broke a reduction's premise (`crate::premises`), and how
    /// many messages reduction 4 kept in flight because the handler acts on them: evidence
    /// of the bug too, and proof that the reductions stepped aside for it.
    pub premises_broken: u64,
    pub kept: u64,
}

/// Why a hunt ended without a counterexample.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Escape {
    /// The time ran out first: the preset may still catch it, given longer.
    #[error("not caught within {0} s")]
    TimedOut(u64),
    /// Every reachable state was visited: this preset cannot catch the bug.
    #[error("the complete search never broke `{0}`")]
    NeverBroken(&'static str),
    /// The checker reported a path that does not lead to a violation: the tool's bug.
    #[error("the discovery does not replay")]
    DoesNotReplay,
}

impl Hunt {
    /// Whether the bug's own property caught it with a trace that replays.
    pub fn caught(&self) -> bool {
        self.trace.is_some() && self.broken.contains(&self.bug.caught_by())
    }
}

/// Searches `cfg` (which runs `bug`) breadth-first on `threads` threads until the bug's
/// property is violated, the space is exhausted, or `timeout` passes. With more than one
/// thread, the threads race and the counterexample can differ from run to run.
pub fn hunt(bug: Bug, cfg: &ModelConfig, threads: usize, timeout: Duration) -> Hunt {
    let start = Instant::now();
    let model = build(cfg);
    let property = bug.caught_by();
    let options = SearchOptions {
        threads: threads.max(1),
        finish_when: HasDiscoveries::AnyOf(BTreeSet::from([property])),
        breadth_first: true,
        ..model.search_options()
    };
    let checker = Search::spawn(model.clone(), options);
    while !checker.is_done() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(10));
    }
    let unique = checker.unique_state_count();
    let mut result = Hunt {
        bug,
        trace: None,
        broken: Vec::new(),
        unique,
        elapsed: start.elapsed(),
        failure: None,
        premises_broken: model.premises.failure_count(),
        kept: model.premises.kept().0,
    };
    if !checker.is_done() {
        model.stop();
        while !checker.is_done() {
            std::thread::sleep(Duration::from_millis(10));
        }
        result.failure = Some(Escape::TimedOut(timeout.as_secs()));
        return result;
    }
    let Some(path) = checker.discovery(property) else {
        result.failure = Some(Escape::NeverBroken(property));
        return result;
    };
    let violates = |m: &BankModel, s: &BankState| {
        let p = (m.properties.iter().find(|p| p.name == property)).expect("the bug's property");
        !(p.condition)(m, s)
    };
    let steps = trace::steps(&path);
    if !trace::replay(&model, &steps).is_some_and(|s| violates(&model, &s)) {
        result.failure = Some(Escape::DoesNotReplay);
        return result;
    }
    let steps = trace::shrink(&model, &steps, |s| violates(&model, s));
    let last = trace::replay(&model, &steps).expect("a shrunk trace replays");
    result.broken = model
        .properties
        .iter()
        .filter(|p| !is_example(p) && !(p.condition)(&model, &last))
        .map(|p| p.name)
        .collect();
    result.trace = Some(steps);
    result.elapsed = start.elapsed();
    result
}
