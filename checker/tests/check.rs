//! `check` as a user runs it, and what its exit status means: 0 every property holds after
//! a complete search; 1 a violation; 2 a search cut short; 64 a usage error or a model that
//! cannot be built; 3 when the verdict cannot be vouched for: here, handlers
//! that broke a reduction's premise with no violation found (a defect of the checker itself,
//! a discovery that does not replay, cannot be provoked from outside; model/src/search's
//! tests and model/tests/audit.rs cover it).

use common::{check, LITERAL_BFS};

mod common;

#[test]
fn a_complete_search_of_correct_handlers_exits_0_with_nothing_to_doubt() {
    let (code, out) = check(&["--audit", "5"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("complete search"), "{out}");
    assert!(!out.contains("DEFECT"), "{out}");
    assert!(!out.contains("premise"), "{out}");
    assert!(!out.contains("kept"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
    };
    assert!(row("no double spend").ends_with(" holds"), "{out}");
    assert!(
        row("a block is committed on two servers").ends_with(" reached"),
        "{out}"
    );
}

/// A search cut short says so in each row: nothing it did not search is called holding.
#[test]
fn a_search_cut_short_exits_2_and_no_row_says_holds() {
    let (code, out) = check(&["--max-depth", "3"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("no violation found (search incomplete)"),
        "{out}"
    );
    assert!(out.contains("not reached (search incomplete)"), "{out}");
    assert!(!out.contains(" holds"), "{out}");
}

/// What the user typed wrong exits 64, never 2 (a search cut short), and the message names
/// what was given.
#[test]
fn a_usage_error_or_an_impossible_model_exits_64_naming_what_was_given() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paxchain-check"))
            .args(args)
            .output()
            .expect("paxchain-check runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["check", "--scenario", "nope"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("no scenario `nope`"), "{err}");
    let (code, err) = run(&["check", "--bogus"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("--bogus"), "{err}");
    let (code, err) = run(&["check", "--servers", "1"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("--servers 1: the `default` scenario's workloads"),
        "{err}"
    );
    let (code, err) = run(&["replay"]);
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("--trace FILE or --random N"), "{err}");
    assert_eq!(run(&["check", "--help"]).0, Some(0));
}

/// Counting a vote from another ballot breaks reduction 4's premise (the rule calls such a
/// vote ignored for good) but cannot break a property on `tiny`, whose one leader has one
/// round at a time. The search cannot vouch for its "holds", and says so; without the
/// reductions the complete search finds nothing either.
#[test]
fn a_broken_premise_without_a_violation_exits_3_and_points_to_no_reduce() {
    let args = ["--scenario", "tiny", "--bug", "stale-votes-counted"];
    let (code, out) = check(&args);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("broke a reduction's premise"), "{out}");
    assert!(
        out.contains("reduction 4 (messages ignored for good)"),
        "{out}"
    );
    assert!(out.contains("--no-reduce"), "{out}");
    let (code, json) = check(&[&args[..], &["--json"]].concat());
    assert_eq!(code, Some(3));
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert!(report["premise_failures"].as_u64() > Some(0), "{json}");
    assert_eq!(report["exit_code"], 3);
    let (code, out) = check(&[&args[..], &["--no-reduce"]].concat());
    assert_eq!(code, Some(0), "{out}");
}

/// The same bug where it does break agreement: the counterexample stands whatever the
/// premises (a reduction only takes behaviours away), and the report says that the rule and
/// the handler disagree.
#[test]
fn a_violation_exits_1_and_says_what_the_reductions_stepped_aside_for() {
    let args = ["--scenario", "second-round", "--bug", "stale-votes-counted"];
    let (code, out) = check(&[&args[..], &["--strategy", "bfs", "--threads", "1"]].concat());
    assert_eq!(code, Some(1), "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("chain prefix agreement"));
    assert!(row.is_some_and(|r| r.ends_with(" VIOLATED")), "{out}");
    assert!(
        out.contains("Counterexample for \"chain prefix agreement\""),
        "{out}"
    );
    assert!(out.contains("Reduction 4 kept"), "{out}");
    assert!(!out.contains("DEFECT"), "{out}");
}

/// `--coverage` lists the rules that fired, by count, then those that never did, marked;
/// `--json` carries every rule's count.
#[test]
fn coverage_lists_the_rules_that_fired_then_those_that_never_did() {
    let (code, out) = check(&["--coverage"]);
    assert_eq!(code, Some(0), "{out}");
    let table: Vec<&str> = (out.lines())
        .skip_while(|l| !l.starts_with("rule coverage"))
        .skip(2)
        .take_while(|l| !l.contains("rules fired"))
        .collect();
    let first_never = table.iter().position(|l| l.ends_with("NEVER"));
    let first_never = first_never.expect("the default preset leaves some rules unfired");
    assert!(first_never > 10, "{out}");
    assert!(
        table[first_never..].iter().all(|l| l.ends_with("NEVER")),
        "{out}"
    );
    assert!(
        table.iter().any(|l| l.starts_with("grant a promise")),
        "{out}"
    );
    assert!(
        (table.iter()).any(|l| l.starts_with("a server crashes") && l.ends_with("NEVER")),
        "no crash in the default preset: {out}"
    );
    let (_, json) = check(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let rules = report["rules"].as_array().expect("rules");
    let promise = (rules.iter()).find(|r| r["rule"] == "grant a promise");
    assert!(
        promise.is_some_and(|r| r["steps"].as_u64() > Some(0)),
        "{json}"
    );
}

/// One trace that breaks three properties is printed once, naming all three; the duplicate
/// delivery in it is marked; and it ends with the whole command that opens it.
#[test]
fn a_trace_breaking_several_properties_is_printed_once_with_its_duplicate_marked() {
    let (code, out) = check(LITERAL_BFS);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.matches("Counterexample for").count(), 1, "{out}");
    assert!(
        out.contains(
            "Counterexample for \"no double spend\", \"money conserved\", \"exactly once\" (9 steps"
        ),
        "{out}"
    );
    let duplicate = out.lines().find(|l| l.ends_with("(again: a duplicate)"));
    assert!(
        duplicate.is_some_and(|l| l.contains("9. server A")),
        "{out}"
    );
    assert_eq!(out.matches("(again: a duplicate)").count(), 1, "{out}");
    assert!(
        out.contains("What went wrong: server B's chain holds transfer A1 twice (again at #1)."),
        "one sentence says what: {out}"
    );
    assert!(
        out.contains("In the explorer: `paxchain-check explore --variant literal`, then open http://127.0.0.1:3000/#/steps/"),
        "{out}"
    );
}

/// `--json` carries each trace twice: by actor index, for `replay --trace`, and as the text
/// report words it, with the explorer's command and address.
#[test]
fn json_traces_carry_the_steps_words_and_the_explorer_address() {
    let (code, json) = check(&[LITERAL_BFS, &["--json"]].concat());
    assert_eq!(code, Some(1), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let props = report["properties"].as_array().expect("properties");
    let p = (props.iter())
        .find(|p| p["name"] == "no double spend")
        .expect("the property");
    assert_eq!(p["status"], "violated");
    let steps = p["steps"].as_array().expect("steps in words");
    assert_eq!(steps.len(), p["trace"].as_array().expect("raw steps").len());
    assert_eq!(steps[0], "client A → server A: SUBMIT A1 (A, B, 1)");
    let explorer = p["explorer"].as_str().expect("an explorer line");
    assert!(
        explorer.starts_with("`paxchain-check explore --variant literal`, then open http://"),
        "{explorer}"
    );
}

/// A breadth-first counterexample is the same on every run, whatever the threads: with
/// several, the search goes again on one thread to the violation's depth.
#[test]
fn a_breadth_first_counterexample_is_the_same_on_every_run_and_thread_count() {
    let trace = |threads: &str| {
        let args = ["--scenario", "second-round", "--bug", "stale-votes-counted"];
        let (code, out) =
            check(&[&args[..], &["--strategy", "bfs", "--threads", threads]].concat());
        assert_eq!(code, Some(1), "{out}");
        let from = out.find("Counterexample for").expect("a counterexample");
        out[from..].to_string()
    };
    let one = trace("1");
    assert!(one.contains("(18 steps, the shortest)"), "{one}");
    for _ in 0..3 {
        assert_eq!(trace("2"), one);
    }
}

/// `--no-sleep-sets` finds the same states with the same verdicts, trying every order of
/// the steps that commute: more states examined.
#[test]
fn without_sleep_sets_the_same_states_are_found_and_more_are_examined() {
    let counts = |extra: &[&str]| {
        let mut args = vec!["--scenario", "five", "--threads", "1"];
        args.extend_from_slice(extra);
        let (code, out) = check(&args);
        assert_eq!(code, Some(0), "{out}");
        let line = (out.lines())
            .find_map(|l| l.strip_prefix("complete search: "))
            .unwrap_or_else(|| panic!("no summary in {out}"));
        let number = |word: &str| -> usize {
            let before = line.split(word).next().expect("a number first");
            let n = before.rsplit([' ', ',']).find(|w| !w.is_empty());
            n.and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no count of {word} in {line}"))
        };
        (number(" states"), number(" unique"))
    };
    let (with_examined, with_unique) = counts(&[]);
    let (without_examined, without_unique) = counts(&["--no-sleep-sets"]);
    assert_eq!(with_unique, without_unique);
    assert!(
        2 * with_examined < without_examined,
        "{with_examined} examined with sleep sets, {without_examined} without"
    );
}
