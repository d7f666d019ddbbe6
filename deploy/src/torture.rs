//! `paxchain torture`: a Jepsen-style run of a local cluster. It loads the bank from one
//! client per account, breaks the cluster on a seeded schedule (kills, pauses, a crash of
//! every server, loss, duplication, delay, reordering, partitions, garbage datagrams,
//! forgeries),
//! heals it, drives every server to converge, and checks the whole history
//! (spec/torture.md).
//!
//! - [`net`]: the fault-injecting relay every datagram passes through;
//! - [`load`]: the clients and the history they record;
//! - [`faults`]: the schedule;
//! - [`forge`]: the `forge` fault's forgeries, and what each server did with them;
//! - [`check`]: the checks at the end;
//! - [`summary`]: the table; [`history`]: `history.jsonl` and `summary.json`;
//! - [`report`]: the page with the run's plots.

pub mod check;
pub mod faults;
pub mod forge;
pub mod history;
pub mod load;
pub mod net;
pub mod report;
pub mod summary;

use crate::cluster::Cluster;
use crate::demo::Demo;
use crate::keys::Keyring;
use crate::UdpClient;
use faults::{Fault, Injected, Restart, Schedule};
use load::{Kind, Record};
use net::FaultNet;
use paxchain::{Account, ApiMsg};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run.
#[derive(Clone, Debug)]
pub struct TortureConfig {
    /// Servers: 3 or 5.
    pub servers: usize,
    /// Client sessions per account, each a busy client of its own: with two or more, a
    /// server's flushes save and answer several at once (group commit).
    pub sessions: usize,
    /// How long the load and the faults last, before the heal.
    pub duration: Duration,
    pub seed: u64,
    pub faults: Vec<Fault>,
    /// Where the report goes.
    pub out: PathBuf,
    /// Units every account starts with.
    pub initial: u64,
    /// Faults started per minute.
    pub rate: f64,
    /// The most servers one `kill` takes down at once (default f).
    pub max_down: usize,
    /// The protocol the servers run: `literal` shows what the checks catch.
    pub variant: paxchain::Variant,
}

/// Each server's own balance as it reported it, read every half second during the load.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sample {
    pub at_ms: u64,
    /// By server index; `None`: no answer at once (down, paused, cut off).
    pub balances: Vec<Option<u64>>,
}

/// Everything a run recorded, for the summary, the history and the report.
pub struct Run<'a> {
    pub cfg: &'a TortureConfig,
    pub records: Vec<Record>,
    pub faults: Vec<Injected>,
    pub restarts: Vec<Restart>,
    pub samples: Vec<Sample>,
    /// Milliseconds of load (to the heal).
    pub load_ms: u64,
    /// Blocks each server led, by the ballot that proposed them, in the final chain.
    pub led: Vec<usize>,
    /// What the relay did: forwarded, lost, duplicated, cut.
    pub network: [u64; 4],
    /// What the servers dropped since their last start, summed: malformed datagrams, and peer
    /// datagrams that were not authentic.
    pub dropped: [u64; 2],
    /// What each `forge` fault sent each server, and what the server did with it.
    pub forgeries: Vec<forge::Forgery>,
    pub round_timeout_ms: u64,
    pub failures: Vec<check::Failure>,
}

/// What a run found.
pub struct Outcome {
    pub failures: Vec<check::Failure>,
    pub summary: String,
    /// The summary as data (`summary.json`).
    pub json: serde_json::Value,
}

