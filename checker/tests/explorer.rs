//! The explorer as a person sees it: `paxchain-check explore` serves the literal
//! counterexample's states as one would draw them, its steps as a trace prints them, what a
//! step changed marked, and a sequence diagram labelled in the paper's words; and (where
//! this machine has Chromium) the page renders it.

mod common;

use common::{fresh_dir, LITERAL_BFS};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The literal counterexample (spec/deviations.md, 1), as explorer indices.
const PATH: &str = "0/0/0/1/0/2/1/4/2";

struct Explorer(Child, u16);

impl Drop for Explorer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> Explorer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_paxchain-check"))
        .args(["explore", "--variant", "literal", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("paxchain-check runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the explorer serves within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Explorer(child, port)
}

/// The body of `GET path` (HTTP/1.0: no chunks).
fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    body.to_string()
}

#[test]
fn the_explorer_shows_states_and_steps_as_people_draw_them() {
    let e = start();
    let body = get(e.1, &format!("/.states/{PATH}"));
    let next: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON");
    let commit = (next.iter())
        .find(|v| v["action"] == "server A → server B: COMMIT ballot 1.A block #1 [(A, B, 1)]")
        .expect("the duplicate COMMIT is a next step, named as a trace names it");
    let outcome = commit["outcome"].as_str().expect("its outcome");
    assert!(
        outcome.contains("BREAKS \"exactly once\": server B's chain holds transfer A1 twice"),
        "the step says what it breaks: {outcome}"
    );
    assert!(outcome.contains("server B:"), "{outcome}");
    let changed = outcome
        .lines()
        .find(|l| l.starts_with('*'))
        .expect("a marked line");
    assert!(
        changed.contains("chain: #0"),
        "the chain is what changed: {outcome}"
    );
    let state = commit["state"].as_str().expect("its state");
    assert!(state.contains("server: promised 1.A"), "{state}");
    assert!(
        state.contains("blocks proposed or committed: [#1 1.A"),
        "{state}"
    );
    assert!(!state.contains("Hashed"), "no internals: {state}");
    let svg = commit["svg"].as_str().unwrap_or_default();
    assert!(svg.contains(">PREPARE ballot 1.A for #1</text>"), "{svg}");
    assert!(!svg.contains("Peer(Prepare"), "{svg}");
    page_renders_in_a_browser(e.1);
}

/// Headless Chromium draws the page: the path of actions in the paper's words, and the
/// marked change. Skips, saying why, without Chromium.
fn page_renders_in_a_browser(port: u16) {
    let dir = std::env::temp_dir().join(format!("paxchain-explorer-{}", std::process::id()));
    let page = format!("http://127.0.0.1:{port}/#/steps/{PATH}/2");
    let Some(dom) = rendered(&page, &dir) else {
        return;
    };
    assert!(
        dom.contains("client A → server A: SUBMIT A1 (A, B, 1)"),
        "{dom}"
    );
    assert!(dom.contains("server: promised 1.A"), "{dom}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check --html`: the literal counterexample as one page that needs no server: every step,
/// each state, the diagram drawn (checked in headless Chromium where there is one).
#[test]
fn a_counterexample_page_shows_every_step_and_draws_its_diagram() {
    let dir = fresh_dir("html");
    let file = dir.join("literal.html");
    let run = Command::new(env!("CARGO_BIN_EXE_paxchain-check"))
        .arg("check")
        .args(LITERAL_BFS)
        .arg("--html")
        .arg(&file)
        .output()
        .expect("paxchain-check runs");
    assert_eq!(run.status.code(), Some(1));
    let page = std::fs::read_to_string(&file).expect("the page");
    assert!(
        page.contains("paxchain counterexample: no double spend, money conserved, exactly once")
    );
    assert!(page.contains(
        "Reproduce: <code>paxchain-check check --variant literal --strategy bfs --threads 1</code>"
    ));
    assert_eq!(
        page.matches("<li data-k=").count(),
        10,
        "the initial state and 9 steps"
    );
    assert!(page.contains("(again: a duplicate)"));
    assert!(page.contains("What went wrong: server B's chain holds transfer A1 twice"));
    let Some(dom) = rendered(&format!("file://{}", file.display()), &dir) else {
        return;
    };
    assert!(dom.contains("9 steps, 10 states, diagram drawn"), "{dom}");
    assert!(
        dom.contains("<section data-k=\"9\" class=\"on\">"),
        "the last step is shown first: {dom}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A zoo bug's counterexample gets its page too, and `replay --html` writes the page of a
/// trace replayed on real servers, saying what they did.
#[test]
fn a_zoo_bug_and_a_replayed_trace_get_pages() {
    let dir = fresh_dir("pages");
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_paxchain-check"))
            .args(args)
            .output()
            .expect("paxchain-check runs")
    };
    let bug = dir.join("bug.html");
    let bug_arg = bug.to_string_lossy().to_string();
    let run = check(&[
        "check",
        "--scenario",
        "contest-crash",
        "--bug",
        "promise-not-saved",
        "--strategy",
        "bfs",
        "--threads",
        "1",
        "--html",
        &bug_arg,
    ]);
    assert_eq!(run.status.code(), Some(1));
    let page = std::fs::read_to_string(&bug).expect("the bug's page");
    assert!(
        page.contains("paxchain counterexample: chain prefix agreement"),
        "{page}"
    );
    assert_eq!(
        page.matches("<li data-k=").count(),
        19,
        "the initial state and 18 steps"
    );
    assert!(
        page.contains("--bug promise-not-saved"),
        "the command that reproduces it"
    );
    if let Some(dom) = rendered(&format!("file://{}", bug.display()), &dir) {
        assert!(dom.contains("18 steps, 19 states, diagram drawn"), "{dom}");
    }
    let json = check(&[&["check"], LITERAL_BFS, &["--json"]].concat());
    let traces = dir.join("literal.json");
    std::fs::write(&traces, &json.stdout).unwrap();
    let replayed = dir.join("replayed.html");
    let run = check(&[
        "replay",
        "--variant",
        "literal",
        "--property",
        "no double spend",
        "--trace",
        &traces.to_string_lossy(),
        "--html",
        &replayed.to_string_lossy(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let page = std::fs::read_to_string(&replayed).expect("the replayed trace's page");
    assert!(
        page.contains("On real servers: all 9 steps matched the model"),
        "{page}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page at `url` as headless Chromium renders it (its DOM once its scripts ran), or
/// `None`, saying why, on a machine without Chromium.
fn rendered(url: &str, dir: &std::path::Path) -> Option<String> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED the browser check: no chromium on the PATH");
        return None;
    };
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", dir.join("browser").display()))
        .arg(url)
        .output()
        .expect("chromium runs");
    Some(String::from_utf8_lossy(&dom.stdout).into_owned())
}
