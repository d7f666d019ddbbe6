//! `paxchain-check replay`: play model traces on real `paxchain server` processes and
//! compare them with the model after every step (the harness is in harness/).

use crate::ModelArgs;
use clap::Args;
use paxchain_harness::replay::{model, Replay};
use paxchain_harness::traces::{self, Trace, Verdict};
use paxchain_harness::{coverage, HarnessError, Run};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The traces: the JSON `check --json` prints (pass the same model flags), or a JSON
    /// list of steps.
    #[arg(long, conflicts_with = "random")]
    trace: Option<PathBuf>,
    /// Replay only this property's trace from the report.
    #[arg(long, requires = "trace")]
    property: Option<String>,
    /// Replay this many random walks of the model instead.
    #[arg(long)]
    random: Option<u64>,
    /// The first walk's seed; walk i uses seed + i.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Steps per random walk, at most.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// The `paxchain` binary (default: the one beside this program; build both with
    /// `cargo build --release`).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where the servers' cluster files and data go (default: a new temporary directory).
    /// A replay that differs leaves its directory there.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write each trace replayed from `--trace` as a self-contained page (see `check
    /// --html`), with what the real servers did: FILE, FILE-2, ...
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// Exit 0: every step of every trace matched; 1: a difference (or a counterexample the real
/// servers do not break); 2: the harness could not run; 64 (`crate::USAGE`): what was
/// given cannot be run (flags, model, trace file, server binary).
pub fn replay(args: &ReplayArgs) -> ExitCode {
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("paxchain-check replay: {e}");
            match e {
                HarnessError::Config(_) => ExitCode::from(crate::USAGE),
                _ => ExitCode::from(2),
            }
        }
    }
}

fn server_bin(args: &ReplayArgs) -> Result<PathBuf, HarnessError> {
    let exe = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("paxchain"),
    };
    if !exe.is_file() {
        return Err(HarnessError::Config(format!(
            "no server binary at {} (build it with `cargo build --release`, or pass \
             --server-bin)",
            exe.display()
        )));
    }
    Ok(exe)
}

fn run(args: &ReplayArgs) -> Result<bool, HarnessError> {
    let cfg = args.model.config().map_err(HarnessError::Config)?;
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("paxchain-replay-{}", std::process::id()))
    });
    let how = Replay::new(server_bin(args)?, dir);
    let model = model(&cfg);
    if let Some(n) = args.random {
        return walks(&how, &model, args, n);
    }
    let Some(path) = &args.trace else {
        return Err(HarnessError::Config(
            "pass --trace FILE or --random N".into(),
        ));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::Config(format!("{}: {e}", path.display())))?;
    let mut all_ok = true;
    for (i, t) in traces::load(&text, &cfg, args.property.as_deref())?
        .iter()
        .enumerate()
    {
        let (run, verdict) = traces::replay(&how, &model, t, &format!("trace-{i}"))?;
        all_ok &= show(t, &run, &verdict, &how);
        if let Some(file) = &args.html {
            page(&crate::html::page_file(file, i), &model, t, &run, &verdict);
        }
    }
    Ok(all_ok)
}

/// One line per trace, or the difference; whether it matched.
fn show(t: &Trace, run: &Run, verdict: &Verdict, how: &Replay) -> bool {
    let per_step = run.elapsed.as_secs_f64() * 1e3 / run.steps.max(1) as f64;
    match verdict {
        Verdict::Matched => {
            print!(
                "{}: {} steps matched ({per_step:.1} ms a step)",
                t.name, run.steps
            );
            match &t.breaks {
                Some(p) => println!(
                    "; the real servers' states break \"{p}\" after step {}, as the model's do",
                    run.real_breaks[p.as_str()]
                ),
                None => println!(),
            }
            true
        }
        Verdict::Differs(d) => {
            println!("{}: the real servers differ from the model\n{d}", t.name);
            println!("(their directories are kept under {})", how.dir.display());
            false
        }
        Verdict::NotBroken {
            property,
            model_step,
            real_step,
        } => {
            println!(
                "{}: every step matched, but \"{property}\" breaks after step {model_step:?} in \
                 the model and {real_step:?} on the real servers",
                t.name
            );
            false
        }
    }
}

/// `--html`: the replayed trace's page, with what the real servers did.
fn page(
    file: &std::path::Path,
    model: &paxchain_model::BankModel,
    t: &Trace,
    run: &Run,
    verdict: &Verdict,
) {
    let named = [t.breaks.as_deref().unwrap_or(t.name.as_str())];
    let said = match verdict {
        Verdict::Matched => format!("all {} steps matched the model", run.steps),
        other => format!("{other:?}"),
    };
    match crate::html::write(file, model, &t.steps, &named, None, Some(&said)) {
        Ok(()) => eprintln!("wrote {}", file.display()),
        Err(e) => eprintln!(
            "paxchain-check replay: could not write {}: {e}",
            file.display()
        ),
    }
}

fn walks(
    how: &Replay,
    model: &paxchain_model::BankModel,
    args: &ReplayArgs,
    n: u64,
) -> Result<bool, HarnessError> {
    let started = Instant::now();
    let (mut steps, mut stepping, mut slowest) = (0usize, Duration::ZERO, Duration::ZERO);
    let mut covered = coverage::Coverage::default();
    for i in 0..n {
        let seed = args.seed + i;
        let trace = Trace::walk(model, seed, args.steps);
        covered.add(model, &trace.steps);
        let (run, verdict) = traces::replay(how, model, &trace, &format!("walk-{seed}"))?;
        steps += run.steps;
        stepping += run.elapsed;
        slowest = slowest.max(run.slowest);
        if verdict != Verdict::Matched {
            show(&trace, &run, &verdict, how);
            let file = how.dir.join(format!("walk-{seed}.json"));
            let json = serde_json::to_string_pretty(&trace.steps).expect("steps are plain data");
            std::fs::write(&file, json)?;
            println!(
                "the walk's steps: {} (replay it with --trace)",
                file.display()
            );
            return Ok(false);
        }
        if (i + 1) % 100 == 0 {
            eprintln!("{} walks, {steps} steps, no difference", i + 1);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{n} walks (seeds {}..={}), {steps} steps, 0 differences; {wall:.1} s in all, stepping \
         {:.1} s: {:.0} steps/s, {:.2} ms a step, slowest {:.1} ms",
        args.seed,
        args.seed + n - 1,
        stepping.as_secs_f64(),
        steps as f64 / stepping.as_secs_f64().max(1e-9),
        stepping.as_secs_f64() * 1e3 / steps.max(1) as f64,
        slowest.as_secs_f64() * 1e3,
    );
    println!(
        "the walks: {} reached a commit (highest chain {} blocks); {} crashes, {} recoveries, \
         {} losses, {} timers fired",
        covered.committed,
        covered.max_height,
        covered.crashes,
        covered.recoveries,
        covered.losses,
        covered.timeouts
    );
    let _ = std::fs::remove_dir_all(&how.dir);
    Ok(true)
}
