//! `summary.txt`, the table the terminal shows at the end of a torture run (its data, and
//! the whole history, are in `super::history`).

use super::check::CHECKS;
use super::faults::ALL;
use super::load::Record;
use super::Run;
use paxchain::{Account, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `summary.txt`; returns the table.
pub fn write(dir: &Path, run: &Run) -> std::io::Result<String> {
    let text = table(run);
    std::fs::write(dir.join("summary.txt"), &text)?;
    Ok(text)
}

/// The outcome as the table counts it.
pub fn class(r: &Record) -> &'static str {
    match &r.outcome {
        None => "indeterminate",
        Some(Outcome::Executed) => "executed (fast path)",
        Some(Outcome::ExecutedAfterConsensus) => "executed after consensus",
        Some(Outcome::Rejected { .. }) if r.after_round() => "refused after a round",
        Some(Outcome::Rejected { .. }) => "refused at once",
    }
}

/// The `p`-th percentile of sorted `ms`.
pub fn percentile(ms: &[u64], p: usize) -> u64 {
    ms[(ms.len() - 1) * p / 100]
}

fn percentiles(mut ms: Vec<u64>) -> String {
    if ms.is_empty() {
        return format!("{:>6} {:>6} {:>6}", "-", "-", "-");
    }
    ms.sort_unstable();
    let (p50, p99) = (percentile(&ms, 50), percentile(&ms, 99));
    format!("{p50:>6} {p99:>6} {:>6}", ms[ms.len() - 1])
}

/// Server `i`'s requests answered after a consensus round: their latencies, sorted.
pub fn round_latencies(records: &[Record], i: usize) -> Vec<u64> {
    let me = Account::of_server(i);
    let mut ms: Vec<u64> = (records.iter())
        .filter(|r| r.from == me && r.after_round())
        .map(Record::latency_ms)
        .collect();
    ms.sort_unstable();
    ms
}

/// For each restart, how long the restarted server's client waited, from the restart (or
/// its request, if later), for its first answer after a round; and whether another fault
/// began in that time (then the wait is not the restart's alone).
pub fn first_answers_after_restarts(run: &Run) -> Vec<(u64, bool)> {
    (run.restarts.iter())
        .filter_map(|restart| {
            let first = (run.records.iter())
                .filter(|r| r.from == restart.server && r.after_round())
                .filter(|r| r.answered_ms > restart.at_ms)
                .min_by_key(|r| r.answered_ms)?;
            let from = first.sent_ms.max(restart.at_ms);
            let disturbed = (run.faults.iter())
                .any(|f| f.start_ms >= restart.at_ms && f.start_ms < first.answered_ms);
            Some((first.answered_ms - from, disturbed))
        })
        .collect()
}

fn table(run: &Run) -> String {
    let cfg = run.cfg;
    let mut s = String::new();
    let names: Vec<&str> = cfg.faults.iter().map(|f| f.name()).collect();
    let faults = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    };
    let _ = writeln!(
        s,
        "paxchain torture: {} servers, {} sessions each, {:.0} s, seed {}, faults {faults}",
        cfg.servers,
        cfg.sessions,
        cfg.duration.as_secs_f64(),
        cfg.seed,
    );
    requests(&mut s, run);
    let _ = writeln!(s, "\nfaults injected: {}", run.faults.len());
    for kind in ALL {
        let n = run.faults.iter().filter(|f| f.fault == kind).count();
        if n > 0 {
            let _ = writeln!(s, "  {:<28} {n:>7}", kind.name());
        }
    }
    let [forwarded, lost, duplicated, cut] = run.network;
    let _ = writeln!(
        s,
        "network: {forwarded} datagrams forwarded, {lost} lost, {duplicated} duplicated, \
         {cut} cut by partitions"
    );
    let [malformed, unauthentic] = run.dropped;
    let _ = writeln!(
        s,
        "dropped by the servers since their last start: {malformed} malformed, \
         {unauthentic} peer datagrams not authentic"
    );
    forgeries(&mut s, run);
    latencies(&mut s, run);
    restarts(&mut s, run);
    let _ = writeln!(s, "\nchecks:");
    for name in CHECKS {
        let mine: Vec<_> = run.failures.iter().filter(|f| f.check == name).collect();
        let verdict = if mine.is_empty() { "pass" } else { "FAIL" };
        let _ = writeln!(s, "  {verdict}  {name}");
        for f in mine {
            let _ = writeln!(s, "        {}", f.detail);
        }
    }
    let verdict = if run.failures.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    let _ = writeln!(s, "\n{verdict}");
    s
}