/// Runs a torture of the `paxchain` binary `exe`.
pub fn run(exe: &Path, cfg: &TortureConfig) -> std::io::Result<Outcome> {
    std::fs::create_dir_all(&cfg.out)?;
    let data = cfg.out.join("cluster");
    let _ = std::fs::remove_dir_all(&data);
    let mut cluster = Cluster::local(cfg.servers, 0, cfg.initial);
    cluster.variant = cfg.variant;
    let net = FaultNet::start(&mut cluster, cfg.seed)?;
    let mut demo = Demo::launch(exe, &data, cluster, Vec::new(), true)?;
    let cluster = demo.cluster.clone();
    let keys = demo.keys.clone();
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..cfg.servers)
        .flat_map(|i| (0..cfg.sessions).map(move |s| (i, s)))
        .map(|(i, s)| {
            let (cluster, stop, sent, seed) =
                (cluster.clone(), stop.clone(), sent.clone(), cfg.seed);
            let session = paxchain::Session(u8::try_from(s).expect("validated: 1 to 8"));
            let key = *keys.get(Account::of_server(i)).expect("a key per account");
            let me = (i, session, key);
            std::thread::spawn(move || load::client(&cluster, me, seed, t0, &stop, &sent))
        })
        .collect();
    let sampler = {
        let (cluster, stop) = (cluster.clone(), stop.clone());
        std::thread::spawn(move || sample_balances(&cluster, t0, &stop))
    };
    let mut schedule = Schedule::new(cfg.seed, cfg.faults.clone(), cfg.rate, cfg.max_down);
    break_and_heal(cfg, t0, &mut schedule, &mut demo, &net, &sent);
    stop.store(true, Ordering::Relaxed);
    let mut records: Vec<Record> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("a client thread does not panic"))
        .collect();
    let load_ms = t0.elapsed().as_millis() as u64;
    let samples = sampler.join().expect("the sampler does not panic");
    records.extend(converge(&cluster, &keys, t0));
    let views = settled_views(&cluster);
    let mut failures = check::check(&records, &views, cfg.initial);
    failures.extend(audit_the_chain(&cfg.out, &demo, &views)?);
    failures.extend(check::forgeries(&schedule.forgeries));
    for (i, _) in views.iter().enumerate().filter(|(_, v)| v.is_none()) {
        failures.push(check::Failure {
            check: check::CHECKS[6],
            detail: format!(
                "server {} last logged: {}",
                Account::of_server(i),
                demo.last_words(i)
            ),
        });
    }
    let c = &net.counters;
    let run = Run {
        cfg,
        led: led(&views, cfg.servers),
        records,
        faults: schedule.done,
        restarts: schedule.restarts,
        samples,
        load_ms,
        network: [&c.forwarded, &c.lost, &c.duplicated, &c.cut].map(|n| n.load(Ordering::Relaxed)),
        dropped: dropped(&cluster),
        forgeries: schedule.forgeries,
        round_timeout_ms: cluster.round_timeout_ms,
        failures,
    };
    let summary = summary::write(&cfg.out, &run)?;
    let json = history::write(&cfg.out, &run)?;
    report::write(&cfg.out, &run, &summary)?;
    drop(demo);
    Ok(Outcome {
        failures: run.failures,
        summary,
        json,
    })
}

