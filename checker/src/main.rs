//! `paxchain-check`: model-check paxchain's protocol, or explore it in a browser.
//!
//! Every subcommand turns its flags into one `ModelConfig` (a named scenario with overrides)
//! and builds the model with `paxchain_model::build`: there is one model constructor.

mod bench;
mod coverage;
mod html;
mod replay;
mod report;
mod run;
mod swarm;
mod zoo;

use clap::{Args, Parser, Subcommand, ValueEnum};
use paxchain::bugs::Bug;
use paxchain::Account;
use paxchain::Variant;
use paxchain_model::{parse_sessions, scenarios, ModelConfig, NetworkKind};

/// The clients' scripts: per account, `(receiver, units)` transfers of its first session,
/// and the further sessions' scripts.
type Workloads = (
    Vec<Vec<(Account, u64)>>,
    Vec<(Account, Vec<(Account, u64)>)>,
);
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "paxchain-check",
    version,
    about = "Model-check the paxchain protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: CheckerCommand,
}

#[derive(Subcommand)]
enum CheckerCommand {
    /// Check every property of a scenario. Exit 0: all hold after a complete search;
    /// 1: a property is violated (or a `sometimes` example is never reached in a complete
    /// search); 2: the search was cut short (timeout or depth bound) without a violation;
    /// 3: a defect of the checker (a discovery whose steps do not replay), or, with no
    /// violation found, handlers that broke a reduction's premise, so that "holds" cannot
    /// be vouched for; 64: a usage error or a model that cannot be built from the flags.
    Check(CheckArgs),
    /// Serve stateright's web explorer for a scenario (blocks until interrupted). Exit 64:
    /// a usage error or a model that cannot be built from the flags.
    Explore {
        #[command(flatten)]
        model: ModelArgs,
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
        /// Checker threads used when the explorer runs to completion.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// List the named scenarios.
    Scenarios,
    /// List the bug zoo: each seeded bug, what it is, and the property that must catch it.
    Bugs,
    /// Hunt every bug of the zoo on the preset that catches it, and print a table. Exit 0:
    /// every bug caught by its property; 1: some bug escaped; 64: a usage error.
    Zoo(zoo::ZooArgs),
    /// Measure the checker: every scenario with BFS and DFS on 1 and 2 threads, each as its
    /// own process (wall time, unique states per second, peak memory), beside stateright's
    /// own Paxos example measured in the same run. Exit 64: a usage error.
    Bench(bench::BenchArgs),
    /// Run every preset (and `default` under the `literal` variant) to completion and print,
    /// for each rule of the protocol, in how many distinct steps it fired in each: which
    /// branches each preset exercises. Exit 0: every rule fired somewhere; 1: some rule
    /// never did; 64: a usage error.
    Coverage {
        /// Checker threads per search.
        #[arg(long, default_value_t = cores())]
        threads: usize,
    },
    /// Play model traces on real `paxchain server` processes, through a network this
    /// command owns, and compare every server's state and every datagram in flight with the
    /// model's after each step. Exit 0: all matched; 1: a difference; 2: could not run (the
    /// servers or the network failed); 64: a usage error, a model that cannot be built from
    /// the flags, or a trace file that cannot be read.
    Replay(replay::ReplayArgs),
}

/// Which scenario, and what to change in it.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A named scenario (see `paxchain-check scenarios`).
    #[arg(long, default_value = "default")]
    scenario: String,
    /// `safe` (the corrected protocol) or `literal` (the course text).
    #[arg(long)]
    variant: Option<Variant>,
    /// Number of servers (the scenario's scripts are kept).
    #[arg(long)]
    servers: Option<usize>,
    /// Servers that may be down at once (each recovers from its storage).
    #[arg(long)]
    crashes: Option<usize>,
    /// Let the network lose messages.
    #[arg(long)]
    lossy: bool,
    /// ordered, unordered or duplicating.
    #[arg(long)]
    network: Option<NetworkKind>,
    /// Highest ballot round a server may start (bounds elections).
    #[arg(long)]
    max_round: Option<u32>,
    /// The most transfers one block carries; the rest wait for the next height.
    #[arg(long)]
    max_block: Option<usize>,
    /// Resends per transfer by each client (0: clients never resend).
    #[arg(long)]
    client_retries: Option<u32>,
    /// Units every account starts with.
    #[arg(long)]
    initial_balance: Option<u64>,
    /// The clients' scripts, one per account in order, e.g. `"B1 C2; A1; A1"` (A pays B 1
    /// unit then C 2; B and C each pay A 1). `|` starts another session of the same
    /// account, sending at the same time: `"B1 | C1; A1"`.
    #[arg(long, value_parser = parse_sessions)]
    workloads: Option<Workloads>,
    /// Run a seeded bug from the zoo (see `paxchain-check bugs`).
    #[arg(long)]
    bug: Option<Bug>,
    /// Check without the reductions (states no rule or property can tell apart are then
    /// kept apart): a larger search. Where the handlers keep the reductions' premises, which
    /// every check tests as it goes and reports when broken, the verdicts are the same.
    #[arg(long)]
    no_reduce: bool,
    /// Search without merging states that differ only by a renaming of the
    /// servers no client talks to (spec/properties.md, "Reductions", 5).
    #[arg(long)]
    no_symmetry: bool,
}

