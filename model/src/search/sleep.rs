//! Sleep sets: fewer examinations per state, and not one state fewer.
//!
//! In an actor system, two steps of different actors commute: each changes only its own
//! actor's state (and timers and storage), takes its own message out of the network and
//! adds what it sends, so either order reaches the same state, and neither step disables
//! the other. A search that tries both orders reaches that state twice and examines it
//! twice; on the five-server presets each unique state was examined four to six times.
//! Sleep sets (Godefroid, *Partial-Order Methods for the Verification of Concurrent
//! Systems*, 1996, chapter 5) skip the second order, and lose no state:
//!
//! 1. **Transitions.** A model names each step by a [`Transition`]: an id that is the same
//!    in every state where the step is enabled (a hash of the action), and the actors it
//!    touches. Two transitions that touch disjoint actors commute (the model's promise,
//!    which model/src/bank_model.rs argues for its actors and model/tests checks).
//! 2. **The sleep set** of a state is a set of transitions enabled in it that need not be
//!    taken there: each was taken from an ancestor, and every step since commutes with it,
//!    so what it reaches from here is reached from there too. A state's next states are
//!    offered in the order of its actions; the k-th one's sleep set is the transitions of
//!    the state's own sleep set and of the k-1 offered before it that commute with the
//!    k-th. A transition in the sleep set is not taken, not even computed.
//! 3. **Seen states remember their sleep sets.** Combined naively with a set of seen
//!    states, sleep sets lose states: a state first reached with transition t asleep, and
//!    later reached by a path that needs t taken, would never take it. So the seen set keeps
//!    each state's sleep set; a state reached again with a sleep set that lacks some of the
//!    stored ones is expanded again for those alone (they "wake up"), and the stored set
//!    becomes the intersection. Over all its visits a state then takes every enabled
//!    transition but those asleep in all of them, which is Godefroid's condition for every
//!    reachable state to be visited (his theorem 5.2, state-space caching with sleep sets).
//!    The check and the update are one atomic step on the seen set's entry, so two threads
//!    reaching one state at once each wake up what the other has not taken.
//! 4. **What it preserves, and what it does not.** Every reachable state is visited, so
//!    `always` and `sometimes` properties get the same verdicts and the unique count is the
//!    same (the pinned counts of model/tests say so for every preset). Fewer *paths* are
//!    walked: a state with an asleep transition is never terminal (the transition is
//!    enabled), and `eventually` properties, judged at the end of the paths walked, see a
//!    subset of the paths; the one this model has ("every client request is answered") is
//!    stable (once true, true), so a path's end sees what every path to it would.
//! 5. **The model asks for them** (`SearchOptions::sleep_sets`) and names the steps.
//! 6. **With a symmetry**, the seen set keeps one entry per orbit, so it keeps the sleep set
//!    in the representative's names: each step's actors renamed as the state is renamed to
//!    its representative (the model says how, with each next state's fingerprint). A state
//!    reached again, itself or renamed, compares its own sleep set in those names, and takes
//!    the steps that woke up in its own. Where the renaming is not unique (two passive
//!    servers alike in everything), the state is its own image under swapping them, and so
//!    are the states its two swapped steps reach: either step stands for the other.

use dashmap::{mapref::entry::Entry, DashMap, DashSet};
use nohash_hasher::BuildNoHashHasher;

/// One step as sleep sets see it (2. above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// What the step is, but for the actors it names: the same in every state where the
    /// step is enabled.
    pub what: u64,
    /// The actor that steps, and the other actor the step names (a message's sender), or
    /// [`Transition::NOBODY`].
    pub actor: u8,
    pub peer: u8,
    /// The actors the step touches, a bit each. Two steps that touch none in common
    /// commute, and neither disables the other.
    pub touches: u64,
}

impl Transition {
    /// No actor.
    pub const NOBODY: u8 = u8::MAX;

    /// Whether the two steps commute (their actors are disjoint).
    pub fn commutes_with(&self, other: &Transition) -> bool {
        self.touches & other.touches == 0
    }

    /// The step's id with actor `i` renamed `renamed[i]`: where a symmetry merges a state
    /// with its representative, the seen set keeps sleep sets in the representative's names
    /// (6. above).
    pub fn id(&self, renamed: Option<&[usize]>) -> u64 {
        let name = |a: u8| match (a, renamed) {
            (Transition::NOBODY, _) | (_, None) => a,
            (a, Some(r)) => r[usize::from(a)] as u8,
        };
        ahash::RandomState::with_seeds(9, 10, 11, 12).hash_one((
            self.what,
            name(self.actor),
            name(self.peer),
        ))
    }
}

type NoHash = BuildNoHashHasher<u64>;

/// The fingerprints of the states seen, and with sleep sets each one's stored sleep set
/// (its transitions' ids, sorted).
pub(super) enum Seen {
    Plain(DashSet<u64, NoHash>),
    Sleeping(DashMap<u64, Box<[u64]>, NoHash>),
}

