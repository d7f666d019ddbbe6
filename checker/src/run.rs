//! Running a search and deciding honestly how it ended.
//!
//! stateright 0.31 ignores `.timeout()` with one thread and still reports "done" after it
//! with two, so this module never asks it for a timeout: it polls the checker once a second,
//! prints progress, and itself declares the search cut short when the time runs out or the
//! depth bound was reached. A cut-short search is reported as such and exits 2.

use crate::report::{self, Ending, SearchResult};
use crate::{CheckArgs, Strategy};
use paxchain_model::properties::is_example;
use paxchain_model::search::{Defect, Search, SearchOptions};
use paxchain_model::trace::{self, Action, Step};
use paxchain_model::{build, BankModel, ModelConfig};
use stateright::{Checker, Expectation, HasDiscoveries, Model, UniformChooser};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs `check` and prints the report; the exit code says how it ended.
pub fn check(cfg: &ModelConfig, args: &CheckArgs) -> ExitCode {
    let model = build(cfg);
    let timeout = match (args.timeout, args.strategy) {
        (Some(t), _) => Some(Duration::from_secs(t)),
        (None, Strategy::Simulation) => Some(Duration::from_secs(60)),
        (None, _) => None,
    };
    let mut model = model;
    let outcome = match args.strategy {
        Strategy::Bfs | Strategy::Dfs => {
            let o = search(&model, search_options(&model, args), timeout, args);
            let several = args.strategy == Strategy::Bfs && args.threads > 1;
            match violation_depth(&o) {
                Some(depth) if several && !args.all_violations => {
                    let (m, one) = again_on_one_thread(cfg, args, depth, timeout, o);
                    model = m.unwrap_or(model);
                    one
                }
                _ => o,
            }
        }
        Strategy::Swarm => return ExitCode::from(crate::swarm::check(cfg, args)),
        Strategy::Simulation => simulate(&model, timeout, args),
    };
    let code = report::print(cfg, &model, &outcome, args.json);
    if let Some(file) = &args.html {
        crate::html::write_pages(file, &model, &outcome);
    }
    if args.coverage && !args.json {
        crate::coverage::print(&model);
    }
    if matches!(outcome.ending, Ending::Incomplete(_)) {
        // The search threads may still be running: end the process rather than wait.
        std::process::exit(i32::from(code));
    }
    ExitCode::from(code)
}

/// stateright's random walks: never complete.
fn simulate(model: &BankModel, timeout: Option<Duration>, args: &CheckArgs) -> SearchResult {
    let mut builder = model.checker_builder().threads(args.threads.max(1));
    if let Some(d) = args.max_depth {
        builder = builder.target_max_depth(d);
    }
    if !args.all_violations {
        builder = builder.finish_when(HasDiscoveries::AnyFailures);
    }
    let checker = builder.spawn_simulation(args.seed, UniformChooser);
    // stateright's checkers can only be polled.
    let poll = |c: &_, d: Duration| {
        let end = Instant::now() + d;
        while !Checker::is_done(c) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // stateright 0.31's simulation checker records some paths it cannot rebuild, and then
    // `discoveries()` panics. Such discoveries are dropped (and said to be) rather than trusted.
    let found = |c: &_| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rebuilt =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Checker::discoveries(c)));
        std::panic::set_hook(hook);
        let paths = rebuilt.ok()?;
        Some(
            paths
                .into_iter()
                .map(|(name, p)| (name, (0, p.into_actions())))
                .collect(),
        )
    };
    let mut o = drive(checker, poll, found, |_| Vec::new(), timeout, args);
    if !matches!(o.ending, Ending::Incomplete(_)) {
        o.ending = Ending::Incomplete("a simulation never covers every state".into());
    }
    o
}

/// The options of paxchain's own search, in either order.
fn search_options(model: &BankModel, args: &CheckArgs) -> SearchOptions<BankModel> {
    let own = model.search_options();
    SearchOptions {
        sleep_sets: own.sleep_sets && !args.no_sleep_sets,
        threads: args.threads.max(1),
        max_depth: args.max_depth,
        finish_when: if args.all_violations {
            HasDiscoveries::All
        } else {
            HasDiscoveries::AnyFailures
        },
        breadth_first: args.strategy == Strategy::Bfs,
        audit_every: args.audit,
        ..own
    }
}

/// Runs paxchain's own search of `model` with `options` to its end (or `timeout`).
fn search(
    model: &BankModel,
    options: SearchOptions<BankModel>,
    timeout: Option<Duration>,
    args: &CheckArgs,
) -> SearchResult {
    let search = Search::spawn(model.clone(), options);
    let found = |s: &Search<BankModel>| Some(s.discovered_actions());
    let defects = |s: &Search<BankModel>| s.defects().iter().map(describe).collect();
    drive(search, |s, d| _ = s.wait(d), found, defects, timeout, args)
}

/// The length of the longest confirmed counterexample of an `always` property in `o`.
fn violation_depth(o: &SearchResult) -> Option<usize> {
    (o.properties.iter())
        .filter(|p| p.expectation == Expectation::Always && p.confirmed == Some(true))
        .filter_map(|p| p.steps.as_ref().map(Vec::len))
        .max()
}

/// A breadth-first search on several threads found a violation within `depth` steps; but
/// its threads finish a level at different times, so which violation they meet first
/// varies. One thread, bounded just past that depth, meets the same one every run: its
/// result and model, or (if it somehow meets none) `first`, since a bounded search that
/// found nothing must never read as "holds".
fn again_on_one_thread(
    cfg: &ModelConfig,
    args: &CheckArgs,
    depth: usize,
    timeout: Option<Duration>,
    first: SearchResult,
) -> (Option<BankModel>, SearchResult) {
    eprintln!(
        "a violation within {depth} steps: searching again breadth-first on one thread to \
         that depth, for the counterexample every run gives"
    );
    let again = build(cfg);
    let options = SearchOptions {
        threads: 1,
        // The initial state is at depth 1, and the deepest are not checked.
        max_depth: Some(depth + 2),
        ..search_options(&again, args)
    };
    let one = search(&again, options, timeout, args);
    if violation_depth(&one).is_some() {
        return (Some(again), one);
    }
    eprintln!("(one thread did not meet it: the first search's trace stands)");
    (None, first)
}

