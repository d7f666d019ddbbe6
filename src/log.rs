//! A server's log: its own clients' transfers, executed here and not yet in a block.
//!
//! The course calls it the local log. Every transfer in it debits the server's own account
//! (only server *i* executes transfers from account *i*), so the fast path's question, "what
//! may the owner still spend?", is the chain's balance minus the log's debits, and the log
//! keeps that sum as it changes: a step costs the same with ten transfers pending or a
//! hundred thousand.
//!
//! The log changes in two ways. The fast path and the end of a round *append* at the back.
//! A block *absorbs* its transfers, and since a promise carries a prefix of the log and a
//! block holds what promises carried, that is almost always a prefix ([`Log::absorb`] pops it
//! from the front; anything else is handled by a scan and counted as a rewrite).
//!
//! # What a value is, and what is only bookkeeping
//! Equality, hashing, ordering and serialization see the transfers alone, in order: the model
//! checker merges states by them, and storage writes them. [`Marks`] count the appends, the
//! transfers trimmed from the front, and the rewrites, since this log value was built, and name
//! the value's *lineage* (a number no other log built in this process has). The deployment's
//! storage compares marks to write only what changed since its last save, without keeping a
//! copy of the log (a copy would make the next append copy the whole log). No rule of the
//! protocol reads them.

use crate::chain::Block;
use crate::ids::TxId;
use crate::ledger::Transfer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Own transfers executed and not yet chained, in the order they were executed.
#[derive(Clone)]
pub struct Log {
    transfers: VecDeque<Transfer>,
    /// The sum of the transfers' amounts: every one a debit of the owner's account.
    debits: u128,
    marks: Marks,
}

/// How a log value came to be what it is: bookkeeping for the storage's diff, never part of
/// the value (see the module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Tells apart logs built separately in this process (never 0).
    pub lineage: u64,
    /// Transfers appended since the log was built.
    pub appended: u64,
    /// Transfers trimmed from the front since it was built.
    pub trimmed: u64,
    /// Changes that were neither (a block's transfers not at the front, a log emptied).
    pub rewritten: u64,
}

fn next_lineage() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Default for Log {
    fn default() -> Log {
        Log::from(Vec::new())
    }
}

impl From<Vec<Transfer>> for Log {
    fn from(transfers: Vec<Transfer>) -> Log {
        let debits = transfers.iter().map(|t| u128::from(t.amount)).sum();
        Log {
            transfers: transfers.into(),
            debits,
            marks: Marks {
                lineage: next_lineage(),
                ..Marks::default()
            },
        }
    }
}

impl Log {
    /// The transfers, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Transfer> + ExactSizeIterator {
        self.transfers.iter()
    }

    pub fn len(&self) -> usize {
        self.transfers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// The sum of the amounts: what the owner's account owes the log.
    pub fn debits(&self) -> u128 {
        self.debits
    }

    /// Whether a transfer with this id is in the log (a scan: for checks and tests).
    pub fn contains(&self, id: TxId) -> bool {
        self.transfers.iter().any(|t| t.id == id)
    }

    /// The oldest `n` transfers (all of them if there are fewer), and whether more follow.
    pub fn oldest(&self, n: usize) -> (Vec<Transfer>, bool) {
        let taken = self.transfers.iter().take(n).cloned().collect();
        (taken, self.transfers.len() > n)
    }

    /// The transfers as a vector, oldest first.
    pub fn to_vec(&self) -> Vec<Transfer> {
        self.transfers.iter().cloned().collect()
    }

    /// The newest `n` transfers, oldest of them first.
    pub fn newest(&self, n: usize) -> impl Iterator<Item = &Transfer> {
        self.transfers
            .iter()
            .skip(self.transfers.len().saturating_sub(n))
    }

    pub fn marks(&self) -> Marks {
        self.marks
    }

    /// Appends a transfer just executed.
    pub fn push(&mut self, t: Transfer) {
        self.debits += u128::from(t.amount);
        self.transfers.push_back(t);
        self.marks.appended += 1;
    }

    /// Drops the transfers `block` holds; returns whether any was dropped. A block holds a
    /// prefix of the log (see the module comment), popped from the front; only if the block
    /// holds more of the owner's transfers than the front gave is the rest scanned.
    pub fn absorb(&mut self, block: &Block) -> bool {
        let Some(owner) = self.transfers.front().map(|t| t.from) else {
            return false;
        };
        let ids: BTreeSet<TxId> = (block.transfers.iter())
            .filter(|t| t.from == owner)
            .map(|t| t.id)
            .collect();
        let mut popped = 0;
        while let Some(front) = self.transfers.front() {
            if !ids.contains(&front.id) {
                break;
            }
            let t = self.transfers.pop_front().expect("just looked");
            self.debits -= u128::from(t.amount);
            popped += 1;
        }
        self.marks.trimmed += popped;
        if popped as usize == ids.len() {
            return popped > 0;
        }
        let before = self.transfers.len();
        self.transfers.retain(|t| !ids.contains(&t.id));
        let changed = self.transfers.len() != before;
        if changed {
            self.debits = self.transfers.iter().map(|t| u128::from(t.amount)).sum();
            self.marks.rewritten += 1;
        }
        changed || popped > 0
    }

    /// Drops every transfer (only a seeded bug does this).
    pub fn clear(&mut self) {
        if !self.transfers.is_empty() {
            self.transfers.clear();
            self.debits = 0;
            self.marks.rewritten += 1;
        }
    }

    /// Drops the `n` oldest transfers (the storage's replay of a trim).
    pub fn trim(&mut self, n: usize) {
        for _ in 0..n.min(self.transfers.len()) {
            let t = self.transfers.pop_front().expect("counted");
            self.debits -= u128::from(t.amount);
        }
        self.marks.trimmed += n as u64;
    }
}

