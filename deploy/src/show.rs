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

/// The most blocks the chain table shows: the newest, after a line counting the rest.
pub const CHAIN_ROWS: usize = 20;

/// The chain as a table: height, ballot, hash prefix, and each transfer with its id (two
/// equal transfers in one block are two transfers, and read so). A long chain shows its
/// newest [`CHAIN_ROWS`] blocks.
pub fn chain(server: &str, blocks: &[Block]) -> String {
    let mut out = format!("blockchain of server {server}: {} blocks\n", blocks.len());
    let _ = writeln!(
        out,
        "  {:>6}  {:<7}  {:<8}  transfers",
        "height", "ballot", "hash"
    );
    let hidden = blocks.len().saturating_sub(CHAIN_ROWS);
    if hidden > 0 {
        let _ = writeln!(out, "  ... {hidden} earlier blocks not shown");
    }
    for b in &blocks[hidden..] {
        let transfers: Vec<String> = (b.transfers.iter())
            .map(|t| format!("{} {t}", t.id))
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::{Account, Ballot, Height, Session};

    fn transfer(seq: u32) -> Transfer {
        let id = TxId {
            client: Account(0),
            session: Session::FIRST,
            seq,
        };
        Transfer::model_signed(id, Account(0), Account(1), 4)
    }

    /// Two equal transfers in one block read as two, by their ids; a long chain shows its
    /// newest blocks after a line counting the rest.
    #[test]
    fn a_chain_shows_ids_and_only_its_newest_blocks() {
        let mut blocks = vec![Block::genesis()];
        for h in 1..=25u32 {
            let prev = blocks.last().unwrap().hash;
            let ts = vec![transfer(2 * h), transfer(2 * h + 1)];
            blocks.push(Block::new(Height(h), Ballot::new(1, 0), prev, ts));
        }
        let table = chain("A", &blocks);
        assert!(
            table.starts_with("blockchain of server A: 26 blocks\n"),
            "{table}"
        );
        assert!(
            table.contains("  ... 6 earlier blocks not shown\n"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 2 + 1 + CHAIN_ROWS, "{table}");
        assert!(table.contains("A50 (A, B, 4) A51 (A, B, 4)"), "{table}");
        assert!(
            !table.contains("(genesis)"),
            "the genesis block is among the hidden: {table}"
        );
    }
}
