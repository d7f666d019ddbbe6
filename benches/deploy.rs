//! Deployment figures on loopback: `cargo bench --bench deploy` prints a table.
//!
//! - fast path: one client's transfers covered by its balance, one after another;
//! - consensus path: each transfer of A is short and needs a round (B's credit arrives first);
//! - failover: the leader of a round is killed; time until another server's transfer that
//!   needs consensus is committed;
//! - chain length: the fast and consensus paths again, and a restart, on servers whose
//!   storage already holds 1 k, 100 k and 1 M transfers: a step's cost must not grow with
//!   the chain;
//! - contention: five servers, every client busy with transfers that each need a round;
//!   per server, how many blocks it led and how long its clients waited (the fairness of
//!   elections: no server may starve).

use paxchain::server::Answered;
use paxchain::{Account, Ballot, Block, Chain, Outcome, Storage, Transfer, TxId};
use paxchain_deploy::cluster::Cluster;
use paxchain_deploy::demo::{free_ports, Demo};
use paxchain_deploy::{storage, UdpClient};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server binary: this build's, or the one `PAXCHAIN_EXE` names, so that an earlier
/// build can be measured by the same bench in the same sitting. An earlier build reads the
/// whole-file JSON copy, so seeded storage is also written in that form then.
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
        .map(|i| UdpClient::connect(&demo.cluster, Account::of_server(i)).unwrap())
        .collect();
    (demo, clients)
}

fn row(what: &str, n: usize, took: Duration) {
    println!(
        "{what:<34} {n:>6} {:>10.1} ms {:>12.0} /s {:>10.0} µs each",
        took.as_secs_f64() * 1e3,
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    wire();
    println!(
        "{:<34} {:>6} {:>13} {:>15} {:>15}",
        "three servers on 127.0.0.1", "n", "total", "rate", "latency"
    );

    fsync_alone();
    let (_demo, mut c) = cluster("fast", 1_000_000);
    let n = 2_000;
    let t = Instant::now();
    for _ in 0..n {
        assert_eq!(c[0].transfer(B, 1).unwrap().1, Outcome::Executed);
    }
    row("fast path (executed locally)", n, t.elapsed());
    drop(_demo);

    // 1 unit each. B's 1 unit to A is executed at B; A, with nothing left, sends it on: short,
    // so each of A's transfers needs one round to learn B's credit.
    let (_demo, mut c) = cluster("consensus", 1);
    assert_eq!(c[0].transfer(B, 1).unwrap().1, Outcome::Executed);
    let n = 200;
    let mut took = Duration::ZERO;
    for _ in 0..n {
        assert!(c[1].transfer(A, 1).unwrap().1.is_executed());
        let t = Instant::now();
        let (_, o) = c[0].transfer(B, 1).unwrap();
        took += t.elapsed();
        assert_eq!(o, Outcome::ExecutedAfterConsensus);
    }
    row("consensus path (one round each)", n, took);
    drop(_demo);

    let rounds = 10;
    let mut total = Duration::ZERO;
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
        total += killed.elapsed();
        let _ = flight.join();
    }
    row("leader killed -> next commit", rounds, total);
    for transfers in [1_000, 100_000, 1_000_000] {
        chain_length(transfers);
    }
    contention();
}

