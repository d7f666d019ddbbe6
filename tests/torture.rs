//! Torture runs of real servers as part of the test suite (spec/torture.md): a short run
//! with every fault kind must pass every check, and its report must show its plots in a
//! browser; a run without faults must inject none; the literal variant must fail a check;
//! an unknown fault is refused.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `paxchain torture ARGS --out DIR` with a fresh `DIR` named after `name`.
fn torture(name: &str, args: &[&str]) -> (Output, PathBuf) {
    let out: PathBuf =
        std::env::temp_dir().join(format!("paxchain-torture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_paxchain"))
        .arg("torture")
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("paxchain runs");
    (run, out)
}

#[test]
fn a_short_torture_run_with_every_fault_passes_every_check() {
    let args = [
        "--servers",
        "3",
        "--duration",
        "30",
        "--seed",
        "7",
        "--rate",
        "40",
    ];
    let (run, out) = torture("test", &args);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = std::fs::read_to_string(out.join("summary.txt")).expect("a summary");
    assert_eq!(
        summary.trim(),
        stdout.trim(),
        "the terminal shows the summary"
    );
    for fault in [
        "kill",
        "pause",
        "crash-all",
        "loss",
        "dup",
        "delay",
        "reorder",
        "partition",
        "garbage",
        "forge",
    ] {
        assert!(
            summary.lines().any(|l| l.trim_start().starts_with(fault)),
            "{fault} was injected:\n{summary}"
        );
    }
    assert_eq!(summary.matches("  pass  ").count(), 9, "{summary}");
    assert!(
        summary.contains("pass  9 every forgery refused and counted")
            && summary.lines().any(|l| l.starts_with("forged (")),
        "the forgeries were sent, refused and counted:\n{summary}"
    );
    assert!(summary.trim_end().ends_with("PASS"));
    let history = std::fs::read_to_string(out.join("history.jsonl")).expect("a history");
    let requests = history
        .lines()
        .filter(|l| l.contains("\"outcome\""))
        .count();
    assert!(requests > 100, "{requests} requests recorded");
    assert!(
        history.contains("\"kind\":\"final\""),
        "the final requests are recorded"
    );
    let types = ["request", "fault", "restart", "balances", "forgery"];
    for line in history.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        let kind = entry["type"].as_str().unwrap_or_default();
        assert!(
            types.contains(&kind),
            "every entry has a known type: {line}"
        );
    }
    assert!(
        history.contains("\"type\":\"forgery\""),
        "the forgeries are recorded"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json"))
            .expect("JSON");
    assert_eq!(json["pass"], true, "{json}");
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(9), "{json}");
    assert!(
        json["by_outcome"]["executed (fast path)"].as_u64() > Some(0),
        "{json}"
    );
    report_shows_its_plots_in_a_browser(&out);
    the_runs_chain_audits_and_one_altered_amount_does_not(&out);
}

/// `paxchain audit` on the chain the run left: sound; then with one amount changed, not
/// sound, naming the block.
fn the_runs_chain_audits_and_one_altered_amount_does_not(out: &std::path::Path) {
    let audit = |chain: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_paxchain"))
            .arg("audit")
            .arg("--cluster")
            .arg(out.join("cluster.toml"))
            .arg("--chain")
            .arg(chain)
            .output()
            .expect("paxchain runs")
    };
    let chain = out.join("chain.json");
    let run = audit(&chain);
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && said.starts_with("sound:"), "{said}");
    let mut blocks: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&chain).unwrap()).unwrap();
    let at = (blocks.iter())
        .position(|b| b["transfers"].as_array().is_some_and(|t| !t.is_empty()))
        .expect("a block with transfers");
    let amount = blocks[at]["transfers"][0]["amount"].as_u64().unwrap();
    blocks[at]["transfers"][0]["amount"] = (amount + 1).into();
    let altered = out.join("altered.json");
    std::fs::write(&altered, serde_json::to_vec(&blocks).unwrap()).unwrap();
    let run = audit(&altered);
    let said = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{said}");
    let height = blocks[at]["height"].as_u64().unwrap();
    assert!(
        said.contains(&format!("block #{height} does not match its hash")),
        "{said}"
    );
}

