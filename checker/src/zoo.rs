//! `paxchain-check bugs` and `paxchain-check zoo`: the seeded bugs, and proof that the checker
//! catches each one.

use crate::report::print_trace;
use clap::Args;
use paxchain::bugs::Bug;
use paxchain_model::swarm::{swarm, Progress, SwarmConfig};
use paxchain_model::zoo::{
    catching_config, catching_scenario, hunt, rule_of, swarm_config, Escape, Hunt,
};
use paxchain_model::{build, scenarios, ModelConfig};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ZooArgs {
    /// Hunt only these bugs (by name; default: the whole zoo).
    #[arg(long = "bug")]
    bugs: Vec<Bug>,
    /// Checker threads per hunt (default 1: a multi-threaded search finds a different
    /// counterexample from run to run, so only one thread gives the pinned trace lengths),
    /// or per swarm (default 2).
    #[arg(long)]
    threads: Option<usize>,
    /// Give up on a bug after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Also print each bug's counterexample, as `check` prints it.
    #[arg(long)]
    traces: bool,
    /// Instead, hunt each bug on every preset and print which catch it (steps, or `-`):
    /// how the catching presets were chosen.
    #[arg(long)]
    matrix: bool,
    /// Instead, swarm each bug on one five-server configuration with two crashes, loss and
    /// duplication (too large to exhaust), `--seeds` times, and print the median time to
    /// the first violation of the property it names. The correct protocol is swarmed first,
    /// for `--timeout` seconds, and must show none.
    #[arg(long)]
    swarm: bool,
    /// Swarms per bug, each from its own seeds.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
}

impl ZooArgs {
    fn hunt_threads(&self) -> usize {
        self.threads.unwrap_or(1)
    }

    fn swarm_threads(&self) -> usize {
        self.threads.unwrap_or(2)
    }
}

/// Prints the zoo: name, what the mistake is, and the property that must catch it.
pub fn list() {
    println!("{:<28} {:<38} what it is", "bug", "caught by");
    for &bug in Bug::ALL {
        println!(
            "{:<28} {:<38} {}",
            bug.name(),
            bug.caught_by(),
            summary(bug)
        );
    }
}

