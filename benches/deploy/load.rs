//! The loads the bench drives: one request at a time (the course's client), and many in
//! flight through client sessions (`paxchain_deploy::pipeline`), on the fast path and on the
//! consensus path; and what a row reports of them.

use paxchain::{Account, Outcome};
use paxchain_deploy::demo::Demo;
use paxchain_deploy::pipeline::{Answer, Pipeline};
use std::time::{Duration, Instant};

/// What a load measured: answers per second and their latencies.
pub struct Stats {
    pub n: usize,
    pub took: Duration,
    /// Every answer's latency, sorted.
    pub latencies: Vec<Duration>,
    /// How many answers were `ExecutedAfterConsensus`, and how many refusals.
    pub after_round: usize,
    pub refused: usize,
}

impl Stats {
    /// Timed answers, none of them told apart.
    pub fn of(took: Duration, latencies: Vec<Duration>) -> Stats {
        Stats::new(took, latencies, 0, 0)
    }

    fn new(
        took: Duration,
        mut latencies: Vec<Duration>,
        after_round: usize,
        refused: usize,
    ) -> Stats {
        latencies.sort();
        Stats {
            n: latencies.len(),
            took,
            latencies,
            after_round,
            refused,
        }
    }

    pub fn rate(&self) -> f64 {
        self.n as f64 / self.took.as_secs_f64()
    }

    /// The percentile `p` (0 to 100), in milliseconds.
    pub fn ms(&self, p: usize) -> f64 {
        percentile(&self.latencies, p)
    }
}

/// Sessions 1 to `n` of `account`, signing as the cluster's clients sign.
fn pipeline(demo: &Demo, account: Account, n: usize) -> Pipeline {
    let signer = demo.signer(account).expect("a signer per account");
    Pipeline::connect(&demo.cluster, (account, signer), 1, n).unwrap()
}

/// The percentile `p` (0 to 100) of sorted `xs`, in milliseconds.
pub fn percentile(xs: &[Duration], p: usize) -> f64 {
    match xs.len() {
        0 => f64::NAN,
        n => xs[(n - 1) * p / 100].as_secs_f64() * 1e3,
    }
}

/// `n` transfers of one unit from `a` to `b`, each covered by `a`'s balance, `in_flight` at
/// a time (sessions from 1 on: session 0 is the course client's).
pub fn fast(demo: &Demo, (a, b): (Account, Account), in_flight: usize, n: usize) -> Stats {
    if in_flight == 1 {
        let mut c = demo.client(a).unwrap();
        let t = Instant::now();
        let latencies = (0..n)
            .map(|_| {
                let t = Instant::now();
                assert_eq!(c.transfer(b, 1).unwrap().1, Outcome::Executed);
                t.elapsed()
            })
            .collect();
        return Stats::new(t.elapsed(), latencies, 0, 0);
    }
    let mut p = pipeline(demo, a, in_flight);
    let t = Instant::now();
    let mut sent = 0;
    for slot in 0..in_flight.min(n) {
        p.submit(slot, b, 1).unwrap();
        sent += 1;
    }
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n {
        let answer = p
            .poll(Duration::from_secs(5))
            .unwrap()
            .expect("an answer in 5 s");
        assert_eq!(answer.outcome, Outcome::Executed);
        latencies.push(answer.latency);
        if sent < n {
            p.submit(answer.slot, b, 1).unwrap();
            sent += 1;
        }
    }
    Stats::new(t.elapsed(), latencies, 0, 0)
}

/// `n` transfers from A, which holds nothing, each needing a round: A's session *k* pays C
/// one unit only after B's session *k* has paid A one unit on B's fast path, so the credit
/// is pending at B and only a round brings it to A. `in_flight` pairs at a time. With one,
/// the rate is from A's transfers' own latencies, as the bench has always measured it; with
/// more, from the wall time of the whole run.
pub fn consensus(demo: &Demo, in_flight: usize, n: usize) -> Stats {
    let (a, b, c) = (Account(0), Account(1), Account(2));
    let mut own = demo.client(a).unwrap();
    let paxchain::ApiMsg::Balance { balance: all, .. } = own.balance(a, a).unwrap() else {
        panic!("A's balance");
    };
    assert!(
        own.transfer(c, all).unwrap().1.is_executed(),
        "A gives away all it has"
    );
    if in_flight == 1 {
        let mut credit = demo.client(b).unwrap();
        let mut latencies = Vec::with_capacity(n);
        let mut after_round = 0;
        for _ in 0..n {
            assert!(credit.transfer(a, 1).unwrap().1.is_executed());
            let t = Instant::now();
            let (_, o) = own.transfer(c, 1).unwrap();
            latencies.push(t.elapsed());
            after_round += usize::from(o == Outcome::ExecutedAfterConsensus);
        }
        let took = latencies.iter().sum();
        return Stats::new(took, latencies, after_round, 0);
    }
    waves(demo, in_flight, n)
}

/// [`consensus`] with many in flight, in waves: B's sessions each pay A one unit (B's fast
/// path; the credits wait in B's log), then A's sessions each pay C one unit. A holds nothing,
/// so each of A's transfers waits for a round, and the round its first one starts brings
/// every credit; A's server takes the whole wave in before the round's promises (its socket
/// is first in, first out), so the wave waits for that round together. The rate counts A's
/// transfers over the whole run, credits' time included.
fn waves(demo: &Demo, in_flight: usize, n: usize) -> Stats {
    let (a, b, c) = (Account(0), Account(1), Account(2));
    let mut pa = pipeline(demo, a, in_flight);
    let mut pb = pipeline(demo, b, in_flight);
    let t = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let (mut after_round, mut refused) = (0, 0);
    while latencies.len() < n {
        let wave = in_flight.min(n - latencies.len());
        for answer in all_answered(&mut pb, wave, a) {
            assert!(answer.outcome.is_executed(), "{answer:?}");
        }
        for answer in all_answered(&mut pa, wave, c) {
            match answer.outcome {
                Outcome::ExecutedAfterConsensus => after_round += 1,
                Outcome::Executed => {}
                Outcome::Rejected { .. } => refused += 1,
            }
            latencies.push(answer.latency);
        }
    }
    Stats::new(t.elapsed(), latencies, after_round, refused)
}

/// One unit to `to` from each of the first `wave` sessions, and every answer.
fn all_answered(p: &mut Pipeline, wave: usize, to: Account) -> Vec<Answer> {
    for slot in 0..wave {
        p.submit(slot, to, 1).unwrap();
    }
    (0..wave)
        .map(|_| {
            p.poll(Duration::from_secs(5))
                .unwrap()
                .expect("an answer in 5 s")
        })
        .collect()
}