fn requests(s: &mut String, run: &Run) {
    let mut by_class: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &run.records {
        *by_class.entry(class(r)).or_default() += 1;
    }
    let answered = run.records.iter().filter(|r| r.outcome.is_some()).count();
    let _ = writeln!(
        s,
        "\nrequests: {} ({:.0} answered/s over {:.1} s of load)",
        run.records.len(),
        answered as f64 * 1000.0 / run.load_ms.max(1) as f64,
        run.load_ms as f64 / 1000.0
    );
    for (c, n) in &by_class {
        let _ = writeln!(s, "  {c:<28} {n:>7}");
    }
}

/// Per server: fast-path and after-a-round latencies, unanswered requests, blocks led; and
/// how far the slowest server's p99 after a round is from the best's (the fairness of
/// elections).
fn latencies(s: &mut String, run: &Run) {
    let _ = writeln!(
        s,
        "\nlatency, ms   fast path:  p50    p99    max   after a round:  p50    p99    max   \
         unanswered  blocks led"
    );
    let mut p99s = Vec::new();
    for i in 0..run.cfg.servers {
        let me = Account::of_server(i);
        let mine = run.records.iter().filter(|r| r.from == me);
        let fast: Vec<u64> = (mine.clone())
            .filter(|r| r.outcome == Some(Outcome::Executed))
            .map(Record::latency_ms)
            .collect();
        let round = round_latencies(&run.records, i);
        if !round.is_empty() {
            p99s.push((percentile(&round, 99), me));
        }
        let unanswered = mine.filter(|r| r.outcome.is_none()).count();
        let _ = writeln!(
            s,
            "  server {me}          {}                  {}   {unanswered:>10}  {:>10}",
            percentiles(fast),
            percentiles(round),
            run.led.get(i).copied().unwrap_or(0)
        );
    }
    let best = p99s.iter().min();
    let worst = p99s.iter().max();
    if let (Some(&(best, b)), Some(&(worst, w))) = (best, worst) {
        let _ = writeln!(
            s,
            "  p99 after a round: best {best} ms (server {b}), worst {worst} ms (server {w}), \
             {:.1}x",
            worst as f64 / best.max(1) as f64
        );
    }
}

/// Restarts after kills: the ballots each missed, and how soon its client was answered.
fn restarts(s: &mut String, run: &Run) {
    if run.restarts.is_empty() {
        return;
    }
    let mut missed: Vec<u64> = (run.restarts.iter())
        .filter_map(|r| r.ballots_missed.map(u64::from))
        .collect();
    missed.sort_unstable();
    let all = first_answers_after_restarts(run);
    let disturbed = all.iter().filter(|(_, d)| *d).count();
    let mut waits: Vec<u64> = all.iter().filter(|(_, d)| !d).map(|(w, _)| *w).collect();
    waits.sort_unstable();
    let _ = writeln!(s, "\nrestarts: {}", run.restarts.len());
    if !missed.is_empty() {
        let _ = writeln!(
            s,
            "  ballots missed while down          p50 {:>6}  max {:>6}",
            percentile(&missed, 50),
            missed[missed.len() - 1]
        );
    }
    if !waits.is_empty() {
        let within = waits.iter().filter(|&&w| w < run.round_timeout_ms).count();
        let _ = writeln!(
            s,
            "  first answer after a round, ms     p50 {:>6}  max {:>6}  \
             ({within} of {} within the {} ms round timeout)",
            percentile(&waits, 50),
            waits[waits.len() - 1],
            waits.len(),
            run.round_timeout_ms
        );
    }
    if disturbed > 0 {
        let _ = writeln!(
            s,
            "  ({disturbed} more restarts had another fault begin before that answer)"
        );
    }
}

