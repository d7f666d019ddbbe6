//! The end-of-search report: a table of properties, totals, and each violation's trace,
//! for people or as JSON.

use paxchain_model::explain;
use paxchain_model::trace::{describe_state, replay, Step};
use paxchain_model::{BankModel, ModelConfig};
use serde::Serialize;
use stateright::Expectation;
use std::time::Duration;

/// How a search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every reachable state was visited.
    Complete,
    /// Stopped on purpose before visiting every state (a violation was found).
    StoppedEarly(String),
    /// Cut short: not every state was visited.
    Incomplete(String),
}

/// One property's result.
pub struct PropertyResult {
    pub name: &'static str,
    pub expectation: Expectation,
    /// The discovery's steps: a counterexample, or for `sometimes` the example.
    pub steps: Option<Vec<Step>>,
    /// Whether replaying the steps reproduces the discovery.
    pub confirmed: Option<bool>,
    /// stateright's path encoding, for the explorer's `#/steps/...` link.
    pub explorer_path: Option<String>,
}

/// Everything a search produced.
pub struct SearchResult {
    pub ending: Ending,
    /// Whether stateright's simulation ran (its unreplayable paths are its own defect).
    pub simulation: bool,
    /// Defects of paxchain's search, for people: discoveries that did not stand.
    pub defects: Vec<String>,
    /// Whether the search was breadth-first (its counterexamples are the shortest).
    pub breadth_first: bool,
    pub states: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    pub properties: Vec<PropertyResult>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
enum Status {
    Holds,
    Violated,
    NoViolationFound,
    ExampleFound,
    NeverReached,
    NotReachedYet,
    UnconfirmedDiscovery,
}

impl std::fmt::Display for Status {
    /// The words the table prints: what a person needs to know, in capitals where it is bad.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Holds => "holds",
            Status::Violated => "VIOLATED",
            Status::NoViolationFound => "no violation found (search incomplete)",
            Status::ExampleFound => "reached",
            Status::NeverReached => "NEVER REACHED",
            Status::NotReachedYet => "not reached (search incomplete)",
            Status::UnconfirmedDiscovery => "DEFECT: its discovery does not replay",
        })
    }
}

impl PropertyResult {
    fn status(&self, ending: &Ending) -> Status {
        let incomplete = *ending != Ending::Complete;
        match (&self.expectation, self.confirmed) {
            (_, Some(false)) => Status::UnconfirmedDiscovery,
            (Expectation::Sometimes, Some(true)) => Status::ExampleFound,
            (Expectation::Sometimes, None) if incomplete => Status::NotReachedYet,
            (Expectation::Sometimes, None) => Status::NeverReached,
            (_, Some(true)) => Status::Violated,
            (_, None) if *ending == Ending::Complete => Status::Holds,
            (_, None) => Status::NoViolationFound,
        }
    }
}

fn kind(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Sometimes => "sometimes",
        Expectation::Eventually => "eventually",
    }
}

#[derive(Serialize)]
struct JsonProperty<'a> {
    name: &'a str,
    kind: &'static str,
    status: Status,
    /// The steps, for `replay --trace` (actors by index, as the model numbers them).
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<&'a [Step]>,
    /// The same steps as the text report prints them, actors and accounts by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Vec<String>>,
    /// The command that serves the model in the explorer, and the address of this trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    explorer: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    servers: usize,
    variant: String,
    network: String,
    lossy: bool,
    max_crashes: usize,
    complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cut_short: Option<&'a str>,
    states: usize,
    unique_states: usize,
    max_depth: usize,
    seconds: f64,
    unique_states_per_second: f64,
    properties: Vec<JsonProperty<'a>>,
    /// Defects of the checker: discoveries whose steps do not replay to them.
    defects: Vec<String>,
    /// Reduction premises the handlers broke, in all, and the first few, for people.
    premise_failures: u64,
    premise_failure_examples: Vec<String>,
    /// Messages reduction 4's rule called ignored that the handler acts on, kept in flight.
    kept_by_handler_check: u64,
    /// Rule coverage: each rule of spec/protocol.md and the distinct steps that fired it.
    rules: Vec<crate::coverage::JsonRule>,
    exit_code: u8,
}

/// Keeps a long description readable: its first `n` characters.
fn cut(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{} …", &text[..at]),
        None => text.to_string(),
    }
}