impl PartialEq for Log {
    fn eq(&self, other: &Log) -> bool {
        self.transfers == other.transfers
    }
}

impl Eq for Log {}

impl Hash for Log {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.transfers.hash(state);
    }
}

impl PartialOrd for Log {
    fn partial_cmp(&self, other: &Log) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Log {
    fn cmp(&self, other: &Log) -> std::cmp::Ordering {
        self.transfers.cmp(&other.transfers)
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.transfers.iter()).finish()
    }
}

/// Written as the list of its transfers, as the log was before it was a type of its own.
impl Serialize for Log {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.transfers.iter())
    }
}

impl<'de> Deserialize<'de> for Log {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Log, D::Error> {
        Vec::<Transfer>::deserialize(d).map(Log::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Account, Ballot, Height, Session};
    use crate::Block;

    fn t(session: u8, seq: u32, amount: u64) -> Transfer {
        Transfer::model_signed(
            TxId {
                client: Account(0),
                session: Session(session),
                seq,
            },
            Account(0),
            Account(1),
            amount,
        )
    }

    fn block(transfers: Vec<Transfer>) -> Block {
        Block::new(Height(1), Ballot::new(1, 0), Default::default(), transfers)
    }

    #[test]
    fn a_block_of_the_oldest_is_trimmed_from_the_front() {
        let mut log = Log::default();
        (1..=4).for_each(|seq| log.push(t(0, seq, seq.into())));
        assert_eq!(log.debits(), 10);
        let other = Transfer {
            from: Account(2),
            ..t(0, 9, 5)
        };
        assert!(log.absorb(&block(vec![t(0, 1, 1), t(0, 2, 2), other])));
        assert_eq!(log.to_vec(), vec![t(0, 3, 3), t(0, 4, 4)]);
        assert_eq!(log.debits(), 7);
        let m = log.marks();
        assert_eq!((m.appended, m.trimmed, m.rewritten), (4, 2, 0));
        assert!(!log.absorb(&block(vec![t(0, 7, 1)])), "nothing of the log");
        assert_eq!(log.marks().rewritten, 0);
    }

    #[test]
    fn a_block_from_the_middle_is_a_rewrite_and_the_sum_follows() {
        let mut log = Log::from(vec![t(0, 1, 1), t(1, 1, 2), t(0, 2, 4)]);
        assert!(log.absorb(&block(vec![t(1, 1, 2)])));
        assert_eq!(log.to_vec(), vec![t(0, 1, 1), t(0, 2, 4)]);
        assert_eq!((log.debits(), log.marks().rewritten), (5, 1));
    }

    #[test]
    fn the_value_is_the_transfers_and_not_the_marks() {
        let mut a = Log::from(vec![t(0, 1, 1)]);
        a.push(t(0, 2, 1));
        let b = Log::from(vec![t(0, 1, 1), t(0, 2, 1)]);
        assert_eq!(a, b);
        assert_ne!(a.marks(), b.marks());
        assert_ne!(a.marks().lineage, b.marks().lineage);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, serde_json::to_string(&b.to_vec()).unwrap());
        assert_eq!(serde_json::from_str::<Log>(&json).unwrap(), a);
        assert_eq!(a.oldest(1), (vec![t(0, 1, 1)], true));
        assert!(!a.oldest(2).1);
    }

    quickcheck::quickcheck! {
        /// Whatever is appended and absorbed, the kept sum is the sum of what is left, and
        /// what is left is what a plain filter leaves.
        fn the_debits_are_always_the_sum_left(ops: Vec<(bool, u8, u8)>) -> bool {
            let mut log = Log::default();
            let mut plain: Vec<Transfer> = Vec::new();
            for (k, (push, session, n)) in ops.into_iter().enumerate() {
                if push {
                    let tr = t(session % 3, k as u32, u64::from(n) + 1);
                    log.push(tr.clone());
                    plain.push(tr);
                } else {
                    let taken: Vec<Transfer> = plain.iter().filter(|tr| tr.id.seq % 3 == u32::from(n % 3)).cloned().collect();
                    log.absorb(&block(taken.clone()));
                    plain.retain(|tr| !taken.contains(tr));
                }
            }
            log.to_vec() == plain
                && log.debits() == plain.iter().map(|tr| u128::from(tr.amount)).sum::<u128>()
        }
    }
}
