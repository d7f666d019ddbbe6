//! The run's machine-readable files: `history.jsonl` (one JSON object a line, each with a
//! `type`: `request`, `fault`, `restart`, `balances` or `forgery`) and `summary.json` (what
//! the table says, as data; `paxchain torture --json` prints it).

use super::check::CHECKS;
use super::faults::ALL;
use super::summary::{class, percentile, round_latencies};
use super::Run;
use paxchain::Account;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One line of `history.jsonl`: its type, then the entry's own fields.
#[derive(Serialize)]
struct Entry<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    entry: &'a T,
}

/// Writes `history.jsonl` and `summary.json`; returns the summary.
pub fn write(dir: &Path, run: &Run) -> std::io::Result<Value> {
    let mut lines = String::new();
    run.records
        .iter()
        .for_each(|r| line(&mut lines, "request", r));
    run.faults.iter().for_each(|f| line(&mut lines, "fault", f));
    run.restarts
        .iter()
        .for_each(|r| line(&mut lines, "restart", r));
    run.samples
        .iter()
        .for_each(|s| line(&mut lines, "balances", s));
    run.forgeries
        .iter()
        .for_each(|f| line(&mut lines, "forgery", f));
    std::fs::write(dir.join("history.jsonl"), lines)?;
    let summary = summary(run);
    let text = serde_json::to_string_pretty(&summary).expect("plain data");
    std::fs::write(dir.join("summary.json"), text + "\n")?;
    Ok(summary)
}

/// Appends `entry` to `lines` as one line of type `kind`.
fn line<T: Serialize>(lines: &mut String, kind: &'static str, entry: &T) {
    let text = serde_json::to_string(&Entry { kind, entry }).expect("history entries serialize");
    lines.push_str(&text);
    lines.push('\n');
}

/// The summary as data: the run's settings, requests by outcome, faults by kind, what the
/// network and the servers dropped, the forgeries, latencies per server, and every check.
pub fn summary(run: &Run) -> Value {
    let cfg = run.cfg;
    let mut requests: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &run.records {
        *requests.entry(class(r)).or_default() += 1;
    }
    let faults: BTreeMap<&str, usize> = (ALL.iter())
        .map(|k| {
            (
                k.name(),
                run.faults.iter().filter(|f| f.fault == *k).count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let [forwarded, lost, duplicated, cut] = run.network;
    let [malformed, unauthentic] = run.dropped;
    let servers: Vec<Value> = (0..cfg.servers)
        .map(|i| {
            let round = round_latencies(&run.records, i);
            let p = |q| (!round.is_empty()).then(|| percentile(&round, q));
            json!({
                "server": Account::of_server(i).to_string(),
                "after_round_ms": { "p50": p(50), "p99": p(99) },
                "blocks_led": run.led.get(i).copied().unwrap_or(0),
            })
        })
        .collect();
    let checks: Vec<Value> = (CHECKS.iter())
        .map(|name| {
            let failures: Vec<&str> = (run.failures.iter())
                .filter(|f| f.check == *name)
                .map(|f| f.detail.as_str())
                .collect();
            json!({ "check": name, "pass": failures.is_empty(), "failures": failures })
        })
        .collect();
    json!({
        "servers": cfg.servers,
        "sessions": cfg.sessions,
        "seconds": cfg.duration.as_secs(),
        "seed": cfg.seed,
        "faults_allowed": cfg.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "requests": run.records.len(),
        "by_outcome": requests,
        "faults": faults,
        "network": { "forwarded": forwarded, "lost": lost, "duplicated": duplicated, "cut": cut },
        "dropped": { "malformed": malformed, "not_authentic": unauthentic },
        "forgeries": &run.forgeries,
        "per_server": servers,
        "restarts": run.restarts.len(),
        "checks": checks,
        "pass": run.failures.is_empty(),
    })
}
