//! Output for people: outcomes in words, aligned tables for chains.

use paxchain::{Block, Outcome, Transfer, TxId};
use std::fmt::Write as _;

/// "A3 (A, B, 4): executed after consensus".
pub fn outcome(id: TxId, t: &str, o: &Outcome) -> String {
    let what = match o {
        Outcome::Executed => "executed locally".to_string(),
        Outcome::ExecutedAfterConsensus => "executed after consensus".to_string(),
        Outcome::Rejected { reason } => format!("rejected: {reason}"),
    };
    format!("{id} {t}: {what}")
}

/// One line per log entry shown; `total` says how many the log holds (a log longer than
/// one datagram shows its oldest entries).
pub fn log(server: &str, transfers: &[Transfer], total: usize) -> String {
    let mut out = format!("log of server {server}: {total} pending\n");
    for t in transfers {
        let _ = writeln!(out, "  {:<6} {t}", t.id.to_string());
    }
    if total > transfers.len() {
        let _ = writeln!(
            out,
            "  ... and {} newer, not shown",
            total - transfers.len()
        );
    }
    out
}

/// The chain as a table: height, ballot, hash prefix, transfers.
pub fn chain(server: &str, blocks: &[Block]) -> String {
    let mut out = format!("blockchain of server {server}: {} blocks\n", blocks.len());
    let _ = writeln!(
        out,
        "  {:>6}  {:<7}  {:<8}  transfers",
        "height", "ballot", "hash"
    );
    for b in blocks {
        let transfers: Vec<String> = b.transfers.iter().map(|t| t.to_string()).collect();
        let transfers = if b.height.0 == 0 {
            "(genesis)".to_string()
        } else {
            transfers.join(" ")
        };
        let _ = writeln!(
            out,
            "  {:>6}  {:<7}  {:<8}  {transfers}",
            b.height.0,
            b.ballot.to_string(),
            b.hash.short()
        );
    }
    out
}