/// The peer protocol's two encodings, on its largest messages: bytes, and the time to encode
/// and decode one. Servers send the binary one; the JSON one is what they sent before.
fn wire() {
    use paxchain::{Height, Msg, PeerMsg};
    use paxchain_deploy::wire;
    let transfers: Vec<Transfer> = (0..10)
        .map(|seq| Transfer {
            id: TxId { client: A, seq },
            from: A,
            to: B,
            amount: 7,
        })
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
fn fsync_alone() {
    use std::io::Write;
    let path = std::env::temp_dir().join(format!("paxchain-bench-fsync-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    let n = 1_000;
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(&[7; 100]).unwrap();
        f.sync_data().unwrap();
    }
    row("fdatasync of 100 bytes alone", n, t.elapsed());
    let _ = std::fs::remove_file(path);
}

/// The most time one of the chain-length rows takes.
const BUDGET: Duration = Duration::from_secs(10);

/// Transfers per block of a seeded chain.
const PER_BLOCK: u32 = 10;

/// A chain of `transfers` transfers, A and B paying each other 1 unit, `PER_BLOCK` to a
/// block; and the storage each of three servers would hold after it.
fn seeded_storage(transfers: u32) -> Vec<Storage> {
    let mut chain = Chain::new();
    let mut seq = [0u32; 2];
    let mut last: [Option<Transfer>; 2] = [None, None];
    for round in 1..=transfers / PER_BLOCK {
        let block: Vec<Transfer> = (0..PER_BLOCK)
            .map(|k| {
                let from = (k % 2) as usize;
                seq[from] += 1;
                let t = Transfer {
                    id: TxId {
                        client: Account::of_server(from),
                        seq: seq[from],
                    },
                    from: Account::of_server(from),
                    to: Account::of_server(1 - from),
                    amount: 1,
                };
                last[from] = Some(t.clone());
                t
            })
            .collect();
        let tip = chain.tip().clone();
        let ballot = Ballot::new(round, (round % 3) as u8);
        let block = Block::new(tip.height.next(), ballot, tip.hash, block);
        chain.append(Arc::new(block)).expect("a linked block");
    }
    let promised = chain.tip().ballot;
    let chain = Arc::new(chain);
    (0..3)
        .map(|i| Storage {
            promised,
            chain: chain.clone(),
            last_outcome: last.get(i).cloned().flatten().map(|transfer| Answered {
                transfer,
                outcome: Outcome::ExecutedAfterConsensus,
            }),
            ..Storage::default()
        })
        .collect()
}

/// The fast path, the consensus path and a restart on three servers that start from
/// storage already holding `transfers` transfers.
fn chain_length(transfers: u32) {
    let dir = std::env::temp_dir().join(format!(
        "paxchain-bench-chain{transfers}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = Cluster::local(3, 0, 1_000_000);
    for (entry, port) in cluster.servers.iter_mut().zip(free_ports(3).unwrap()) {
        entry.addr.set_port(port);
    }
    for (i, s) in seeded_storage(transfers).iter().enumerate() {
        let d = dir.join(format!("server-{}", Account::of_server(i)));
        std::fs::create_dir_all(&d).unwrap();
        storage::overwrite(&d, s).unwrap();
        if std::env::var_os("PAXCHAIN_EXE").is_some() {
            // An earlier build restored its JSON copy only when the runtime's own file
            // (`<addr>.storage`) existed, so both are written.
            let json = serde_json::to_vec(s).unwrap();
            std::fs::write(d.join(storage::LEGACY_FILE), &json).unwrap();
            let runtime_file = format!("{}.storage", cluster.servers[i].listen_addr());
            std::fs::write(d.join(runtime_file), &json).unwrap();
        }
    }
    let bytes = std::fs::metadata(dir.join("server-A").join(storage::FILE))
        .unwrap()
        .len();
    let mut demo = Demo::launch(exe(), &dir, cluster, Vec::new(), false).unwrap();
    let mut c: Vec<UdpClient> = (0..3)
        .map(|i| UdpClient::connect(&demo.cluster, Account::of_server(i)).unwrap())
        .collect();
    let k = |n: u32| format!("{} k", n / 1000);
    // Each row stops after its count or `BUDGET`, whichever comes first: an earlier build
    // rewrote the whole chain on every save.
    let t = Instant::now();
    let mut n = 0;
    while n < 1_000 && t.elapsed() < BUDGET {
        assert_eq!(c[2].transfer(A, 1).unwrap().1, Outcome::Executed);
        n += 1;
    }
    row(
        &format!("  fast path, {} in chain", k(transfers)),
        n,
        t.elapsed(),
    );
    // C pays A and B all it has; from then on each of C's transfers is short and needs a
    // round to learn the unit B sends it first.
    let left = 1_000_000 - n as u64;
    assert!(c[2].transfer(B, left).unwrap().1.is_executed());
    let (mut n, mut took) = (0, Duration::ZERO);
    while n < 100 && took < BUDGET {
        n += 1;
        assert!(c[1].transfer(C, 1).unwrap().1.is_executed());
        let t = Instant::now();
        let (_, o) = c[2].transfer(A, 1).unwrap();
        took += t.elapsed();
        assert_eq!(o, Outcome::ExecutedAfterConsensus);
    }
    row(
        &format!("  consensus path, {} in chain", k(transfers)),
        n,
        took,
    );
    demo.crash(A);
    let t = Instant::now();
    demo.restart(0).unwrap();
    // Asked every millisecond, so the figure is the restart's and not a client's timeout.
    let mut eager = demo.cluster.clone();
    (eager.client_timeout_ms, eager.client_retries) = (1, 100_000);
    let back = UdpClient::connect(&eager, A).expect("A answers after its restart");
    let took = t.elapsed();
    let tip = match back.status(A).unwrap() {
        paxchain::ApiMsg::Status { tip, .. } => tip,
        other => panic!("{other:?}"),
    };
    assert!(
        tip.0 >= transfers / PER_BLOCK,
        "A restarted with its chain: {tip:?}"
    );
    row(
        &format!(
            "  restart, {} in chain ({} MB log)",
            k(transfers),
            bytes >> 20
        ),
        1,
        took,
    );
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The percentile `p` (0 to 100) of sorted `xs`, in milliseconds.
fn percentile(xs: &[Duration], p: usize) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs[(xs.len() - 1) * p / 100].as_secs_f64() * 1e3
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
            percentile(waits, 50),
            percentile(waits, 99),
        );
    }
}
