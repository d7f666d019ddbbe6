//! The torture run's clients: one per session of each account (so a server's flushes answer
//! several at once), each on its own thread with its own ids and resends, submitting a
//! seeded mix of transfers and recording every request with its outcome, or with none when
//! no answer came through all resends (indeterminate).

use crate::cluster::Cluster;
use crate::UdpClient;
use ed25519_zebra::SigningKey;
use paxchain::{Account, Outcome, Rejection, Session, TxId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a request was meant to exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One unit to another account: the fast path while the balance lasts.
    Small,
    /// The whole initial balance: often short, so it needs a consensus round.
    Short,
    /// More than all the money in the bank: must be refused after a round.
    Huge,
    /// Zero units, or to an account that does not exist: must be refused at once.
    Invalid,
    /// The final requests after the heal, one per client, that drive every server to
    /// converge (each is huge, so its round gathers every pending transfer).
    Final,
}

/// One request and what came of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: TxId,
    pub from: Account,
    pub to: Account,
    pub amount: u64,
    pub kind: Kind,
    /// Milliseconds from the start of the run.
    pub sent_ms: u64,
    pub answered_ms: u64,
    /// `None`: indeterminate, no answer through all resends.
    pub outcome: Option<Outcome>,
}

impl Record {
    /// Whether the bank said it executed the transfer.
    pub fn executed(&self) -> bool {
        self.outcome.as_ref().is_some_and(Outcome::is_executed)
    }

    /// How long the client waited, in milliseconds.
    pub fn latency_ms(&self) -> u64 {
        self.answered_ms - self.sent_ms
    }

    /// Whether the answer came after a consensus round: executed after consensus, or
    /// refused because the round found no money for it (or no quorum).
    pub fn after_round(&self) -> bool {
        matches!(
            &self.outcome,
            Some(
                Outcome::ExecutedAfterConsensus
                    | Outcome::Rejected {
                        reason: Rejection::InsufficientFunds { .. } | Rejection::NoQuorum
                    }
            )
        )
    }
}

/// Submits one transfer and records it.
pub fn submit(c: &mut UdpClient, to: Account, amount: u64, kind: Kind, t0: Instant) -> Record {
    let sent = t0.elapsed();
    let result = c.transfer(to, amount);
    let answered = t0.elapsed();
    let (id, outcome) = match result {
        Ok((id, outcome)) => (id, Some(outcome)),
        Err(_) => (c.last_id(), None),
    };
    Record {
        id,
        from: c.account(),
        to,
        amount,
        kind,
        sent_ms: sent.as_millis() as u64,
        answered_ms: answered.as_millis() as u64,
        outcome,
    }
}

/// Runs the client of account `me`'s session `session` until `stop`, counting its requests
/// in `sent`; returns its records.
pub fn client(
    cluster: &Cluster,
    (me, session, key): (usize, Session, SigningKey),
    seed: u64,
    t0: Instant,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> Vec<Record> {
    let n = cluster.servers.len();
    let total = cluster.initial_balance * n as u64;
    let mut rng = StdRng::seed_from_u64(seed ^ (me as u64) << 32 ^ u64::from(session.0) << 40);
    let mut records = Vec::new();
    let mut c = loop {
        match UdpClient::connect_session(cluster, Account::of_server(me), session) {
            Ok(c) => break c.with_key(key),
            Err(_) if !stop.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(_) => return records,
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let other = Account::of_server((me + rng.random_range(1..n)) % n);
        let (to, amount, kind) = match rng.random_range(0..20) {
            0..=11 => (other, 1, Kind::Small),
            12..=15 => (other, cluster.initial_balance, Kind::Short),
            16..=17 => (other, total + 1, Kind::Huge),
            18 => (other, 0, Kind::Invalid),
            _ => (Account(25), 1, Kind::Invalid),
        };
        records.push(submit(&mut c, to, amount, kind, t0));
        sent.fetch_add(1, Ordering::Relaxed);
    }
    records
}
