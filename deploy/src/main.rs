//! `paxchain`: run a bank server, talk to one from a terminal, or run the course's demo.

use clap::{Parser, Subcommand};
use paxchain::{Account, Variant};
use paxchain_deploy::cluster::Cluster;
use paxchain_deploy::conformance::Mode;
use paxchain_deploy::demo::Demo;
use paxchain_deploy::input::{parse_account, parse_file};
use paxchain_deploy::prompt::{Session, HELP};
use paxchain_deploy::runtime::run_server;
use paxchain_deploy::torture::{self, faults::Fault, TortureConfig};
use paxchain_deploy::{keys, UdpClient};
use std::collections::BTreeMap;
use std::io::{stdin, stdout};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "paxchain",
    version,
    about = "A bank on a blockchain agreed by a model-checked Paxos"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one server of a cluster until killed.
    Server {
        /// The cluster file (TOML).
        #[arg(long)]
        cluster: PathBuf,
        /// This server's position in the cluster file (0 serves account A).
        #[arg(long)]
        id: usize,
        /// Where the server keeps its durable state.
        #[arg(long, default_value = ".")]
        data_dir: PathBuf,
        /// The server's secret key (`paxchain keygen --server`), with which it seals and
        /// opens its peer datagrams.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Obey the conformance harness (fire timers on request, report the state): for
        /// replaying model traces only. Without it such requests are refused.
        #[arg(long)]
        conformance: bool,
    },
    /// The prompt of one account's client, talking to its own server: submit a file of
    /// transfers, then read commands.
    Prompt {
        #[arg(long)]
        cluster: PathBuf,
        /// The account this client owns.
        #[arg(long, value_parser = parse_account)]
        account: Account,
        /// Which of the account's client sessions this prompt is (0 to 255): several
        /// processes may share an account, each with a session of its own.
        #[arg(long, default_value_t = 0)]
        session: u8,
        /// The account's secret key (`paxchain keygen` writes one), to sign transfers.
        /// Without it the prompt can only ask questions.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Transfers to submit first, one `(S, R, amt)` or `S R amt` a line.
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Start a local cluster as child processes and give one prompt for every client.
    Demo {
        #[arg(long, default_value_t = 5)]
        servers: usize,
        /// Units every account starts with.
        #[arg(long, default_value_t = 10)]
        initial: u64,
        /// Transfers to submit first, each from its sender's client.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Directory for the cluster file and the servers' data (default: a new temporary one).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run a local cluster under load, break it on a seeded schedule (kills, pauses, loss,
    /// duplication, delay, reordering, partitions, garbage, forgeries), heal it and check the whole
    /// history. Exit 0: every check passed; 1: a check failed; 2: the run could not start.
    /// Make an account's key pair (or with --server, a server's): a new key file readable by
    /// its owner only, and, printed, the public key for the cluster file.
    Keygen {
        /// Where the secret key goes (never over an existing file).
        #[arg(long)]
        key_file: PathBuf,
        /// A server's key (for its peers) rather than an account's (for its transfers).
        #[arg(long)]
        server: bool,
    },
    /// Check a blockchain without trusting a server: genesis, every height, hash and link,
    /// every transfer's signature against the cluster file's account keys, no transfer twice,
    /// and a replay of the balances. Exit 0: sound; 1: the first fault, naming its block.
    Audit {
        #[arg(long)]
        cluster: PathBuf,
        /// A chain file (JSON, genesis first: what `--save` writes, and a torture report's
        /// chain.json).
        #[arg(long, conflicts_with = "server")]
        chain: Option<PathBuf>,
        /// Or: fetch the chain from this account's server.
        #[arg(long, value_parser = parse_account)]
        server: Option<Account>,
        /// Write the chain audited to this file.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    Torture {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(3..=5))]
        servers: u8,
        /// Busy client sessions per account (1 to 8): with two or more, each server's
        /// flushes save and answer several sessions at once.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
        sessions: u8,
        /// Seconds of load and faults before the heal.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The faults to inject, by name (default: all); `none` for a clean run.
        #[arg(
            long,
            value_delimiter = ',',
            value_parser = fault_or_none,
            default_value = "kill,pause,crash-all,loss,dup,delay,reorder,partition,garbage,forge"
        )]
        faults: Vec<Option<Fault>>,
        /// Units every account starts with.
        #[arg(long, default_value_t = 10)]
        initial: u64,
        /// Where summary.txt, summary.json, history.jsonl and report.html go.
        #[arg(long, default_value = "torture-report")]
        out: PathBuf,
        /// Faults started per minute.
        #[arg(long, default_value_t = 40.0)]
        rate: f64,
        /// The most servers one kill takes down at once (default: f, a minority).
        #[arg(long)]
        max_down: Option<usize>,
        /// The protocol the servers run: `literal` (the course text) shows what the checks
        /// catch.
        #[arg(long, default_value = "safe")]
        variant: Variant,
        /// Print the summary as JSON (what `summary.json` holds) instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// A fault's name, or `none` (no fault at all: a clean run under load).
fn fault_or_none(name: &str) -> Result<Option<Fault>, String> {
    match name {
        "none" => Ok(None),
        _ => name.parse().map(Some),
    }
}

/// Submits every transfer of an input file; bad lines are reported and skipped.
fn submit_file(session: &mut Session, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed = parse_file(&text);
    for (line, e) in parsed.errors {
        eprintln!("{}:{line}: {e} (skipped)", path.display());
    }
    for (line, t) in parsed.transfers {
        if !session.clients.contains_key(&t.from) {
            eprintln!(
                "{}:{line}: {t} is from {}, not from this client's account (skipped)",
                path.display(),
                t.from
            );
            continue;
        }
        println!("{}", session.transfer(Some(t.from), t.to, t.amount));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Cmd::Keygen { key_file, server } => {
            let seed = keys::generate_seed();
            keys::write_seed(&key_file, seed).map_err(|e| e.to_string())?;
            eprintln!("secret key written to {} (owner-only)", key_file.display());
            match server {
                true => println!("server_key = \"{}\"", keys::server_public_hex(seed)),
                false => {
                    let key = ed25519_zebra::SigningKey::from(seed);
                    println!("account_key = \"{}\"", keys::public_hex(&key))
                }
            }
        }
        Cmd::Audit {
            cluster,
            chain,
            server,
            save,
        } => return audit(&cluster, chain, server, save),
        Cmd::Torture {
            servers,
            sessions,
            duration,
            seed,
            faults,
            initial,
            out,
            rate,
            max_down,
            variant,
            json,
        } => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let servers = usize::from(servers);
            let cfg = TortureConfig {
                servers,
                sessions: usize::from(sessions),
                rate,
                max_down: max_down.unwrap_or((servers - 1) / 2),
                variant,
                duration: Duration::from_secs(duration),
                seed,
                faults: faults.into_iter().flatten().collect(),
                out,
                initial,
            };
            let outcome = torture::run(&exe, &cfg).map_err(|e| e.to_string())?;
            match json {
                true => println!("{:#}", outcome.json),
                false => println!("{}", outcome.summary),
            }
            eprintln!("report: {}", cfg.out.display());
            return Ok(if outcome.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Cmd::Server {
            cluster,
            id,
            data_dir,
            key_file,
            conformance,
        } => {
            let cluster = Cluster::load(&cluster).map_err(|e| e.to_string())?;
            let mode = if conformance {
                Mode::Conformance
            } else {
                Mode::Normal
            };
            run_server(&cluster, id, &data_dir, key_file.as_deref(), mode)
                .map_err(|e| e.to_string())?;
        }
        Cmd::Prompt {
            cluster,
            account,
            session,
            key_file,
            input,
        } => {
            let cluster = Cluster::load(&cluster).map_err(|e| e.to_string())?;
            let key = (key_file.as_deref())
                .map(|path| keys::read_for(path, &cluster, account))
                .transpose()
                .map_err(|e| e.to_string())?;
            let mut client =
                UdpClient::connect_session(&cluster, account, paxchain::Session(session))
                    .map_err(|e| e.to_string())?;
            match key {
                Some(key) => client = client.with_key(key),
                None => eprintln!("no --key-file: this prompt can ask, not transfer"),
            }
            match session {
                0 => eprintln!("client {account}; `help` lists the commands"),
                s => eprintln!("client {account}, session {s}; `help` lists the commands"),
            }
            let session = Session {
                clients: BTreeMap::from([(account, client)]),
                default: Some(account),
                demo: None,
            };
            interact(session, input)?;
        }
        Cmd::Demo {
            servers,
            initial,
            input,
            dir,
        } => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let dir = dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("paxchain-demo-{}", std::process::id()))
            });
            let demo = Demo::start(&exe, &dir, servers, initial).map_err(|e| e.to_string())?;
            let mut clients = BTreeMap::new();
            for i in 0..servers {
                let a = Account::of_server(i);
                let c = demo
                    .client(a)
                    .map_err(|e| format!("server {a} did not start: {e}"))?;
                clients.insert(a, c);
            }
            eprintln!(
                "{servers} servers, {initial} units each; cluster file {}\n{HELP}",
                demo.cluster_file.display()
            );
            let session = Session {
                clients,
                default: None,
                demo: Some(demo),
            };
            interact(session, input)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `paxchain audit`: exit 0 if the chain is sound, 1 with the first fault.
fn audit(
    cluster: &Path,
    chain: Option<PathBuf>,
    server: Option<Account>,
    save: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let cluster = Cluster::load(cluster).map_err(|e| e.to_string())?;
    let blocks: Vec<paxchain::Block> = match (chain, server) {
        (Some(path), _) => {
            let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_slice(&text)
                .map_err(|e| format!("{}: not a chain of blocks ({e})", path.display()))?
        }
        (None, Some(s)) => {
            let c = UdpClient::new(&cluster, s).map_err(|e| e.to_string())?;
            c.chain(s).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("give --chain FILE or --server ACCOUNT".into()),
    };
    if let Some(path) = save {
        let text = serde_json::to_vec_pretty(&blocks).expect("blocks are plain data");
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    match paxchain_deploy::audit::audit(&cluster, blocks) {
        Ok(done) => {
            println!(
                "sound: {} blocks, {} transfers, every link and signature verified; balances {:?}",
                done.blocks,
                done.transfers,
                done.balances.as_slice()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("not sound: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Submits the input file's transfers, if any, then prompts until `quit` or end of input.
fn interact(mut session: Session, input: Option<PathBuf>) -> Result<(), String> {
    if let Some(path) = input {
        submit_file(&mut session, &path)?;
    }
    // A person at a terminal gets line editing and history; a pipe or a file, plain lines.
    let read = match std::io::IsTerminal::is_terminal(&stdin()) {
        true => session.interactive(),
        false => session.prompt(stdin().lock(), stdout()),
    };
    read.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paxchain: {e}");
            ExitCode::from(2)
        }
    }
}
