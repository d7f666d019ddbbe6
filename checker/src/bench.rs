//! `paxchain-check bench`: the checker's speed and memory, one table.
//!
//! Each search runs as its own child process (`paxchain-check check ... --json`), so its wall
//! time is the whole process and its peak memory is its own (`wait4`'s maximum resident set).
//! One-thread runs are pinned to CPU 0 and two-thread runs to CPUs 0 and 1, as the anchor is.
//!
//! The anchor is stateright's own Paxos example, built and timed by the script that the
//! project's shared tools provide (`--anchor`), in the same run, before the table and after
//! it; the ratio is against the mean of the two, and both are printed, so drift shows.
//! A search under a second is run several times (the `runs` column) and its median wall
//! time kept: a process of a few tens of milliseconds varies by a quarter from run to run.
//!
//! Columns: unique states, wall time, unique states per second and that rate against the
//! anchor's; then states examined per second (every successor generated, duplicates
//! included) and examined per unique state, which says how much of the work lands on
//! states already seen (the reductions raise it: they merge states); and peak memory.
//!
//! A scenario may carry model flags after its name (`--scenarios "five --crashes 2 --lossy"`):
//! the larger configurations of spec/properties.md ("Reach") are measured this way.

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Scenarios to measure, comma-separated (default: every preset); each may carry model
    /// flags after its name, e.g. `"five --crashes 2 --lossy"`.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Strategies to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("bfs"), String::from("dfs")])]
    strategies: Vec<String>,
    /// Thread counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// The checker binary to measure (default: this one). Another build's binary gives a
    /// before/after comparison in one run.
    #[arg(long)]
    exe: Option<PathBuf>,
    /// The anchor script; skipped with a note if it does not exist.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tools/anchor-stateright-paxos"))]
    anchor: PathBuf,
}

/// One search's figures.
struct Run {
    /// States generated (examined), duplicates included.
    states: u64,
    unique: u64,
    wall: f64,
    peak_mb: f64,
    complete: bool,
    /// Runs whose median wall time this is.
    runs: usize,
}