/// A defect of the search, for people.
fn describe(d: &Defect) -> String {
    let what = match d.property {
        Some(p) => format!("a discovery of \"{p}\""),
        None => "a state audited".to_string(),
    };
    format!("{what} after {} steps: {}", d.steps, d.why)
}

/// Each discovery's initial state and actions; `None` if the checker cannot rebuild them.
/// (`drive` also takes the checker's defects, as lines for people.)
type Found = Option<HashMap<&'static str, (usize, Vec<Action>)>>;

/// Waits for `checker` to end (`wait(checker, at most)` returns early when it does),
/// printing progress to stderr once a second, then reads its discoveries with `found`.
fn drive<C: Checker<BankModel>>(
    checker: C,
    wait: impl Fn(&C, Duration),
    found: impl Fn(&C) -> Found,
    defects: impl Fn(&C) -> Vec<String>,
    timeout: Option<Duration>,
    args: &CheckArgs,
) -> SearchResult {
    let start = Instant::now();
    let mut last_print = Instant::now();
    let mut last_count = 0;
    let mut timed_out = false;
    while !checker.is_done() {
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            timed_out = true;
            break;
        }
        let next_print = Duration::from_secs(1).saturating_sub(last_print.elapsed());
        let left = timeout.map_or(next_print, |t| t.saturating_sub(start.elapsed()));
        wait(&checker, next_print.min(left));
        if last_print.elapsed() >= Duration::from_secs(1) {
            let unique = checker.unique_state_count();
            let rate = (unique - last_count) as f64 / last_print.elapsed().as_secs_f64();
            eprintln!(
                "  {:>6.1}s  states {:>11}  unique {:>10}  depth {:>3}  {:>9.0} unique/s",
                start.elapsed().as_secs_f64(),
                checker.state_count(),
                unique,
                checker.max_depth(),
                rate
            );
            last_print = Instant::now();
            last_count = unique;
        }
    }
    let elapsed = start.elapsed();
    let model = checker.model();
    let rebuilt = found(&checker);
    let lost_paths = rebuilt.is_none();
    let discoveries = rebuilt.unwrap_or_default();
    let all_discovered = model
        .properties()
        .iter()
        .all(|p| discoveries.contains_key(p.name));
    let any_violation = model
        .properties()
        .iter()
        .any(|p| !is_example(p) && discoveries.contains_key(p.name));
    let ending = if lost_paths {
        Ending::Incomplete("the checker could not rebuild the paths it found".into())
    } else if timed_out {
        Ending::Incomplete(format!("timeout after {} s", elapsed.as_secs()))
    } else if args.max_depth.is_some_and(|d| checker.max_depth() >= d) {
        Ending::Incomplete(format!("depth bound {} reached", checker.max_depth()))
    } else if all_discovered {
        Ending::StoppedEarly("every property had a discovery".into())
    } else if any_violation && !args.all_violations {
        // `finish_when(AnyFailures)` stopped it: not every state was seen.
        Ending::StoppedEarly("stopped at the first violation".into())
    } else {
        Ending::Complete
    };
    let properties = model
        .properties()
        .iter()
        .map(|p| {
            // Steps start at the model's one initial state (index 0); were it another, the
            // replay below would say the discovery does not replay.
            let mut steps: Option<Vec<Step>> = (discoveries.get(p.name))
                .map(|(_, actions)| actions.iter().map(Step::from_action).collect());
            // Re-check every discovery by replaying it: the simulation checker can report
            // paths that do not lead where it says.
            let is_bad =
                |state: &paxchain_model::BankState| (p.condition)(model, state) == is_example(p);
            let confirmed = steps
                .as_ref()
                .map(|s| trace::replay(model, s).is_some_and(|last| is_bad(&last)));
            // Violations of `always` are shortened to the steps that matter. (An `eventually`
            // counterexample must end in a terminal state, which shrinking could break.)
            if confirmed == Some(true) && p.expectation == Expectation::Always {
                steps = steps.map(|s| trace::shrink(model, &s, |st| !(p.condition)(model, st)));
            }
            // The explorer's link, printed for a violation only.
            let explorer_path = (steps.as_ref())
                .filter(|_| !is_example(p))
                .and_then(|s| trace::explorer_path(model, s));
            report::PropertyResult {
                name: p.name,
                expectation: p.expectation.clone(),
                steps,
                confirmed,
                explorer_path,
            }
        })
        .collect();
    SearchResult {
        ending,
        simulation: args.strategy == Strategy::Simulation,
        defects: defects(&checker),
        breadth_first: args.strategy == Strategy::Bfs,
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        elapsed,
        properties,
    }
}

/// Serves the explorer; blocks until the process is interrupted.
pub fn explore(cfg: &ModelConfig, addr: &str, threads: usize) -> ExitCode {
    eprintln!(
        "Serving the explorer for {} servers ({} variant) on http://{addr}/ ; \
         press Ctrl-C to stop.",
        cfg.servers, cfg.variant
    );
    eprintln!(
        "Click \"Run to completion\" to search; each property's discovery becomes a link \
         that opens its trace step by step."
    );
    build(cfg).checker().threads(threads.max(1)).serve(addr);
    ExitCode::SUCCESS
}