/// Prints what the verdicts above rest on: the checker's own defects, the reductions'
/// premises the handlers broke, and the messages reduction 4 kept because the handler acts.
fn print_trust(model: &BankModel, o: &SearchResult, statuses: &[Status], failed: bool) {
    for (p, s) in o.properties.iter().zip(statuses) {
        if *s != Status::UnconfirmedDiscovery {
            continue;
        }
        if o.simulation {
            println!(
                "\nstateright's simulation checker reported a discovery for \"{}\" whose steps \
                 do not replay to it (stateright 0.31 records some paths it cannot rebuild); \
                 it is not counted.",
                p.name
            );
        } else {
            println!(
                "\nDEFECT OF THE CHECKER, not a result: paxchain's search confirmed a discovery \
                 for \"{}\" on its own thread, but here its steps do not replay to it: a step \
                 depended on what that thread had computed before (the memo of steps).",
                p.name
            );
        }
    }
    if let Some(first) = o.defects.first() {
        println!(
            "\nDEFECT OF THE CHECKER, not a result: {}",
            cut(first, 2000)
        );
        if o.defects.len() > 1 {
            println!(
                "and {} more defects (`--json` lists them all).",
                o.defects.len() - 1
            );
        }
        println!(
            "The search went on past each one, and gives up a property after {} of them; \
             `--no-reduce` avoids the memo and deltas.",
            paxchain_model::search::MAX_DEFECTS_PER_PROPERTY
        );
    }
    let broken = model.premises.failure_count();
    if broken > 0 {
        let stands = if failed {
            "the counterexamples above stand (a reduction only takes behaviours away), but"
        } else {
            "so"
        };
        println!(
            "\nThe handlers broke a reduction's premise {broken} times: {stands} no \"holds\" \
             can be vouched for; `--no-reduce` checks without the reductions. The first:"
        );
        for f in model.premises.failures() {
            println!("  {}", cut(&f.to_string(), 1500));
        }
    }
    let (kept, first) = model.premises.kept();
    if kept > 0 {
        println!(
            "\nReduction 4 kept {kept} messages in flight that its rule calls ignored for good, \
             because the handler acts on them; the search explored what the handler does. The \
             rule (src/server/ignored.rs) and the handler disagree; the first: {}",
            cut(&first.unwrap_or_default(), 1500)
        );
    }
}

/// Prints a counterexample's numbered steps and the state they end in. A message delivered
/// again (the network duplicated it) is marked.
pub fn print_trace(model: &BankModel, steps: &[Step]) {
    let mut delivered = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let again = match step {
            Step::Deliver { src, dst, msg } => {
                let key = (*src, *dst, msg);
                let seen = delivered.contains(&key);
                delivered.push(key);
                seen
            }
            _ => false,
        };
        let mark = if again { "   (again: a duplicate)" } else { "" };
        println!("  {:>3}. {}{mark}", i + 1, step.describe(model));
    }
    if let Some(last) = replay(model, steps) {
        println!("The state that breaks it:");
        print!("{}", describe_state(model, &last));
    }
}

/// Prints the report and returns the exit code: 0 all hold after a complete search, 1 a
/// violation (or an unreached `sometimes` after a complete search), 2 cut short, 3 a defect of
/// the checker, or no violation and a reduction premise the handlers broke.
pub fn print(cfg: &ModelConfig, model: &BankModel, o: &SearchResult, json: bool) -> u8 {
    let statuses: Vec<Status> = o.properties.iter().map(|p| p.status(&o.ending)).collect();
    let failed = statuses
        .iter()
        .any(|s| matches!(s, Status::Violated | Status::NeverReached));
    // stateright's simulation loses some paths it found (its own defect, noted below); any
    // other discovery that does not replay is paxchain's.
    let unconfirmed = !o.simulation && statuses.contains(&Status::UnconfirmedDiscovery);
    let defective = unconfirmed || !o.defects.is_empty();
    let premises_broken = model.premises.failure_count() > 0;
    let code = match (&o.ending, failed) {
        _ if defective => 3,
        (_, true) => 1,
        _ if premises_broken => 3,
        (Ending::Complete, false) => 0,
        _ => 2, // not every state was seen and nothing confirmed a violation
    };
    let secs = o.elapsed.as_secs_f64();
    let rate = o.unique as f64 / secs.max(1e-9);
    if json {
        let cut_short = match &o.ending {
            Ending::Incomplete(why) => Some(why.as_str()),
            _ => None,
        };
        let report = JsonReport {
            servers: cfg.servers,
            variant: cfg.variant.to_string(),
            network: cfg.network.to_string(),
            lossy: cfg.lossy,
            max_crashes: cfg.max_crashes,
            complete: o.ending == Ending::Complete,
            cut_short,
            states: o.states,
            unique_states: o.unique,
            max_depth: o.max_depth,
            seconds: secs,
            unique_states_per_second: rate,
            properties: o
                .properties
                .iter()
                .zip(&statuses)
                .map(|(p, &status)| JsonProperty {
                    name: p.name,
                    kind: kind(&p.expectation),
                    status,
                    trace: p.steps.as_deref(),
                    steps: (p.steps.as_deref())
                        .map(|st| st.iter().map(|s| s.describe(model)).collect()),
                    explorer: p.explorer_path.as_ref().map(|path| explorer_line(path)),
                })
                .collect(),
            defects: o.defects.clone(),
            premise_failures: model.premises.failure_count(),
            premise_failure_examples: (model.premises.failures().iter())
                .map(|f| f.to_string())
                .collect(),
            kept_by_handler_check: model.premises.kept().0,
            rules: crate::coverage::json(model),
            exit_code: code,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report is plain data")
        );
        return code;
    }
    println!();
    println!(
        "{} servers, {} variant, {} network{}, up to {} crashed",
        cfg.servers,
        cfg.variant,
        cfg.network,
        if cfg.lossy { ", lossy" } else { "" },
        cfg.max_crashes
    );
    let width = (o.properties.iter().map(|p| p.name.len()).max()).unwrap_or(0);
    println!("{:<width$} {:<10} result", "property", "kind");
    for (p, s) in o.properties.iter().zip(&statuses) {
        println!("{:<width$} {:<10} {s}", p.name, kind(&p.expectation));
    }
    let ending = match &o.ending {
        Ending::Complete => "complete search".to_string(),
        Ending::StoppedEarly(why) => format!("search {why}"),
        Ending::Incomplete(why) => format!("INCOMPLETE search ({why})"),
    };
    println!(
        "{ending}: {} states, {} unique, depth {}, {:.1} s, {:.0} unique states/s",
        o.states, o.unique, o.max_depth, secs, rate
    );
    print_trust(model, o, &statuses, failed);
    print_counterexamples(model, o);
    code
}

