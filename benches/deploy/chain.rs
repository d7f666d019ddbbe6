//! The chain-length rows: servers that start from storage already holding 1 k, 100 k or
//! 1 M transfers, so that a step's cost can be compared across chain lengths.

use crate::load::{self, Stats};
use crate::{exe, row, A, B, C};
use paxchain::server::Answered;
use paxchain::{Account, Ballot, Block, Chain, Outcome, Session, Storage, Transfer, TxId};
use paxchain_deploy::cluster::Cluster;
use paxchain_deploy::demo::{free_ports, Demo};
use paxchain_deploy::{storage, UdpClient};
use std::sync::Arc;
use std::time::Instant;

/// Transfers per block of a seeded chain.
pub const PER_BLOCK: u32 = 10;

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
                let t = Transfer::model_signed(
                    TxId::new(Account::of_server(from), seq[from]),
                    Account::of_server(from),
                    Account::of_server(1 - from),
                    1,
                );
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
            last_outcomes: (last.get(i).cloned().flatten())
                .map(|transfer| {
                    let outcome = Outcome::ExecutedAfterConsensus;
                    (Session::FIRST, Answered { transfer, outcome })
                })
                .into_iter()
                .collect(),
            ..Storage::default()
        })
        .collect()
}

/// The consensus path one at a time, the fast path with many in flight, and a restart, on
/// three servers that start from storage already holding `transfers` transfers.
pub fn rows(transfers: u32) {
    let dir = std::env::temp_dir().join(format!(
        "paxchain-bench-chain{transfers}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = Cluster::local(3, 0, 1_000_000_000);
    for (entry, port) in cluster.servers.iter_mut().zip(free_ports(3).unwrap()) {
        entry.addr.set_port(port);
    }
    for (i, s) in seeded_storage(transfers).iter().enumerate() {
        let d = dir.join(format!("server-{}", Account::of_server(i)));
        std::fs::create_dir_all(&d).unwrap();
        storage::overwrite(&d, s).unwrap();
    }
    let bytes = std::fs::metadata(dir.join("server-A").join(storage::FILE))
        .unwrap()
        .len();
    let mut demo = Demo::launch(exe(), &dir, cluster, Vec::new(), false).unwrap();
    let k = |n: u32| format!("{} k", n / 1000);
    // The consensus row first, while the logs are empty, as the course's client finds them;
    // then the fast path fills C's log (A gave C all it had).
    let consensus = load::consensus(&demo, 1, 100);
    row(
        &format!("  consensus path, {} in chain", k(transfers)),
        1,
        &consensus,
    );
    let fast = load::fast(&demo, (C, B), 64, 20_000);
    row(
        &format!("  fast path, {} in chain", k(transfers)),
        64,
        &fast,
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
    let what = format!(
        "  restart, {} in chain ({} MB log)",
        k(transfers),
        bytes >> 20
    );
    row(&what, 1, &Stats::of(took, vec![took]));
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}