/// Runs the fault schedule for the run's duration, with a progress line each second, then
/// heals whatever is in force.
fn break_and_heal(
    cfg: &TortureConfig,
    t0: Instant,
    schedule: &mut Schedule,
    demo: &mut Demo,
    net: &FaultNet,
    sent: &AtomicU64,
) {
    let mut last_line = Instant::now();
    while t0.elapsed() < cfg.duration {
        schedule.tick(Instant::now(), t0, demo, net);
        if last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            eprintln!(
                "{:>5.1} s  requests {:>6}  faults {:>3}  servers up {}/{}  datagrams {}",
                t0.elapsed().as_secs_f64(),
                sent.load(Ordering::Relaxed),
                schedule.done.len(),
                cfg.servers - schedule.down(),
                cfg.servers,
                net.counters.forwarded.load(Ordering::Relaxed),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    schedule.heal_all(demo, net, t0);
}

/// Blocks led by each server in the first chain read back (all agree when the run passed).
fn led(views: &[Option<check::View>], servers: usize) -> Vec<usize> {
    let mut led = vec![0; servers];
    let chain = views.iter().flatten().next().map(|v| &v.chain[..]);
    for block in chain.unwrap_or_default().iter().skip(1) {
        if let Some(n) = led.get_mut(usize::from(block.ballot.leader)) {
            *n += 1;
        }
    }
    led
}

/// Every half second until `stop`: each server's own balance, as it answers at once.
fn sample_balances(cluster: &Cluster, t0: Instant, stop: &AtomicBool) -> Vec<Sample> {
    let mut quick = cluster.clone();
    quick.client_retries = 0;
    let clients: Vec<Option<UdpClient>> = (0..cluster.servers.len())
        .map(|i| UdpClient::new(&quick, Account::of_server(i)).ok())
        .collect();
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let at_ms = t0.elapsed().as_millis() as u64;
        let balances = (clients.iter().enumerate())
            .map(|(i, c)| {
                let me = Account::of_server(i);
                match c.as_ref()?.balance(me, me).ok()? {
                    ApiMsg::Balance { balance, .. } => Some(balance),
                    _ => None,
                }
            })
            .collect();
        samples.push(Sample { at_ms, balances });
        std::thread::sleep(Duration::from_millis(500));
    }
    samples
}

/// Writes the agreed chain to `out/chain.json` and the cluster file beside it (so that
/// `paxchain audit --cluster out/cluster.toml --chain out/chain.json` runs on them), and
/// audits it: a failure of check 8 if it is not sound.
fn audit_the_chain(
    out: &Path,
    demo: &Demo,
    views: &[Option<check::View>],
) -> std::io::Result<Option<check::Failure>> {
    let Some(chain) = views.iter().flatten().map(|v| v.chain.clone()).next() else {
        return Ok(None);
    };
    let text = serde_json::to_vec_pretty(&chain).expect("blocks are plain data");
    std::fs::write(out.join("chain.json"), text)?;
    std::fs::copy(&demo.cluster_file, out.join("cluster.toml"))?;
    Ok(crate::audit::audit(&demo.cluster, chain)
        .err()
        .map(|e| check::Failure {
            check: check::CHECKS[7],
            detail: e.to_string(),
        }))
}

/// Each server's count of datagrams dropped since it last started, summed.
fn dropped(cluster: &Cluster) -> [u64; 2] {
    (0..cluster.servers.len())
        .filter_map(|i| {
            let me = Account::of_server(i);
            UdpClient::new(cluster, me).ok()?.dropped(me).ok()
        })
        .fold([0, 0], |[m, u], (dm, du)| [m + dm, u + du])
}

/// After the heal: each client, in turn, asks for more than the bank holds. Its server's
/// round gathers every pending transfer into a block and then refuses, so once every
/// server has led one, every executed transfer is in every chain.
fn converge(cluster: &Cluster, keys: &Keyring, t0: Instant) -> Vec<Record> {
    let total = cluster.initial_balance * cluster.servers.len() as u64;
    let mut out = Vec::new();
    for round in 0..2 {
        for i in 0..cluster.servers.len() {
            let a = Account::of_server(i);
            let Ok(c) = UdpClient::connect(cluster, a) else {
                continue;
            };
            let mut c = c.with_key(*keys.get(a).expect("a key per account"));
            let to = Account::of_server((i + 1) % cluster.servers.len());
            let r = load::submit(&mut c, to, total + 1 + round, Kind::Final, t0);
            out.push(r);
        }
    }
    out
}

/// What every server shows, read again (up to 5 s) until their chains agree: the last
/// COMMIT may still be on its way when the final requests are answered.
fn settled_views(cluster: &Cluster) -> Vec<Option<check::View>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let views: Vec<_> = (0..cluster.servers.len())
            .map(|i| view(cluster, i))
            .collect();
        let agree = views.iter().all(|v| {
            v.as_ref().map(|v| &v.chain) == views[0].as_ref().map(|v| &v.chain) && v.is_some()
        });
        if agree || Instant::now() >= deadline {
            return views;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What server `i` shows: its chain, its log and its own balance.
fn view(cluster: &Cluster, i: usize) -> Option<check::View> {
    let me = Account::of_server(i);
    let c = UdpClient::new(cluster, me).ok()?;
    let chain = c.chain(me).ok()?;
    // The checks need the whole log: a longer one than a datagram holds is no view.
    let (log, total) = c.log(me).ok()?;
    if total > log.len() {
        return None;
    }
    let balance = match c.balance(me, me).ok()? {
        ApiMsg::Balance { balance, .. } => balance,
        _ => return None,
    };
    Some(check::View {
        chain,
        log,
        balance,
    })
}
