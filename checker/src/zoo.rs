//! `paxchain-check bugs` and `paxchain-check zoo`: the seeded bugs, and proof that the checker
//! catches each one.

use crate::report::print_trace;
use clap::Args;
use paxchain::bugs::Bug;
use paxchain_model::zoo::{catching_config, catching_scenario, hunt, search, Escape, Hunt};
use paxchain_model::{build, scenarios, ModelConfig};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ZooArgs {
    /// Hunt only these bugs (by name; default: the whole zoo).
    #[arg(long = "bug")]
    bugs: Vec<Bug>,
    /// Checker threads per hunt.
    #[arg(long, default_value_t = 2)]
    threads: usize,
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
        return matrix(&bugs, args.threads, timeout);
    }
    let mut hunts: Vec<(ModelConfig, Hunt)> = Vec::new();
    println!(
        "{:<28} {:<17} {:<7} {:<38} {:>5} {:>9} {:>7}",
        "bug", "scenario", "caught", "property", "steps", "unique", "seconds"
    );
    for bug in bugs {
        let cfg = catching_config(bug);
        let h = hunt(bug, &cfg, args.threads, timeout);
        let steps = h.trace.as_ref().map_or("-".into(), |t| t.len().to_string());
        println!(
            "{:<28} {:<17} {:<7} {:<38} {:>5} {:>9} {:>7.1}",
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

fn print_hunt(cfg: &ModelConfig, h: &Hunt) {
    let Some(steps) = &h.trace else {
        return;
    };
    println!(
        "\n## {}\n\n`paxchain-check check --scenario {} --bug {} --strategy {}`\n\n\
         Breaks: {}.\n",
        h.bug.name(),
        catching_scenario(h.bug),
        h.bug.name(),
        search(h.bug),
        h.broken.join(", ")
    );
    print_trace(&build(cfg), steps);
}
