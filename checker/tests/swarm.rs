//! `check --strategy swarm` as a user runs it: a violation is printed with its replayed,
//! shrunk counterexample and exits 1; a swarm that finds nothing says what it covered and
//! exits 2, because it never covers every state.

mod common;

/// `check --strategy swarm` on two threads, with `args`.
fn check(args: &[&str]) -> (Option<i32>, String) {
    common::check(&[&["--strategy", "swarm", "--threads", "2"], args].concat())
}

#[test]
fn a_swarm_violation_is_replayed_shrunk_and_exits_1() {
    let (code, out) = check(&["--variant", "literal", "--timeout", "30"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Counterexample for"), "{out}");
    assert!(out.contains("shrunk"), "{out}");
    assert!(out.contains("violated    \""), "{out}");
    assert!(!out.contains("DEFECT"), "{out}");
}

#[test]
fn a_swarm_that_finds_nothing_reports_its_coverage_and_exits_2() {
    let (code, out) = check(&["--timeout", "2"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("INCOMPLETE search (a swarm never covers every state"),
        "{out}"
    );
    assert!(out.contains("walk lengths:"), "{out}");
    assert!(
        out.contains("reached     \"a block is committed on two servers\""),
        "{out}"
    );
    assert!(!out.contains("VIOLATED"), "{out}");
}
