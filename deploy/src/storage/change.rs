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
//! Nothing here grows with the chain or the log: the chain is compared at its old tip (one
//! block), and only the blocks after it are written; the log of own transfers by the marks
//! it keeps of its appends and trims (`paxchain::log`), and only the transfers appended and
//! the count trimmed are written. Outcomes are compared session by session (at most 256).

use paxchain::log::Marks;
use paxchain::msg::AcceptedBlock;
use paxchain::server::{Answered, Outcomes};
use paxchain::{Ballot, Block, Chain, Log, Session, Storage, Transfer};
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
    /// The oldest transfers of the log of own transfers dropped (a block took them).
    Trimmed { count: u64 },
    /// Transfers added at the end of the log of own transfers.
    Logged { transfers: Vec<Transfer> },
    /// The log of own transfers replaced (a change that was neither of the two above).
    LogReplaced { log: Vec<Transfer> },
    /// A session's new last outcome.
    Answered { session: Session, last: Answered },
}

/// What a diff needs of the last save: all of it but the chain, kept as its tip block and
/// length, and the log, kept as its length and marks (`paxchain::log::Marks`). Keeping the
/// chain's or the log's `Arc` would share it with the server's state, and the server's next
/// append would then copy the whole of it.
#[derive(Clone, Debug)]
pub struct Saved {
    promised: Ballot,
    accepted: Option<AcceptedBlock>,
    tip: Arc<Block>,
    len: usize,
    log: (usize, Marks),
    outcomes: Outcomes,
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
            log: (s.log.len(), s.log.marks()),
            outcomes: s.last_outcomes.clone(),
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
    if (last.outcomes.sessions()).any(|s| new.last_outcomes.get(s).is_none()) {
        // The protocol never forgets a session's outcome; a storage that did is written whole.
        return vec![Change::Snapshot {
            storage: new.clone(),
        }];
    }
    log_changes(last.log, &new.log, &mut changes);
    for (session, answered) in new.last_outcomes.iter() {
        if last.outcomes.get(session) != Some(answered) {
            changes.push(Change::Answered {
                session,
                last: answered.clone(),
            });
        }
    }
    changes
}

/// How the log changed since it was `(len, marks)`: the count trimmed from the front and the
/// transfers appended at the back, when its marks say that is all that happened to it
/// (the same log value, no rewrite, and lengths that agree); else the whole log.
fn log_changes((len, marks): (usize, Marks), new: &Log, changes: &mut Vec<Change>) {
    let now = new.marks();
    if now == marks {
        return;
    }
    let trimmed = now.trimmed.checked_sub(marks.trimmed);
    let appended = now.appended.checked_sub(marks.appended);
    let plain = now.lineage == marks.lineage && now.rewritten == marks.rewritten;
    match (trimmed, appended) {
        (Some(trimmed), Some(appended))
            if plain
                && trimmed <= len as u64
                && new.len() as u64 == len as u64 - trimmed + appended =>
        {
            if trimmed > 0 {
                changes.push(Change::Trimmed { count: trimmed });
            }
            if appended > 0 {
                let transfers = new.newest(appended as usize).cloned().collect();
                changes.push(Change::Logged { transfers });
            }
        }
        _ => changes.push(Change::LogReplaced { log: new.to_vec() }),
    }
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
            Change::Trimmed { count } => {
                let count = usize::try_from(count).expect("a log in memory");
                Arc::make_mut(&mut storage.log).trim(count)
            }
            Change::Logged { transfers } => {
                let log = Arc::make_mut(&mut storage.log);
                transfers.into_iter().for_each(|t| log.push(t));
            }
            Change::LogReplaced { log } => storage.log = Arc::new(Log::from(log)),
            Change::Answered { session, last } => storage.last_outcomes.insert(session, last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::Height;
    use quickcheck::Arbitrary;

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
                // As the protocol changes a storage: a block taking some of the log (the
                // oldest, or any), transfers appended, sessions answered.
                let take = usize::arbitrary(&mut g) % (last.log.len() + 1);
                let taken: Vec<Transfer> = match bool::arbitrary(&mut g) {
                    true => last.log.oldest(take).0,
                    false => last.log.iter().skip(take).cloned().collect(),
                };
                let mut new = grown(&last, taken.clone());
                Arc::make_mut(&mut new.log).absorb(new.chain.tip());
                for t in crate::arbitrary::transfers(&mut g) {
                    Arc::make_mut(&mut new.log).push(t);
                }
                let other = crate::arbitrary::storage(&mut g);
                for (session, answered) in other.last_outcomes.iter() {
                    new.last_outcomes.insert(session, answered.clone());
                }
                new.promised = other.promised;
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