/// What a state reached with a sleep set needs (3. above).
pub(super) enum Visit {
    /// Never seen: expand it.
    New,
    /// Seen with a sleep set no larger: nothing to do.
    Covered,
    /// Seen, but these transitions were asleep then and are awake now: take them.
    Awake(Box<[u64]>),
}

impl Seen {
    pub fn new(sleeping: bool) -> Seen {
        match sleeping {
            true => Seen::Sleeping(DashMap::default()),
            false => Seen::Plain(DashSet::default()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Seen::Plain(set) => set.len(),
            Seen::Sleeping(map) => map.len(),
        }
    }

    /// Whether `key` was seen (and, with sleep sets, with nothing asleep that `ids` has
    /// awake: a visit with `ids` would be [`Visit::Covered`]).
    pub fn covers(&self, key: u64, ids: &[u64]) -> bool {
        match self {
            Seen::Plain(set) => set.contains(&key),
            Seen::Sleeping(map) => map
                .get(&key)
                .is_some_and(|stored| stored.iter().all(|id| ids.binary_search(id).is_ok())),
        }
    }

    /// Records a visit of `key` with the sorted sleep set `ids`, atomically.
    pub fn visit(&self, key: u64, ids: Box<[u64]>) -> Visit {
        match self {
            Seen::Plain(set) => match set.insert(key) {
                true => Visit::New,
                false => Visit::Covered,
            },
            Seen::Sleeping(map) => match map.entry(key) {
                Entry::Vacant(v) => {
                    v.insert(ids);
                    Visit::New
                }
                Entry::Occupied(mut o) => {
                    let stored = o.get_mut();
                    let asleep = |id: &u64| ids.binary_search(id).is_ok();
                    if stored.iter().all(asleep) {
                        return Visit::Covered;
                    }
                    let (still, awake): (Vec<u64>, Vec<u64>) =
                        stored.iter().partition(|id| asleep(id));
                    *stored = still.into();
                    Visit::Awake(awake.into())
                }
            },
        }
    }
}

/// The sleep set of the next state reached by `t` (2. above): those of `asleep` (the
/// state's own sleep set, then the transitions offered before `t`) that commute with `t`;
/// and their ids with the next state's renaming to its representative, sorted.
pub(super) fn after(
    asleep: impl Iterator<Item = Transition>,
    t: &Transition,
    renamed: Option<&[usize]>,
) -> (Vec<Transition>, Box<[u64]>) {
    let sleep: Vec<Transition> = asleep.filter(|u| u.commutes_with(t)).collect();
    let mut ids: Vec<u64> = sleep.iter().map(|u| u.id(renamed)).collect();
    ids.sort_unstable();
    ids.dedup();
    (sleep, ids.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(what: u64, actor: u8) -> Transition {
        Transition {
            what,
            actor,
            peer: Transition::NOBODY,
            touches: 1 << actor,
        }
    }

    #[test]
    fn a_next_state_sleeps_on_what_commutes_with_its_step() {
        let (sleep, ids) = after([t(7, 0), t(3, 1), t(5, 2)].into_iter(), &t(9, 1), None);
        assert_eq!(sleep, vec![t(7, 0), t(5, 2)]);
        let mut want = [t(7, 0).id(None), t(5, 2).id(None)];
        want.sort_unstable();
        assert_eq!(&*ids, &want[..]);
    }

    #[test]
    fn a_step_is_named_in_the_representative_s_names() {
        // Actors 1 and 2 swap places in the representative: 1's step is 2's there.
        let renamed = [0, 2, 1];
        assert_eq!(t(7, 1).id(Some(&renamed)), t(7, 2).id(None));
        assert_ne!(t(7, 1).id(Some(&renamed)), t(7, 1).id(None));
        assert_eq!(t(7, 0).id(Some(&renamed)), t(7, 0).id(None));
    }

    #[test]
    fn a_state_reached_again_with_less_asleep_wakes_up_the_difference() {
        let seen = Seen::new(true);
        assert!(matches!(seen.visit(1, vec![3, 5, 7].into()), Visit::New));
        assert!(seen.covers(1, &[3, 5, 7, 9]));
        assert!(matches!(
            seen.visit(1, vec![3, 5, 7, 9].into()),
            Visit::Covered
        ));
        assert!(!seen.covers(1, &[5]));
        match seen.visit(1, vec![5].into()) {
            Visit::Awake(awake) => assert_eq!(&*awake, &[3, 7]),
            _ => panic!("3 and 7 were asleep and are awake now"),
        }
        // Stored now: {5}. Nothing wakes up for a visit with 5 asleep, 5 does without it.
        assert!(matches!(seen.visit(1, vec![5].into()), Visit::Covered));
        match seen.visit(1, Box::default()) {
            Visit::Awake(awake) => assert_eq!(&*awake, &[5]),
            _ => panic!("5 is awake now"),
        }
        assert_eq!(seen.len(), 1);
    }
}
