//! What one save changed: the storage log's record, computed from the last save.
//!
//! The protocol saves its whole [`Storage`] (a value: the model checks it as one), but on
//! disk a save costs what changed. [`diff`] compares the new storage with the last one
//! saved and lists the changes; [`apply`] replays them. The two are inverse:
//! `apply(last, diff(last, new)) == new` for every pair (tested below), whatever the
//! protocol did, because anything [`diff`] cannot express as a small change (a chain that
//! does not extend the last one, which only a damaged or `literal` server could save) is
//! written as a whole snapshot.
//!
//! Nothing here grows with the chain: the chain is compared at its old tip (one block), and
//! only the blocks after it are written. The log of own transfers is compared by prefix; it
//! holds only transfers not yet in a block.

use paxchain::msg::AcceptedBlock;
use paxchain::server::Answered;
use paxchain::{Ballot, Block, Chain, Storage, Transfer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One change to the durable state. A record is the list of one save's changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The whole storage: the first record of a log, and a compaction's.
    Snapshot { storage: Storage },
    /// A new promise.
    Promised { ballot: Ballot },
    /// A new accepted block, or none.
    Accepted { accepted: Option<AcceptedBlock> },
    /// Blocks appended after the chain's tip, in order.
    Appended { blocks: Vec<Arc<Block>> },
    /// Transfers added at the end of the log of own transfers.
    Logged { transfers: Vec<Transfer> },
    /// The log of own transfers replaced (a commit took some of it into a block).
    LogReplaced { log: Vec<Transfer> },
    /// A new last outcome.
    Answered { last: Option<Answered> },
}

/// What a diff needs of the last save: all of it but the chain, which is kept as its tip
/// block and length. Keeping the chain's `Arc` would share it with the server's state, and
/// the server's next append would then copy the whole chain.
#[derive(Clone, Debug)]
pub struct Saved {
    promised: Ballot,
    accepted: Option<AcceptedBlock>,
    tip: Arc<Block>,
    len: usize,
    log: Arc<Vec<Transfer>>,
    last_outcome: Option<Answered>,
}

impl Saved {
    pub fn of(s: &Storage) -> Saved {
        Saved {
            promised: s.promised,
            accepted: s.accepted.clone(),
            tip: s
                .chain
                .blocks()
                .last()
                .expect("a chain holds genesis")
                .clone(),
            len: s.chain.len(),
            log: s.log.clone(),
            last_outcome: s.last_outcome.clone(),
        }
    }
}

impl Default for Saved {
    fn default() -> Saved {
        Saved::of(&Storage::default())
    }
}

/// The changes from `last` to `new`; empty when nothing changed.
pub fn diff(last: &Saved, new: &Storage) -> Vec<Change> {
    let mut changes = Vec::new();
    if last.promised != new.promised {
        changes.push(Change::Promised {
            ballot: new.promised,
        });
    }
    if last.accepted != new.accepted {
        changes.push(Change::Accepted {
            accepted: new.accepted.clone(),
        });
    }
    match appended(last, &new.chain) {
        Some([]) => {}
        Some(blocks) => changes.push(Change::Appended {
            blocks: blocks.to_vec(),
        }),
        None => {
            return vec![Change::Snapshot {
                storage: new.clone(),
            }]
        }
    }
    if !Arc::ptr_eq(&last.log, &new.log) && last.log != new.log {
        changes.push(match new.log.strip_prefix(&last.log[..]) {
            Some(tail) => Change::Logged {
                transfers: tail.to_vec(),
            },
            None => Change::LogReplaced {
                log: new.log.to_vec(),
            },
        });
    }
    if last.last_outcome != new.last_outcome {
        changes.push(Change::Answered {
            last: new.last_outcome.clone(),
        });
    }
    changes
}

/// The blocks `new` has after `last`'s tip, if `new` extends `last` (judged by the block at
/// `last`'s tip height, whose hash covers everything before it).
fn appended<'a>(last: &Saved, new: &'a Chain) -> Option<&'a [Arc<Block>]> {
    let same = new.blocks().get(last.len - 1)?;
    (Arc::ptr_eq(same, &last.tip) || **same == *last.tip)
        .then(|| new.blocks_from(last.tip.height.next()))
}

/// `storage` with `changes` applied, in order.
pub fn apply(storage: &mut Storage, changes: Vec<Change>) {
    for change in changes {
        match change {
            Change::Snapshot { storage: s } => *storage = s,
            Change::Promised { ballot } => storage.promised = ballot,
            Change::Accepted { accepted } => storage.accepted = accepted,
            Change::Appended { blocks } => {
                let chain = Arc::make_mut(&mut storage.chain);
                blocks.into_iter().for_each(|b| chain.append_unchecked(b));
            }
            Change::Logged { transfers } => Arc::make_mut(&mut storage.log).extend(transfers),
            Change::LogReplaced { log } => storage.log = Arc::new(log),
            Change::Answered { last } => storage.last_outcome = last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::Height;

    fn grown(s: &Storage, transfers: Vec<Transfer>) -> Storage {
        let mut chain = (*s.chain).clone();
        let tip = chain.tip().clone();
        let block = Block::new(tip.height.next(), Ballot::new(1, 0), tip.hash, transfers);
        chain.append(Arc::new(block)).expect("a linked block");
        Storage {
            chain: Arc::new(chain),
            ..s.clone()
        }
    }

    quickcheck::quickcheck! {
        /// Replaying the changes from one storage to another gives the other, for any two
        /// storages (the second often grown from the first, as the protocol grows it).
        fn applying_the_diff_gives_the_new_storage(seed: u64, grow: bool) -> bool {
            let mut g = quickcheck::Gen::new(16 + (seed % 32) as usize);
            let last = crate::arbitrary::storage(&mut g);
            let new = if grow {
                let mut new = grown(&last, vec![]);
                new.promised = crate::arbitrary::storage(&mut g).promised;
                new
            } else {
                crate::arbitrary::storage(&mut g)
            };
            let mut replayed = last.clone();
            apply(&mut replayed, diff(&Saved::of(&last), &new));
            replayed == new && *replayed.chain == *new.chain
        }
    }

    #[test]
    fn a_save_writes_what_changed_and_not_the_chain() {
        let mut last = Storage::default();
        for _ in 0..100 {
            last = grown(&last, vec![]);
        }
        let new = grown(&last, vec![]);
        let changes = diff(&Saved::of(&last), &new);
        assert!(
            matches!(&changes[..], [Change::Appended { blocks }] if blocks.len() == 1
                && blocks[0].height == Height(101)),
            "{changes:?}"
        );
        assert_eq!(diff(&Saved::of(&new), &new), vec![]);
    }

    #[test]
    fn a_chain_that_does_not_extend_the_last_is_written_whole() {
        let a = grown(&Storage::default(), vec![]);
        let other = Storage {
            chain: Arc::new({
                let mut c = Chain::new();
                let g = c.tip().clone();
                c.append(Arc::new(Block::new(
                    g.height.next(),
                    Ballot::new(2, 1),
                    g.hash,
                    vec![],
                )))
                .unwrap();
                c
            }),
            ..Storage::default()
        };
        assert!(matches!(
            &diff(&Saved::of(&a), &other)[..],
            [Change::Snapshot { .. }]
        ));
        let shorter = Storage::default();
        assert!(matches!(
            &diff(&Saved::of(&a), &shorter)[..],
            [Change::Snapshot { .. }]
        ));
    }
}