/// Each violated property's counterexample, once per distinct trace: its steps, every
/// property those steps break, and its explorer path.
pub type Counterexample<'a> = (&'a [Step], Vec<&'static str>, Option<&'a String>);

/// The counterexamples of `o`, properties broken by the same steps sharing one.
pub fn counterexamples(o: &SearchResult) -> Vec<Counterexample<'_>> {
    let mut traces: Vec<Counterexample> = Vec::new();
    for p in &o.properties {
        if p.status(&o.ending) != Status::Violated {
            continue;
        }
        let steps = p.steps.as_deref().expect("a violation has a trace");
        match traces.iter_mut().find(|(t, _, _)| *t == steps) {
            Some((_, names, _)) => names.push(p.name),
            None => traces.push((steps, vec![p.name], p.explorer_path.as_ref())),
        }
    }
    traces
}

/// Each counterexample, once, with every property it breaks named.
fn print_counterexamples(model: &BankModel, o: &SearchResult) {
    let traces = counterexamples(o);
    let shortest = if o.breadth_first {
        "the shortest"
    } else {
        "shrunk; `--strategy bfs` finds the shortest"
    };
    for (steps, names, path) in traces {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        println!();
        println!(
            "Counterexample for {} ({} steps, {shortest}):",
            quoted.join(", "),
            steps.len()
        );
        print_trace(model, steps);
        if let Some(last) = replay(model, steps) {
            let mut said = Vec::new();
            for name in &names {
                let Some(why) = explain::what_went_wrong(model, &last, name) else {
                    continue;
                };
                if !said.contains(&why) {
                    println!("What went wrong: {why}.");
                    said.push(why);
                }
            }
        }
        if let Some(path) = path {
            println!("In the explorer: {}", explorer_line(path));
        }
    }
}

/// How to see the trace at explorer path `path`: the command, then the address.
pub fn explorer_line(path: &str) -> String {
    format!(
        "`{}`, then open http://127.0.0.1:3000/#/steps/{path}",
        explore_command()
    )
}

/// The command that serves this check's model in the explorer: this command line, `explore`
/// for `check`, without the flags only a check takes.
fn explore_command() -> String {
    const CHECK_ONLY: &[&str] = &[
        "--strategy",
        "--threads",
        "--max-depth",
        "--timeout",
        "--seed",
        "--audit",
        "--html",
    ];
    const CHECK_ONLY_SWITCHES: &[&str] = &["--json", "--all-violations", "--coverage"];
    let mut out = vec!["paxchain-check".to_string(), "explore".to_string()];
    let mut args = std::env::args().skip(2);
    while let Some(a) = args.next() {
        let flag = a.split('=').next().unwrap_or_default();
        if CHECK_ONLY.contains(&flag) {
            if !a.contains('=') {
                args.next();
            }
            continue;
        }
        if CHECK_ONLY_SWITCHES.contains(&flag) {
            continue;
        }
        match a.contains(' ') || a.is_empty() {
            true => out.push(format!("\"{a}\"")),
            false => out.push(a),
        }
    }
    out.join(" ")
}