pub fn bench(args: &BenchArgs) -> ExitCode {
    let exe = match &args.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().expect("the running binary has a path"),
    };
    let scenarios = if args.scenarios.is_empty() {
        paxchain_model::scenarios::names()
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        args.scenarios.clone()
    };
    let before = anchor_rates(args);
    let mut rows = vec![];
    for scenario in &scenarios {
        for strategy in &args.strategies {
            for &threads in &args.threads {
                eprintln!("  measuring {scenario} ({strategy}, {threads} thread(s))");
                rows.push((
                    scenario,
                    strategy,
                    threads,
                    measure(&exe, scenario, strategy, threads),
                ));
            }
        }
    }
    let after = anchor_rates(args);
    let anchor: Vec<(usize, Option<f64>)> = (before.iter().zip(&after))
        .map(|(&(t, b), &(_, a))| (t, b.zip(a).map(|(b, a)| (b + a) / 2.0)))
        .collect();
    let w = scenarios.iter().map(|s| s.len()).max().unwrap_or(8).max(8);
    println!(
        "{:<w$} {:<5} {:>3} {:>11} {:>9} {:>4} {:>11} {:>9} {:>11} {:>9} {:>8}",
        "scenario",
        "strat",
        "thr",
        "unique",
        "wall s",
        "runs",
        "unique/s",
        "/anchor",
        "examined/s",
        "per uniq",
        "peak MB"
    );
    let mut failed = false;
    for (scenario, strategy, threads, run) in rows {
        let Some(run) = run else {
            println!("{scenario:<w$} {strategy:<5} {threads:>3}   the search failed to run");
            failed = true;
            continue;
        };
        let rate = run.unique as f64 / run.wall;
        let ratio = (anchor.iter())
            .find(|(t, _)| *t == threads)
            .and_then(|(_, a)| *a)
            .map_or("-".to_string(), |a| format!("{:.2}", rate / a));
        println!(
            "{scenario:<w$} {strategy:<5} {threads:>3} {:>11} {:>9.3} {:>4} {:>11.0} {:>9} {:>11.0} {:>9.1} {:>8.0}{}",
            run.unique,
            run.wall,
            run.runs,
            rate,
            ratio,
            run.states as f64 / run.wall,
            run.states as f64 / run.unique.max(1) as f64,
            run.peak_mb,
            if run.complete { "" } else { "  (incomplete)" }
        );
    }
    for ((threads, b), (_, a)) in before.iter().zip(&after) {
        match b.zip(*a) {
            Some((b, a)) => println!(
                "anchor: stateright's Paxos example (DFS), {threads} thread(s): {:.0} unique/s \
                 ({b:.0} before the table, {a:.0} after)",
                (b + a) / 2.0
            ),
            None => println!(
                "anchor: not measured for {threads} thread(s) ({} missing or failed)",
                args.anchor.display()
            ),
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The anchor's rate for each thread count of the table.
fn anchor_rates(args: &BenchArgs) -> Vec<(usize, Option<f64>)> {
    (args.threads.iter())
        .map(|&t| (t, anchor_rate(&args.anchor, t)))
        .collect()
}

/// One search's figures: a search under a second is run several times and its median wall
/// time kept, since a process of a few tens of milliseconds varies by a quarter from run to
/// run on a shared machine.
fn measure(exe: &Path, scenario: &str, strategy: &str, threads: usize) -> Option<Run> {
    let first = run_check(exe, scenario, strategy, threads)?;
    let runs = match first.wall {
        w if w < 0.2 => 9,
        w if w < 1.0 => 5,
        _ => 1,
    };
    let mut walls = vec![first.wall];
    let mut peak_mb = first.peak_mb;
    for _ in 1..runs {
        let again = run_check(exe, scenario, strategy, threads)?;
        walls.push(again.wall);
        peak_mb = peak_mb.max(again.peak_mb);
    }
    walls.sort_by(f64::total_cmp);
    Some(Run {
        wall: walls[walls.len() / 2],
        peak_mb,
        runs,
        ..first
    })
}

/// CPUs a run with `threads` threads is pinned to: 0, or 0 and 1.
fn cpus(threads: usize) -> &'static str {
    if threads <= 1 {
        "0"
    } else {
        "0,1"
    }
}

/// Runs one complete check as a child process and reads its JSON report.
fn run_check(exe: &Path, scenario: &str, strategy: &str, threads: usize) -> Option<Run> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpus(threads)])
        .arg(exe)
        .args(["check", "--json", "--scenario"])
        .args(scenario.split_whitespace())
        .args(["--strategy", strategy])
        .args(["--threads", &threads.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().ok()?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("piped");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).ok()?;
    let (status, rusage) = wait4(pid)?;
    let wall = start.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    (status <= 2).then_some(())?;
    Some(Run {
        states: report["states"].as_u64()?,
        unique: report["unique_states"].as_u64()?,
        wall,
        peak_mb: rusage.ru_maxrss as f64 / 1024.0,
        complete: report["complete"].as_bool()?,
        runs: 1,
    })
}

/// Waits for child `pid`; its exit code and its own resource usage (peak memory included).
fn wait4(pid: libc::pid_t) -> Option<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is valid, and `wait4` only writes to the two pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    (got == pid && libc::WIFEXITED(status)).then(|| (libc::WEXITSTATUS(status), usage))
}

/// The anchor's unique states per second on `threads` threads, if the script runs.
fn anchor_rate(script: &Path, threads: usize) -> Option<f64> {
    if !script.exists() {
        return None;
    }
    // The script keeps its build under $XDG_CACHE_HOME (or ~/.cache), which must exist.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")));
    if let Some(dir) = cache {
        let _ = std::fs::create_dir_all(dir);
    }
    let out = Command::new(script)
        .env("CPUS", cpus(threads))
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = text.rsplit("unique/s=").next()?.trim();
    rate.parse().ok()
}
