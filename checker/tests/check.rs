//! `check` as a user runs it, and what its exit status means: 0 every property holds after
//! a complete search; 1 a violation; 3 when the verdict cannot be vouched for: here, handlers
//! that broke a reduction's premise with no violation found (a defect of the checker itself,
//! a discovery that does not replay, cannot be provoked from outside; model/src/search's
//! tests and model/tests/audit.rs cover it).

use common::check;

mod common;

#[test]
fn a_complete_search_of_correct_handlers_exits_0_with_nothing_to_doubt() {
    let (code, out) = check(&["--audit", "5"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("complete search"), "{out}");
    assert!(!out.contains("DEFECT"), "{out}");
    assert!(!out.contains("premise"), "{out}");
    assert!(!out.contains("kept"), "{out}");
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
    assert!(
        out.contains("Counterexample for \"chain prefix agreement\""),
        "{out}"
    );
    assert!(out.contains("Reduction 4 kept"), "{out}");
    assert!(!out.contains("DEFECT"), "{out}");
}
