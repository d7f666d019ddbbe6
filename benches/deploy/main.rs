//! Deployment figures on loopback: `cargo bench --bench deploy` prints the tables.
//!
//! - the peer protocol's two encodings, on its largest messages;
//! - fast path: A's transfers covered by its balance, one at a time (the course's client) and
//!   with many in flight (client sessions, `paxchain_deploy::pipeline`), each durable before
//!   its answer (group commit: one fsync for every session's request that arrived meanwhile);
//! - consensus path: A holds nothing and each of its transfers needs a round to learn the
//!   credit B executed for it first; one at a time and with many in flight;
//! - failover: the leader of a round is killed; time until another server's transfer that
//!   needs consensus is committed;
//! - chain length: the fast and consensus paths again, and a restart, on servers whose
//!   storage already holds 1 k, 100 k and 1 M transfers: a step's cost must not grow with
//!   the chain;
//! - contention: five servers, every client busy with transfers that each need a round;
//!   per server, how many blocks it led and how long its clients waited (the fairness of
//!   elections: no server may starve).
//!
//! `PAXCHAIN_EXE` names another `paxchain` binary to measure instead of this build's (one
//! that reads the same storage format, for the chain-length rows). Names after `--` run only
//! those groups of rows: `wire`, `fast`, `consensus`, `security`, `failover`, `chain`,
//! `contention`.
//!
//! `security` runs the fast and consensus paths twice in one build and one sitting: as
//! deployed (every transfer signed by its owner and checked by its server, every peer
//! datagram sealed) and on a cluster without any of it (`Demo::start_unauthenticated`:
//! the model's abstract signatures, no seals), alternating, so that the cost of security
//! is read from one table.

mod chain;
mod load;

use load::Stats;
use paxchain::{Account, Ballot, Block, Outcome, Transfer, TxId};
use paxchain_deploy::demo::Demo;
use paxchain_deploy::UdpClient;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server binary: this build's, or the one `PAXCHAIN_EXE` names.
fn exe() -> &'static Path {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        std::env::var_os("PAXCHAIN_EXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_paxchain").into())
    })
}

const A: Account = Account(0);
const B: Account = Account(1);
const C: Account = Account(2);

fn cluster(name: &str, initial: u64) -> (Demo, Vec<UdpClient>) {
    cluster_of(name, 3, initial)
}

