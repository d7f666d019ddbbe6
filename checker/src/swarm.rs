//! `check --strategy swarm`: the swarm search (model/src/swarm.rs) with progress, the usual
//! report, and what the swarm covered.

use crate::report::{self, Ending, PropertyResult, SearchResult};
use crate::CheckArgs;
use paxchain_model::swarm::{swarm, Progress, Swarm, SwarmConfig};
use paxchain_model::trace;
use paxchain_model::{build, ModelConfig};
use stateright::{Expectation, Model};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs the swarm and prints the report. Exit 1: a violation, replayed; 2 otherwise (a
/// swarm never covers every state); 3 when a discovery did not replay (a defect of the
/// checker), or handlers broke a reduction's premise and no violation was found.
pub fn check(cfg: &ModelConfig, args: &CheckArgs) -> u8 {
    let model = build(cfg);
    let swarm_cfg = SwarmConfig {
        threads: args.threads.max(1),
        first_seed: args.seed,
        walk_steps: args.max_depth.unwrap_or(100),
        timeout: Duration::from_secs(args.timeout.unwrap_or(60)),
        stop_at: None,
        to_timeout: args.all_violations,
    };
    let progress = Progress::default();
    let s = std::thread::scope(|scope| {
        let run = scope.spawn(|| swarm(&model, &swarm_cfg, &progress));
        let start = Instant::now();
        while !run.is_finished() {
            std::thread::sleep(Duration::from_millis(50));
            if start.elapsed().as_millis() % 1000 < 50 {
                let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
                eprintln!(
                    "  {:>6.1}s  walks {:>8}  steps {:>10}  distinct {:>10}  examples {:>2}  \
                     violations {}",
                    start.elapsed().as_secs_f64(),
                    n(&progress.walks),
                    n(&progress.steps),
                    n(&progress.distinct),
                    n(&progress.reached),
                    n(&progress.violated),
                );
            }
        }
        run.join().expect("the swarm does not panic")
    });
    let result = search_result(&model, &s, args.seed);
    let code = report::print(cfg, &model, &result, args.json);
    if let Some(file) = &args.html {
        crate::html::write_pages(file, &model, &result);
    }
    print_coverage(&model, &s, args.json);
    if args.coverage && !args.json {
        crate::coverage::print(&model);
    }
    code
}

fn search_result(model: &paxchain_model::BankModel, s: &Swarm, first_seed: u64) -> SearchResult {
    let properties = model
        .properties()
        .iter()
        .map(|p| {
            let found = match p.expectation {
                Expectation::Sometimes => s.reached.get(p.name),
                _ => s.violated.get(p.name),
            };
            let steps = found.map(|f| f.steps.clone());
            PropertyResult {
                name: p.name,
                expectation: p.expectation.clone(),
                explorer_path: steps
                    .as_ref()
                    .and_then(|st| trace::explorer_path(model, st)),
                confirmed: found.map(|_| true),
                steps,
            }
        })
        .collect();
    SearchResult {
        ending: Ending::Incomplete(format!(
            "a swarm never covers every state: {} walks, seeds {first_seed} on",
            s.walks
        )),
        simulation: false,
        defects: s.untrusted.clone(),
        breadth_first: false,
        states: s.steps as usize,
        unique: s.distinct,
        max_depth: s.lengths.keys().last().map_or(0, |l| l + 9),
        elapsed: s.elapsed,
        properties,
    }
}

/// The swarm's coverage, on stderr when the report is JSON.
fn print_coverage(model: &paxchain_model::BankModel, s: &Swarm, json: bool) {
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "\nswarm: {} walks, {} steps, {} distinct states in {:.1} s",
        s.walks,
        s.steps,
        s.distinct,
        s.elapsed.as_secs_f64()
    );
    let _ = write!(out, "walk lengths:");
    for (bucket, n) in &s.lengths {
        let _ = write!(out, "  {bucket}-{}: {n}", bucket + 9);
    }
    let _ = writeln!(out);
    for p in model.properties() {
        if p.expectation != Expectation::Sometimes {
            continue;
        }
        match s.reached.get(p.name) {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "  reached     \"{}\" (seed {}, {} steps, after {:.1} s)",
                    p.name,
                    f.seed,
                    f.steps.len(),
                    f.after.as_secs_f64()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  NOT REACHED \"{}\": the swarm never got there",
                    p.name
                );
            }
        }
    }
    for (name, f) in &s.violated {
        let _ = writeln!(
            out,
            "  violated    \"{name}\" by the walk of seed {} after {:.1} s ({} steps once shrunk)",
            f.seed,
            f.after.as_secs_f64(),
            f.steps.len()
        );
    }
    if json {
        eprint!("{out}");
    } else {
        print!("{out}");
    }
}
