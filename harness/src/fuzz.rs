//! The decoders' fuzzer: whatever bytes arrive from outside, every decoder answers with a
//! value or a clear error, never a panic and never a hang.
//!
//! The decoders are the ones that read what a server or a tool does not write itself: a
//! datagram (the client API's JSON, the peers' binary, the harness's), a storage log and one
//! record of it, a cluster file, a key file. Each [`Target`] starts from valid inputs (its
//! seeds) and feeds its decoder mutants of them: bytes flipped, overwritten, inserted,
//! deleted, repeated, cut, spliced from another seed, so the inputs reach past the first
//! byte into the structure. [`run`] counts what was accepted and refused, catches any
//! panic with the input that caused it, and keeps the slowest input's time.
//!
//! `cargo bench --bench fuzz` runs ten million inputs per decoder; the tests a few thousand.

use ed25519_zebra::SigningKey;
use paxchain::msg::AcceptedBlock;
use paxchain::signature::sign;
use paxchain::{ApiMsg, Ballot, Block, Height, Msg, PeerMsg, Transfer, TxId};
use paxchain_deploy::cluster::Cluster;
use paxchain_deploy::keys;
use paxchain_deploy::storage::{self, change::Change, frame};
use paxchain_deploy::wire;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One decoder and the valid inputs its mutants start from.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    /// The decoder: whether it accepted the input (an error is a refusal, not a failure).
    pub decode: fn(&[u8]) -> bool,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Findings {
    pub inputs: u64,
    pub accepted: u64,
    pub refused: u64,
    /// Inputs whose decoding panicked.
    pub panics: Vec<Vec<u8>>,
    pub slowest: Duration,
    pub took: Duration,
}

/// Every decoder, with its seeds.
pub fn targets() -> Vec<Target> {
    let datagrams = datagram_seeds();
    let record = storage::encode_record(&record_seed());
    let mut log = frame::MAGIC.to_vec();
    log.extend(frame::frame(&storage::encode_record(&[Change::Snapshot {
        storage: Default::default(),
    }])));
    log.extend(frame::frame(&record));
    let mut cluster = Cluster::local(3, 7000, 10);
    let key = SigningKey::from([5u8; 32]);
    for s in &mut cluster.servers {
        s.account_key = Some(keys::public_hex(&key));
    }
    vec![
        Target {
            name: "datagram",
            seeds: datagrams,
            decode: |b| wire::parse(b).is_ok(),
        },
        Target {
            name: "storage log",
            seeds: vec![log],
            decode: |b| storage::decode(b).is_ok(),
        },
        Target {
            name: "storage record",
            seeds: vec![record],
            decode: |b| storage::decode_record(b).is_ok(),
        },
        Target {
            name: "cluster file",
            seeds: vec![cluster.to_toml().into_bytes()],
            decode: |b| std::str::from_utf8(b).is_ok_and(|t| Cluster::parse(t, "fuzzed").is_ok()),
        },
        Target {
            name: "key file",
            seeds: vec![format!("{}\n", "ab".repeat(32)).into_bytes()],
            decode: |b| keys::parse(b).is_some(),
        },
    ]
}

/// A signed transfer, as clients send them.
fn transfer(seq: u32) -> Transfer {
    let (a, b) = (paxchain::Account(0), paxchain::Account(1));
    let t = Transfer::model_signed(TxId::new(a, seq), a, b, 7);
    sign(t, &SigningKey::from([3u8; 32]))
}

fn datagram_seeds() -> Vec<Vec<u8>> {
    let block = Arc::new(Block::new(
        Height(1),
        Ballot::new(1, 0),
        Block::genesis().hash,
        vec![transfer(1), transfer(2)],
    ));
    let msgs: Vec<Msg> = vec![
        ApiMsg::Submit {
            transfer: transfer(3),
        }
        .into(),
        ApiMsg::GetChain { from: Height(0) }.into(),
        PeerMsg::Promise {
            ballot: Ballot::new(2, 1),
            height: Height(1),
            accepted: Some(AcceptedBlock {
                ballot: Ballot::new(1, 0),
                block: block.clone(),
            }),
            pending: Arc::new(vec![transfer(4)]),
            more: true,
        }
        .into(),
        PeerMsg::CatchUp {
            blocks: vec![block],
            more: false,
            promised: Ballot::new(2, 1),
        }
        .into(),
    ];
    let mut seeds: Vec<Vec<u8>> = msgs.iter().map(wire::encode_msg).collect();
    seeds.extend(msgs.iter().map(wire::encode_json));
    seeds.push(br#"{"Harness":"ReportState"}"#.to_vec());
    seeds
}

fn record_seed() -> Vec<Change> {
    vec![
        Change::Promised {
            ballot: Ballot::new(3, 2),
        },
        Change::Logged {
            transfers: vec![transfer(1), transfer(2)],
        },
        Change::Trimmed { count: 1 },
    ]
}

/// Feeds `target` `inputs` mutants, from `seed`.
pub fn run(target: &Target, inputs: u64, seed: u64) -> Findings {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut found = Findings::default();
    let start = Instant::now();
    for _ in 0..inputs {
        let input = mutant(&mut rng, &target.seeds);
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (target.decode)(&input)));
        found.slowest = found.slowest.max(t.elapsed());
        found.inputs += 1;
        match result {
            Ok(true) => found.accepted += 1,
            Ok(false) => found.refused += 1,
            Err(_) => found.panics.push(input),
        }
    }
    found.took = start.elapsed();
    found
}

/// A seed with one to eight mutations.
fn mutant(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=8) {
        let len = b.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..8) {
            0 if len > 0 => b[at.min(len - 1)] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => b[at.min(len - 1)] = rng.random(),
            2 => {
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                b.splice(at..at, bytes);
            }
            3 => {
                let end = (at + rng.random_range(1..32)).min(len);
                b.drain(at..end);
            }
            4 => {
                let end = (at + rng.random_range(1..32)).min(len);
                let copy = b[at..end].to_vec();
                b.splice(at..at, copy);
            }
            5 => b.truncate(at),
            6 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                b.splice(at.., other[from..].iter().copied());
            }
            _ => {
                // A number's worth of bytes at their extremes: lengths and counts.
                let word = [0x00, 0xff, 0x7f, 0x80][rng.random_range(0..4)];
                let n = rng.random_range(1..9);
                let end = (at + n).min(len);
                b[at..end].iter_mut().for_each(|x| *x = word);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed is accepted (so the mutants start from inside the format), and a few
    /// thousand mutants of each neither panic nor take long.
    #[test]
    fn every_decoder_refuses_mutants_without_a_panic() {
        for t in targets() {
            for s in &t.seeds {
                assert!((t.decode)(s), "{}: a seed is refused", t.name);
            }
            let found = run(&t, 5_000, 7);
            assert!(
                found.panics.is_empty(),
                "{}: {:?}",
                t.name,
                found.panics.first()
            );
            assert!(found.refused > 0, "{}: mutants are refused", t.name);
            assert!(
                found.slowest < Duration::from_millis(200),
                "{}: {:?}",
                t.name,
                found.slowest
            );
        }
    }
}