/// The `forge` faults' tally: what was sent, what the servers refused and counted.
fn forgeries(s: &mut String, run: &Run) {
    if run.forgeries.is_empty() {
        return;
    }
    let sum = |f: fn(&super::forge::Forgery) -> u64| run.forgeries.iter().map(f).sum::<u64>();
    let _ = writeln!(
        s,
        "forged ({} servers' worth): {} of {} peer datagrams counted as not authentic, \
         {} of {} unsigned transfers refused as BadSignature",
        run.forgeries.len(),
        sum(|f| f.peer_counted),
        sum(|f| f.peer_sent),
        sum(|f| f.transfers_refused),
        sum(|f| f.transfers_sent),
    );
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::torture::faults::{Fault, Injected, Restart};
    use crate::torture::load::Kind;
    use crate::torture::TortureConfig;
    use paxchain::{Rejection, TxId};
    use std::time::Duration;

    pub(crate) fn config() -> TortureConfig {
        TortureConfig {
            servers: 3,
            sessions: 2,
            duration: Duration::from_secs(10),
            seed: 1,
            faults: vec![Fault::Kill],
            out: "unused".into(),
            initial: 10,
            rate: 40.0,
            max_down: 1,
            variant: paxchain::Variant::Safe,
        }
    }

    pub(crate) fn request(
        from: u8,
        seq: u32,
        sent_ms: u64,
        answered_ms: u64,
        outcome: Outcome,
    ) -> Record {
        Record {
            id: TxId::new(Account(from), seq),
            from: Account(from),
            to: Account((from + 1) % 3),
            amount: 100,
            kind: Kind::Huge,
            sent_ms,
            answered_ms,
            outcome: Some(outcome),
        }
    }

    pub(crate) fn run(cfg: &TortureConfig, records: Vec<Record>, faults: Vec<Injected>) -> Run<'_> {
        Run {
            cfg,
            records,
            faults,
            restarts: vec![Restart {
                server: Account(0),
                at_ms: 1_000,
                ballots_missed: Some(40),
            }],
            samples: Vec::new(),
            load_ms: 10_000,
            led: vec![3, 2, 1],
            network: [0; 4],
            dropped: [0; 2],
            forgeries: Vec::new(),
            round_timeout_ms: 400,
            failures: Vec::new(),
        }
    }

    /// The wait after a restart runs from the restart (the request was sent before it) to
    /// the first answer after a round; a fast-path answer does not count, and a fault that
    /// begins in between marks the wait as not the restart's alone.
    #[test]
    fn a_restart_is_timed_to_its_servers_first_answer_after_a_round() {
        let cfg = config();
        let refused = Outcome::Rejected {
            reason: Rejection::InsufficientFunds {
                balance: 0,
                amount: 100,
            },
        };
        let records = vec![
            request(0, 1, 500, 1_010, Outcome::Executed),
            request(0, 2, 900, 1_250, refused.clone()),
            request(1, 1, 900, 1_100, refused.clone()),
            request(0, 3, 1_300, 1_400, refused),
        ];
        let quiet = run(&cfg, records.clone(), Vec::new());
        assert_eq!(first_answers_after_restarts(&quiet), vec![(250, false)]);
        let partition = Injected {
            fault: Fault::Partition,
            target: "B".into(),
            start_ms: 1_100,
            end_ms: 2_000,
        };
        let disturbed = run(&cfg, records, vec![partition]);
        assert_eq!(first_answers_after_restarts(&disturbed), vec![(250, true)]);
        let text = table(&quiet);
        assert!(
            text.contains("ballots missed while down          p50     40"),
            "{text}"
        );
        assert!(
            text.contains("(1 of 1 within the 400 ms round timeout)"),
            "{text}"
        );
        assert!(table(&disturbed).contains("1 more restarts had another fault begin"));
    }

    /// The fairness line compares the slowest server's p99 after a round with the best's.
    #[test]
    fn the_summary_names_the_best_and_worst_p99_after_a_round() {
        let cfg = config();
        let executed = Outcome::ExecutedAfterConsensus;
        let mut records = Vec::new();
        for k in 0..100 {
            records.push(request(0, k, 0, 10, executed.clone()));
            records.push(request(1, k, 0, 40, executed.clone()));
        }
        let text = table(&run(&cfg, records, Vec::new()));
        assert!(
            text.contains("best 10 ms (server A), worst 40 ms (server B), 4.0x"),
            "{text}"
        );
        assert!(text.contains("executed after consensus"), "{text}");
        assert!(text.trim_end().ends_with("PASS"));
    }
}