/// The first sentence of a bug's documentation, without its bold title.
fn summary(bug: Bug) -> String {
    let first = bug.doc().split("\n\n").next().unwrap_or_default();
    let plain = first.split("**").last().unwrap_or_default();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Hunts every chosen bug; exit 1 if any escapes.
pub fn zoo(args: &ZooArgs) -> ExitCode {
    let bugs: Vec<Bug> = match args.bugs.is_empty() {
        true => Bug::ALL.to_vec(),
        false => args.bugs.clone(),
    };
    let timeout = Duration::from_secs(args.timeout);
    if args.matrix {
        return matrix(&bugs, args.hunt_threads(), timeout);
    }
    if args.swarm {
        return swarm_zoo(&bugs, args, timeout);
    }
    let mut hunts: Vec<(ModelConfig, Hunt)> = Vec::new();
    let width = (bugs.iter().map(|b| b.caught_by().len()).max()).unwrap_or(0);
    println!(
        "{:<28} {:<17} {:<7} {:<width$} {:>5} {:>9} {:>7}  rule (its branch)",
        "bug", "scenario", "caught", "property", "steps", "unique", "seconds"
    );
    for bug in bugs {
        let cfg = catching_config(bug);
        let h = hunt(bug, &cfg, args.hunt_threads(), timeout);
        let steps = h.trace.as_ref().map_or("-".into(), |t| t.len().to_string());
        let rule = rule_of(bug).map_or("- (its correct form does nothing)", |r| r.name());
        println!(
            "{:<28} {:<17} {:<7} {:<width$} {:>5} {:>9} {:>7.1}  {rule}",
            bug.name(),
            catching_scenario(bug),
            if h.caught() { "yes" } else { "NO" },
            bug.caught_by(),
            steps,
            h.unique,
            h.elapsed.as_secs_f64()
        );
        if let Some(why) = &h.failure {
            println!("    {why}");
        }
        if h.premises_broken > 0 || h.kept > 0 {
            println!(
                "    (its handlers broke a reduction's premise {} times; reduction 4 kept {} \
                 messages its rule calls ignored, which the handler acts on)",
                h.premises_broken, h.kept
            );
        }
        hunts.push((cfg, h));
    }
    let escaped: Vec<&str> = (hunts.iter())
        .filter(|(_, h)| !h.caught())
        .map(|(_, h)| h.bug.name())
        .collect();
    if args.traces {
        for (cfg, h) in &hunts {
            print_hunt(cfg, h);
        }
    }
    if escaped.is_empty() {
        println!("\nEvery bug was caught by the property it names.");
        ExitCode::SUCCESS
    } else {
        println!("\nESCAPED: {}", escaped.join(", "));
        ExitCode::from(1)
    }
}

/// Every bug against every preset: the steps of the trace that caught it, `-` if the complete
/// search did not, `?` if the hunt timed out; and the seconds taken.
fn matrix(bugs: &[Bug], threads: usize, timeout: Duration) -> ExitCode {
    let presets = scenarios::all();
    print!("{:<28}", "bug");
    for p in &presets {
        print!(" {:>16}", p.name);
    }
    println!();
    for &bug in bugs {
        print!("{:<28}", bug.name());
        for p in &presets {
            let cfg = ModelConfig {
                bug: Some(bug),
                ..p.config.clone()
            };
            let h = hunt(bug, &cfg, threads, timeout);
            let found = match (&h.trace, h.caught(), &h.failure) {
                (Some(t), true, _) => t.len().to_string(),
                (_, _, Some(Escape::TimedOut(_))) => "?".into(),
                _ => "-".into(),
            };
            print!(" {:>9} {:>5.1}s", found, h.elapsed.as_secs_f64());
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
        }
        println!();
    }
    ExitCode::SUCCESS
}

/// What one swarm found first: when, the property, the shrunk trace's length.
type First = Option<(f64, &'static str, usize)>;

/// One swarm of `cfg` from `first_seed`, stopped at the first violation of any property
/// (each property of a bank the correct protocol keeps, so any violation is the bug).
fn swarm_once(
    cfg: &ModelConfig,
    first_seed: u64,
    threads: usize,
    timeout: Duration,
) -> (First, paxchain_model::swarm::Swarm) {
    let swarm_cfg = SwarmConfig {
        threads,
        first_seed,
        walk_steps: 100,
        timeout,
        stop_at: None,
        to_timeout: false,
    };
    let s = swarm(&build(cfg), &swarm_cfg, &Progress::default());
    let first = (s.violated.iter())
        .min_by(|a, b| a.1.after.cmp(&b.1.after))
        .map(|(name, f)| (f.after.as_secs_f64(), *name, f.steps.len()));
    (first, s)
}

/// `zoo --swarm`: every bug on [`swarm_config`], `args.seeds` swarms each.
fn swarm_zoo(bugs: &[Bug], args: &ZooArgs, timeout: Duration) -> ExitCode {
    let cfg = swarm_config(None);
    println!(
        "{} servers, up to {} down, lossy {} network, max round {}, {} resend; \
         {} threads, {} s a swarm",
        cfg.servers,
        cfg.max_crashes,
        cfg.network,
        cfg.max_round,
        cfg.client_retries,
        args.swarm_threads(),
        args.timeout
    );
    let (found, s) = swarm_once(&cfg, 1, args.swarm_threads(), timeout);
    println!(
        "{:<28} {} in {:.0} s ({} walks, {} distinct states){}",
        "(no bug)",
        if found.is_some() {
            "VIOLATED"
        } else {
            "no violation"
        },
        s.elapsed.as_secs_f64(),
        s.walks,
        s.distinct,
        if s.untrusted.is_empty() {
            ""
        } else {
            "; DEFECTS OF THE CHECKER"
        }
    );
    let mut missed = Vec::new();
    println!(
        "{:<28} {:>7} {:>6}  {:<40} seconds to the first violation, per seed",
        "bug", "median", "steps", "properties broken first"
    );
    for &bug in bugs {
        if !swarm_row(bug, args, timeout) {
            missed.push(bug.name());
        }
    }
    if missed.is_empty() && found.is_none() {
        println!(
            "\nThe swarm caught every swarmed bug with every seed, and nothing in the correct \
             protocol."
        );
        ExitCode::SUCCESS
    } else {
        println!("\nMISSED on some seed: {}", missed.join(", "));
        ExitCode::from(1)
    }
}

/// Swarms `bug` from `args.seeds` seed ranges and prints its row; whether every swarm
/// found it.
fn swarm_row(bug: Bug, args: &ZooArgs, timeout: Duration) -> bool {
    let mut times = Vec::new();
    let (mut cells, mut names) = (Vec::new(), std::collections::BTreeSet::new());
    let mut shortest = usize::MAX;
    for k in 0..args.seeds {
        let cfg = swarm_config(Some(bug));
        match swarm_once(&cfg, 1 + k * 1_000_000, args.swarm_threads(), timeout).0 {
            Some((secs, name, steps)) => {
                times.push(secs);
                names.insert(name);
                shortest = shortest.min(steps);
                cells.push(format!("{secs:.1}"));
            }
            None => cells.push("-".into()),
        }
    }
    times.sort_by(f64::total_cmp);
    // The median of all seeds: a seed that found nothing counts as the longest.
    let median = match times.get(args.seeds as usize / 2) {
        Some(t) => format!("{t:.1}"),
        None => format!(">{}", args.timeout),
    };
    let steps = match shortest {
        usize::MAX => "-".to_string(),
        n => n.to_string(),
    };
    let names: Vec<&str> = names.into_iter().collect();
    println!(
        "{:<28} {:>7} {:>6}  {:<40} {}",
        bug.name(),
        median,
        steps,
        names.join(", "),
        cells.join(" ")
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    times.len() == args.seeds as usize
}

fn print_hunt(cfg: &ModelConfig, h: &Hunt) {
    let Some(steps) = &h.trace else {
        return;
    };
    println!(
        "\n## {}\n\n`paxchain-check check --scenario {} --bug {} --strategy bfs`\n\n\
         Breaks: {}.\n",
        h.bug.name(),
        catching_scenario(h.bug),
        h.bug.name(),
        h.broken.join(", ")
    );
    print_trace(&build(cfg), steps);
}
