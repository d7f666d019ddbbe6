//! What the checker's command-line tests share.

use std::process::Command;

/// Runs `paxchain-check check` with `args`: its exit status and what it printed on stdout.
#[allow(dead_code)]
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

/// The literal variant's shortest counterexample, the same on every run: the flags.
#[allow(dead_code)] // not every test file that shares this module uses each item
pub const LITERAL_BFS: &[&str] = &[
    "--variant",
    "literal",
    "--strategy",
    "bfs",
    "--threads",
    "1",
];

/// A fresh, empty directory for one test's files, named for it and this process.
#[allow(dead_code)]
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("paxchain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