/// A headless browser, if this machine has one: `PAXCHAIN_CHROMIUM`, or `chromium` (or
/// `chromium-browser`, `google-chrome`) on the PATH.
fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PAXCHAIN_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    let names = ["chromium", "chromium-browser", "google-chrome"];
    std::env::split_paths(&path)
        .flat_map(|dir| names.map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Opens `out/report.html` in headless Chromium: the page loads, its own script finds every
/// plot laid out with a size and something drawn, and a screenshot of it is not blank.
/// Skips, saying why, on a machine without Chromium (`apt-get install chromium`).
fn report_shows_its_plots_in_a_browser(out: &std::path::Path) {
    let Some(chromium) = browser() else {
        eprintln!(
            "SKIPPED the browser check of the report: no chromium on the PATH \
             (apt-get install chromium, or set PAXCHAIN_CHROMIUM)"
        );
        return;
    };
    let page = format!("file://{}", out.join("report.html").display());
    let run = |extra: &[&str]| {
        Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
            ])
            .args([
                "--no-first-run",
                "--disable-background-networking",
                "--disable-sync",
            ])
            .args(["--disable-component-update", "--window-size=1100,2400"])
            .arg(format!("--user-data-dir={}", out.join("browser").display()))
            .args(extra)
            .arg(&page)
            .output()
            .expect("chromium runs")
    };
    let dom = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for title in paxchain_deploy::torture::report::TITLES {
        assert!(dom.contains(title), "the page shows {title:?}");
    }
    let plots = paxchain_deploy::torture::report::TITLES.len();
    assert!(
        dom.contains(&format!("{plots} of {plots} plots drawn")),
        "the browser drew every plot: {}",
        dom.lines()
            .find(|l| l.contains("plots drawn"))
            .unwrap_or("no count")
    );
    let png = out.join("report.png");
    let shot = format!("--screenshot={}", png.display());
    run(&[&shot]);
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    // A blank page of that size compresses to a few kilobytes; four plots do not.
    assert!(
        bytes.len() > 60_000,
        "the screenshot holds the plots: {} bytes",
        bytes.len()
    );
}

#[test]
fn an_unknown_fault_is_refused_with_the_list_of_faults() {
    let run = Command::new(env!("CARGO_BIN_EXE_paxchain"))
        .args(["torture", "--faults", "kill,meteor"])
        .output()
        .expect("paxchain runs");
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("meteor") && err.contains("partition"), "{err}");
}

/// The course's protocol read literally breaks on real processes too, and the run says so:
/// the checks can fail.
#[test]
fn the_literal_variant_fails_a_torture_run_and_the_report_says_which_check() {
    let args = ["--variant", "literal", "--servers", "3", "--duration", "20"];
    let (run, _) = torture("literal", &args);
    let summary = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{summary}");
    let failed: Vec<&str> = (summary.lines())
        .filter_map(|l| l.strip_prefix("  FAIL  "))
        .collect();
    assert!(
        !failed.is_empty() && failed.iter().all(|c| c.starts_with(char::is_numeric)),
        "the failed checks are named by number: {summary}"
    );
    assert!(summary.trim_end().ends_with("FAIL"));
}

/// `--faults none` is a run under load alone: nothing injected, every check passes, and the
/// fairness line compares the servers.
#[test]
fn a_run_without_faults_injects_nothing_and_compares_the_servers() {
    let (run, out) = torture("none", &["--faults", "none", "--duration", "2"]);
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{summary}");
    assert!(summary.contains("faults none"), "{summary}");
    assert!(summary.contains("faults injected: 0"), "{summary}");
    assert!(summary.contains("p99 after a round: best"), "{summary}");
    assert!(out.join("report.html").is_file());
}