impl ModelArgs {
    /// The scenario's configuration with the flags applied, validated.
    pub fn config(&self) -> Result<ModelConfig, String> {
        let scenario = scenarios::by_name(&self.scenario).ok_or_else(|| {
            format!(
                "no scenario `{}`; the scenarios are: {}",
                self.scenario,
                scenarios::names().join(", ")
            )
        })?;
        let mut cfg = scenario.config;
        if let Some(v) = self.variant {
            cfg.variant = v;
        }
        if let Some(n) = self.servers {
            cfg.servers = n;
        }
        if let Some(c) = self.crashes {
            cfg.max_crashes = c;
        }
        if let Some(net) = self.network {
            cfg.network = net;
        }
        if let Some(r) = self.max_round {
            cfg.max_round = r;
        }
        if let Some(b) = self.max_block {
            cfg.max_block = b;
        }
        if let Some(b) = self.initial_balance {
            cfg.initial_balance = b;
        }
        if let Some((first, more)) = &self.workloads {
            (cfg.workloads, cfg.sessions) = (first.clone(), more.clone());
        }
        if let Some(r) = self.client_retries {
            cfg.client_retries = r;
        }
        cfg.lossy |= self.lossy;
        cfg.bug = self.bug.or(cfg.bug);
        cfg.reduce &= !self.no_reduce;
        cfg.symmetry &= !self.no_symmetry;
        cfg.validate().map_err(|e| self.explain(e))?;
        Ok(cfg)
    }

    /// An invalid model, said in terms of the flags given: a scenario's own scripts that no
    /// longer fit are the scenario's, not the user's.
    fn explain(&self, e: paxchain_model::ConfigError) -> String {
        match e {
            paxchain_model::ConfigError::TooManyClients { clients, servers }
                if self.workloads.is_none() =>
            {
                format!(
                    "--servers {servers}: the `{}` scenario's workloads have {clients} scripts, \
                     one per account, so it needs at least {clients} servers; pass \
                     --workloads with at most {servers} scripts",
                    self.scenario
                )
            }
            e => format!("invalid model: {e}"),
        }
    }
}

/// How to search.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Depth-first: the fastest, and a fraction of BFS's memory. Counterexamples are shrunk
    /// to the steps that matter either way. Runs paxchain's own search (model/src/search),
    /// whose threads share work at every state.
    Dfs,
    /// Breadth-first, by the same search: the shortest counterexamples, many times the
    /// memory. With several threads, a violation sends the search again on one thread to its
    /// depth, so that the counterexample is the same on every run.
    Bfs,
    /// stateright's random walks until the timeout (default 60 s); never complete, so exit
    /// 2 at best, and it cannot rebuild some of the paths it finds.
    Simulation,
    /// Seeded random walks on every core, each with its own mix of faults, until the first
    /// violation or the timeout (default 60 s). Every discovery is replayed and shrunk;
    /// `--max-depth` is the walk length (default 100), `--seed` the first walk's seed.
    /// Exit 1 on a violation, 2 otherwise: a swarm is never complete.
    Swarm,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = Strategy::Dfs)]
    strategy: Strategy,
    /// Checker threads (default: one per core).
    #[arg(long, default_value_t = cores())]
    threads: usize,
    /// Stop expanding states at this depth (the result is then incomplete: exit 2).
    #[arg(long)]
    max_depth: Option<usize>,
    /// Stop after this many seconds (the result is then incomplete: exit 2).
    #[arg(long)]
    timeout: Option<u64>,
    /// Search without sleep sets where the model uses them (presets with a symmetry): every
    /// step tried in every order, at several times less memory and about twice the time
    /// (spec/properties.md, "Sleep sets"). The states visited and the verdicts are the same.
    #[arg(long)]
    no_sleep_sets: bool,
    /// Print the result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// After the result, print which rules of the protocol the search exercised, in how many
    /// distinct steps each, and which it never did (`--json` always includes them).
    #[arg(long)]
    coverage: bool,
    /// Write each counterexample as a self-contained HTML page to FILE (`FILE-2`, ... for
    /// more than one): steps, states, what each step changed, the sequence diagram, and the
    /// commands that reproduce it; arrow keys step through it.
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
    /// Keep searching after the first violation, to find a counterexample for every
    /// property that has one (by default the search stops at the first violation).
    #[arg(long)]
    all_violations: bool,
    /// The first walk's seed, for `--strategy swarm` and `simulation`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replay the path to every Nth state each search thread expands through stateright's
    /// own step, the handlers run afresh, and report any state the search's memo, deltas or
    /// fingerprints built differently (exit 3). DFS and BFS only.
    #[arg(long, value_name = "N")]
    audit: Option<usize>,
}

/// The machine's cores, the default thread count.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The exit status of a usage error or a model that cannot be built from what was given
/// (sysexits' EX_USAGE): apart from 2, a search cut short, so that a script can tell a typo
/// from a timeout.
pub const USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` come this way too, and are no error.
            return match e.use_stderr() {
                true => ExitCode::from(USAGE),
                false => ExitCode::SUCCESS,
            };
        }
    };
    let result = match cli.command {
        CheckerCommand::Scenarios => {
            for s in scenarios::all() {
                println!("{:<14} {}", s.name, s.about);
            }
            return ExitCode::SUCCESS;
        }
        CheckerCommand::Bench(args) => return bench::bench(&args),
        CheckerCommand::Bugs => {
            zoo::list();
            return ExitCode::SUCCESS;
        }
        CheckerCommand::Zoo(args) => return zoo::zoo(&args),
        CheckerCommand::Replay(args) => return replay::replay(&args),
        CheckerCommand::Coverage { threads } => return coverage::matrix(threads),
        CheckerCommand::Check(args) => args.model.config().map(|cfg| run::check(&cfg, &args)),
        CheckerCommand::Explore {
            model,
            addr,
            threads,
        } => model.config().map(|cfg| run::explore(&cfg, &addr, threads)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paxchain-check: {e}");
            ExitCode::from(USAGE)
        }
    }
}
