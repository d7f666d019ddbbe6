//! What the checker's command-line tests share.

use std::process::Command;

/// Runs `paxchain-check check` with `args`: its exit status and what it printed on stdout.
pub fn check(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_paxchain-check"))
        .arg("check")
        .args(args)
        .output()
        .expect("paxchain-check runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
    )
}