fn cluster_of(name: &str, n: usize, initial: u64) -> (Demo, Vec<UdpClient>) {
    let dir = std::env::temp_dir().join(format!("paxchain-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let demo = Demo::start(exe(), &dir, n, initial).unwrap();
    let clients = (0..n)
        .map(|i| demo.client(Account::of_server(i)).unwrap())
        .collect();
    (demo, clients)
}

fn header() {
    println!(
        "{:<38} {:>9} {:>7} {:>10} {:>8} {:>8}  answers",
        "three servers on 127.0.0.1", "in flight", "n", "rate /s", "p50 ms", "p99 ms"
    );
}

/// One row of the main table.
fn row(what: &str, in_flight: usize, s: &Stats) {
    let answers = match (s.after_round, s.refused) {
        (0, 0) => String::new(),
        (after, 0) => format!("{after} after a round"),
        (after, refused) => format!("{after} after a round, {refused} refused"),
    };
    println!(
        "{what:<38} {in_flight:>9} {:>7} {:>10.0} {:>8.2} {:>8.2}  {answers}",
        s.n,
        s.rate(),
        s.ms(50),
        s.ms(99)
    );
}

/// A load on a fresh cluster of three servers holding `initial` units each.
fn on_fresh(name: &str, initial: u64, load: impl FnOnce(&Demo) -> Stats) -> Stats {
    let (demo, _) = cluster(name, initial);
    let stats = load(&demo);
    drop(demo);
    stats
}

/// `load` on a fresh three-server cluster with a billion units each, secured as deployed
/// or (`secured` false) without any security ([`Demo::start_unauthenticated`]).
fn on(name: &str, secured: bool, load: impl FnOnce(&Demo) -> Stats) -> Stats {
    if secured {
        return on_fresh(name, 1_000_000_000, load);
    }
    let dir = std::env::temp_dir().join(format!("paxchain-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let demo = Demo::start_unauthenticated(exe(), &dir, 3, 1_000_000_000).unwrap();
    let stats = load(&demo);
    drop(demo);
    stats
}

/// Whether the group of rows named `group` runs: all, unless names are given after `--`
/// (`cargo bench --bench deploy -- fast consensus`).
fn wanted(group: &str) -> bool {
    let asked: Vec<String> = (std::env::args().skip(1))
        .filter(|a| !a.starts_with('-'))
        .collect();
    asked.is_empty() || asked.iter().any(|a| a == group)
}

fn main() {
    if wanted("wire") {
        wire();
    }
    header();
    row("fdatasync of 100 bytes alone", 1, &fsync_alone());
    if wanted("fast") {
        for (in_flight, n) in [(1, 2_000), (16, 20_000), (64, 50_000), (255, 50_000)] {
            let s = on_fresh(&format!("fast{in_flight}"), 1_000_000_000, |c| {
                load::fast(c, (A, B), in_flight, n)
            });
            row("fast path (executed locally)", in_flight, &s);
        }
    }
    if wanted("consensus") {
        for (in_flight, n) in [(1, 200), (64, 10_000), (128, 20_000), (255, 30_000)] {
            let s = on_fresh(&format!("consensus{in_flight}"), 1_000_000_000, |c| {
                load::consensus(c, in_flight, n)
            });
            row("consensus path (a round each)", in_flight, &s);
        }
    }
    if wanted("security") {
        security();
    }
    if wanted("failover") {
        row("leader killed -> next commit", 1, &failover());
    }
    if wanted("chain") {
        for transfers in [1_000, 100_000, 1_000_000] {
            chain::rows(transfers);
        }
    }
    if wanted("contention") {
        contention();
    }
}

/// The security rows: each load on a secured and on an unauthenticated cluster, in turn.
fn security() {
    for (in_flight, n) in [(1, 2_000), (64, 50_000)] {
        for secured in [true, false] {
            let s = on(&format!("sec-fast{in_flight}-{secured}"), secured, |c| {
                load::fast(c, (A, B), in_flight, n)
            });
            row(&security_label("fast path", secured), in_flight, &s);
        }
    }
    for (in_flight, n) in [(1, 200), (128, 20_000)] {
        for secured in [true, false] {
            let s = on(
                &format!("sec-consensus{in_flight}-{secured}"),
                secured,
                |c| load::consensus(c, in_flight, n),
            );
            row(&security_label("consensus path", secured), in_flight, &s);
        }
    }
}

fn security_label(path: &str, secured: bool) -> String {
    match secured {
        true => format!("{path}, signed and sealed"),
        false => format!("{path}, no security"),
    }
}

/// Ten times: A leads a round and is killed during it; how long until B's round commits.
fn failover() -> Stats {
    let rounds = 10;
    let mut waits = Vec::new();
    for i in 0..rounds {
        let (mut demo, mut c) = cluster(&format!("failover{i}"), 1);
        // A is short (B's credit is pending at B): it leads a round, and is killed during it.
        c[0].transfer(B, 1).unwrap();
        c[1].transfer(A, 1).unwrap();
        let mut a = c.remove(0);
        let flight = std::thread::spawn(move || a.transfer(C, 1));
        std::thread::sleep(Duration::from_millis(1));
        let killed = Instant::now();
        demo.crash(A);
        // C gives its unit to B (pending at C); B asks for more than the bank holds, so its
        // round with C commits C's transfer and then refuses: the refusal marks the commit.
        let (b, c_) = (0, 1);
        c[c_].transfer(B, 1).unwrap();
        let before = c[b].chain(B).unwrap().len();
        let (_, o) = c[b].transfer(C, 1_000).unwrap();
        assert!(matches!(o, Outcome::Rejected { .. }), "{o:?}");
        assert!(
            c[b].chain(B).unwrap().len() > before,
            "a block was committed"
        );
        waits.push(killed.elapsed());
        let _ = flight.join();
    }
    let took = waits.iter().sum();
    Stats::of(took, waits)
}

/// The peer protocol's two encodings, on its largest messages: bytes, and the time to encode
/// and decode one. Servers send the binary one; the JSON one is what they sent before.
fn wire() {
    use paxchain::{Height, Msg, PeerMsg};
    use paxchain_deploy::wire;
    let transfers: Vec<Transfer> = (0..10)
        .map(|seq| Transfer::model_signed(TxId::new(A, seq), A, B, 7))
        .collect();
    let genesis = Block::genesis();
    let block = Arc::new(Block::new(
        Height(1_000),
        Ballot::new(1_000, 1),
        genesis.hash,
        transfers.clone(),
    ));
    let messages = [
        (
            "ACCEPT, 10 transfers",
            PeerMsg::Accept {
                ballot: Ballot::new(1_000, 1),
                block,
            },
        ),
        (
            "PROMISE, 10 pending",
            PeerMsg::Promise {
                ballot: Ballot::new(1_000, 1),
                height: Height(1_000),
                accepted: None,
                pending: Arc::new(transfers),
                more: false,
            },
        ),
        (
            "ACCEPTED",
            PeerMsg::Accepted {
                ballot: Ballot::new(1_000, 1),
                height: Height(1_000),
            },
        ),
    ];
    println!(
        "{:<24} {:>8} {:>12} {:>8} {:>12}",
        "peer message", "JSON B", "JSON µs", "binary B", "binary µs"
    );
    for (what, m) in messages {
        let m = Msg::Peer(m);
        let time = |encode: &dyn Fn(&Msg) -> Vec<u8>| {
            let n = 20_000;
            let t = Instant::now();
            for _ in 0..n {
                let bytes = encode(&m);
                let back = wire::parse(&bytes).expect("decodes");
                std::hint::black_box(back);
            }
            (
                encode(&m).len(),
                t.elapsed().as_secs_f64() * 1e6 / f64::from(n),
            )
        };
        let (json, json_us) = time(&wire::encode_json);
        let (binary, binary_us) = time(&wire::encode_msg);
        println!("{what:<24} {json:>8} {json_us:>12.2} {binary:>8} {binary_us:>12.2}");
    }
    println!();
}

/// The floor of a durable step on this disk: 100 bytes appended and `fdatasync`ed, as the
/// storage log does once per save.
fn fsync_alone() -> Stats {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("paxchain-bench-fsync-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let t = Instant::now();
    let latencies = (0..1_000)
        .map(|_| {
            let t = Instant::now();
            f.write_all(&[7; 100]).unwrap();
            f.sync_data().unwrap();
            t.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(path);
    Stats::of(t.elapsed(), latencies)
}

/// Five servers with one unit each; every client pays the next account one unit, again
/// and again, for `SECS`. After its first transfer each client is short until its
/// predecessor's credit is committed, so every server keeps asking for rounds at once.
fn contention() {
    const SERVERS: usize = 5;
    const SECS: u64 = 10;
    let (_demo, clients) = cluster_of("contention", SERVERS, 1);
    let until = Instant::now() + Duration::from_secs(SECS);
    let threads: Vec<_> = (clients.into_iter().enumerate())
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let next = Account::of_server((i + 1) % SERVERS);
                let (mut waits, mut rejected, mut unanswered) = (Vec::new(), 0, 0);
                let mut k = 0;
                while Instant::now() < until {
                    k += 1;
                    // Every fifth transfer is more than the bank holds: only a round this
                    // server leads itself can refuse it.
                    let amount = if k % 5 == 0 { 1_000 } else { 1 };
                    let t = Instant::now();
                    match c.transfer(next, amount) {
                        Ok((_, Outcome::ExecutedAfterConsensus)) => waits.push(t.elapsed()),
                        Ok((_, Outcome::Executed)) => {}
                        Ok((_, Outcome::Rejected { .. })) => {
                            rejected += 1;
                            waits.push(t.elapsed());
                        }
                        Err(_) => unanswered += 1,
                    }
                }
                waits.sort();
                (c, waits, rejected, unanswered)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let chain = results[0].0.chain(Account::of_server(0)).unwrap();
    println!(
        "\nfive servers, every client busy for {SECS} s: {} blocks\n\
         {:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        chain.len() - 1,
        "server",
        "led",
        "consensus",
        "p50 ms",
        "p99 ms",
        "rejected",
        "no answer"
    );
    for (i, (_, waits, rejected, unanswered)) in results.iter().enumerate() {
        let led = (chain.iter().skip(1))
            .filter(|b| usize::from(b.ballot.leader) == i)
            .count();
        println!(
            "{:<8} {led:>10} {:>10} {:>10.1} {:>10.1} {rejected:>10} {unanswered:>10}",
            Account::of_server(i).to_string(),
            waits.len(),
            load::percentile(waits, 50),
            load::percentile(waits, 99),
        );
    }
}
