//! An exhaustive search (depth- or breadth-first) over any stateright [`Model`], whose
//! threads share work at every state.
//!
//! stateright's own DFS gives a thread its share of the work in blocks of 1,500 states, so a
//! search of a few thousand states runs on one thread however many there are, and its second
//! thread only adds the cost of waking up. This search is the same search with finer sharing:
//!
//! 1. **Work.** Each thread keeps its pending states on a deque of its own and takes the
//!    newest (depth first). A thread with nothing left steals half of the oldest states from
//!    another thread: the ones nearest the root, whose subtrees are the largest.
//! 2. **Seen states.** One shared set of the fingerprints of the states seen. Each pending
//!    state carries its path as a trail of action indices shared with its parent's, so the
//!    memory for paths is that of the states pending (and their ancestors), not of every
//!    state seen; a discovery keeps the trail of the state where it was made.
//! 3. **Properties** are judged as stateright's DFS judges them. `always` and `sometimes` are
//!    evaluated at every state until they have a discovery. `eventually` is carried along each
//!    path as a set of properties not yet satisfied, and a path that ends (a state with no
//!    next state within the boundary) with one still in the set is its discovery.
//! 4. **Symmetry.** With a representative function, states are merged by their
//!    representative's fingerprint, but the search goes on from the state itself, so that
//!    every action index on a trail is one of the state it was taken in.
//! 5. **The end.** The search ends when no state is pending on any thread, when
//!    `finish_when` matches the discoveries so far, or when every property has one.
//! 6. **Breadth-first** is the same search with one shared queue instead of the per-thread
//!    deques: every thread takes the oldest pending state.
//!
//! 7. **Next states** come from the model's `actions` and `next_state`, or, given an
//!    [`Expand`] function, with their fingerprints before they are built, so that a state
//!    seen before is never built (`crate::delta`).
//! 8. **Sleep sets**, where the model asks for them: a step that commutes with every step
//!    since an ancestor took it is not tried again, and the seen set keeps each state's
//!    sleep set so that no state is lost ([`sleep`]).
//!
//! Two things differ from stateright's checkers on purpose. The fingerprint is given by the
//! model when it has a better one than its `Hash` ([`crate::fingerprint`]: stateright's
//! `Hash` of an actor system merges states that differ in which actor holds a timer). And
//! where stateright stops expanding a state at which every property is already decided, this
//! search stops altogether, every property being decided. It has no timeout (the `check`
//! command keeps the time) and calls a visitor with the state rather than its path.
//! model/tests/search.rs compares it with the distinct states themselves and with
//! stateright's verdicts.

use crossbeam::deque::{Injector, Stealer, Worker};
use stateright::{Checker, HasDiscoveries, Model, Path, Property};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a [`Search`] runs.
pub struct SearchOptions<M: Model> {
    /// Worker threads, at least 1.
    pub threads: usize,
    /// States at this depth or deeper are counted but not expanded (stateright's
    /// `target_max_depth`); `None` for no bound.
    pub max_depth: Option<usize>,
    /// When to stop before the state space is exhausted.
    pub finish_when: HasDiscoveries,
    /// Stop once this many states have been examined (stateright's `target_state_count`);
    /// `None` for no bound.
    pub max_states: Option<usize>,
    /// Merges states that are the same up to a symmetry (stateright's `symmetry_fn`).
    pub symmetry: Option<Representative<M>>,
    /// A state's fingerprint, if not its `Hash`: a 64-bit hash of the whole state that never
    /// returns 0 (see `crate::fingerprint`).
    pub fingerprint: Option<fn(&M::State) -> u64>,
    /// Generates a state's next states with their fingerprints, in place of `actions`,
    /// `next_state` and `fingerprint`, so that a model can fingerprint a next state without
    /// building it (see [`Expand`]). Not with `symmetry`.
    pub expand: Option<Expand<M>>,
    /// Breadth-first instead: every thread takes the oldest pending state from one shared
    /// queue. With one thread that is exact BFS order (shortest paths first); with more, the
    /// threads finish a level at slightly different times.
    pub breadth_first: bool,
    /// Called with every state the search expands (a test's hook).
    pub visitor: Option<Visitor<M>>,
    /// A model's own check of a discovery, beyond the search's replay of it (see
    /// [`Confirm`]).
    pub confirm: Option<Confirm<M>>,
    /// Audit every this many states each thread expands: replay the path to it and check it
    /// as a discovery is checked; one that fails is a [`Defect`] of property `None`.
    pub audit_every: Option<usize>,
    /// Sleep sets ([`sleep`]): skip a step that commutes with every step since an ancestor
    /// took it. Needs `expand`, whose transitions must keep [`Transition`]'s promise; every
    /// reachable state is still visited.
    pub sleep_sets: bool,
}

/// A model's check of a discovery before the search accepts it: given the index of the
/// initial state, the actions taken from it, the state where the property was judged and the
/// property's index (`None` when the search audits a state, [`SearchOptions::audit_every`]),
/// `Err` says why the discovery is not to be trusted and which part of the
/// checker is to blame. The search has replayed the actions through the model already.
pub type Confirm<M> = fn(
    &M,
    usize,
    &[<M as Model>::Action],
    &<M as Model>::State,
    Option<usize>,
) -> Result<(), String>;

/// A discovery the search made and could not confirm: a defect of the checker, never a
/// result. The search goes on looking for that property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defect {
    /// The property it was a discovery of; `None` for a state audited.
    pub property: Option<&'static str>,
    /// How many steps led to it.
    pub steps: usize,
    /// Why it does not stand, naming the part of the checker at fault.
    pub why: String,
}

/// Unconfirmed discoveries of one property after which the search stops judging it: each
/// costs a replay, and the first few say all there is to say.
pub const MAX_DEFECTS_PER_PROPERTY: usize = 8;

/// Calls `offer(index, transition, fingerprint, renamed, build)` for each next state of a
/// state, in the order of the state's actions (`index` is the action's), but for the
/// transitions `asleep` says to skip (with sleep sets; else it says none). `renamed` is how
/// the next state's actors are renamed in its representative, where a symmetry merges by
/// one (else `None`). `build` makes the next state; the search calls it only if it needs
/// the state. Next states outside the boundary may be offered: the search checks the ones
/// it builds.
pub type Expand<M> = fn(&M, &<M as Model>::State, &Asleep, &mut Offer<M>);
/// See [`Expand`].
pub type Asleep<'a> = dyn Fn(&Transition) -> bool + 'a;
/// See [`Expand`].
pub type Offer<'a, M> = dyn FnMut(usize, Transition, u64, Option<&[usize]>, &mut dyn FnMut() -> <M as Model>::State)
    + 'a;

/// A representative function: the state of an orbit that stands for all of them.
pub type Representative<M> = fn(&<M as Model>::State) -> <M as Model>::State;

/// A function called with every state a [`Search`] expands.
pub type Visitor<M> = Arc<dyn Fn(&M, &<M as Model>::State) + Send + Sync>;

impl<M: Model> Default for SearchOptions<M> {
    fn default() -> Self {
        SearchOptions {
            threads: 1,
            max_depth: None,
            finish_when: HasDiscoveries::All,
            max_states: None,
            symmetry: None,
            fingerprint: None,
            expand: None,
            breadth_first: false,
            visitor: None,
            confirm: None,
            audit_every: None,
            sleep_sets: false,
        }
    }
}

/// The path to a state, last step first: the index of the action taken, then the path to
/// the state it was taken in; at an initial state, the index of that state. A state's
/// trail shares its parent's, so a pending state costs one step of it.
struct Trail {
    index: u32,
    parent: Option<Arc<Trail>>,
}

impl Trail {
    /// The indices from the initial state's on.
    fn indices(&self) -> Vec<usize> {
        let mut indices = vec![self.index as usize];
        let mut at = &self.parent;
        while let Some(t) = at {
            indices.push(t.index as usize);
            at = &t.parent;
        }
        indices.reverse();
        indices
    }
}

impl Drop for Trail {
    /// Drops a chain of steps one at a time (a long one would overflow the stack).
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(t) = next {
            next = Arc::try_unwrap(t).ok().and_then(|mut t| t.parent.take());
        }
    }
}

/// A pending state: its depth, the path to it, and the `eventually`
/// properties not yet satisfied on that path (a bit per property index); with sleep sets,
/// its sleep set, and for a state seen before, the transitions to take (those awake now).
struct Job<S> {
    state: S,
    depth: usize,
    trail: Arc<Trail>,
    unsatisfied: u64,
    sleep: Vec<Transition>,
    only: Option<Awake>,
}

/// A state seen before, to take again for the transitions that woke up: their ids in the
/// representative's names, and the state's renaming to them (`sleep`, 6.).
type Awake = (Box<[u64]>, Option<Vec<usize>>);

struct Shared<M: Model> {
    model: M,
    properties: Vec<Property<M>>,
    options: SearchOptions<M>,
    seen: Seen,
    injector: Injector<Job<M::State>>,
    stealers: Vec<Stealer<Job<M::State>>>,
    /// States pushed and not yet expanded, on every thread.
    pending: AtomicUsize,
    live: Live,
    stop: AtomicBool,
    examined: AtomicUsize,
    max_depth: AtomicUsize,
    /// A bit per property with a discovery, and the state where each was made.
    discovered: AtomicU64,
    discoveries: Mutex<HashMap<&'static str, Arc<Trail>>>,
    /// Discoveries that did not stand ([`Defect`]); a property with too many of them is no
    /// longer judged (its bit is set in `abandoned`).
    defects: Mutex<Vec<Defect>>,
    abandoned: AtomicU64,
}

/// The threads still running, and a condition variable the last one to leave signals.
struct Live {
    threads: Mutex<usize>,
    ended: Condvar,
}

/// Marks a thread's exit: it is no longer live, and if it panicked, every thread stops.
struct Leaving<'a> {
    stop: &'a AtomicBool,
    live: &'a Live,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stop.store(true, Ordering::Release);
        }
        // Not `expect`: a poisoned lock still counts, and this may run while panicking.
        let mut threads = self.live.threads.lock().unwrap_or_else(|e| e.into_inner());
        *threads -= 1;
        if *threads == 0 {
            self.live.ended.notify_all();
        }
    }
}

/// A running search; a [`Checker`], so it is polled, joined and reported like stateright's.
pub struct Search<M: Model> {
    shared: Arc<Shared<M>>,
    handles: Vec<JoinHandle<()>>,
}

/// The fingerprint of a state.
fn fingerprint<T: Hash>(value: &T) -> u64 {
    ahash::RandomState::with_seeds(5, 6, 7, 8)
        .hash_one(value)
        .max(1)
}

impl<M> Search<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + Hash + Send + Sync + 'static,
    M::Action: Clone,
{
    /// Starts the search on `options.threads` threads and returns at once.
    pub fn spawn(model: M, options: SearchOptions<M>) -> Self {
        let properties = model.properties();
        assert!(
            properties.len() <= 64,
            "the search tracks at most 64 properties"
        );
        let threads = options.threads.max(1);
        assert!(
            !options.sleep_sets || options.expand.is_some(),
            "sleep sets need the model's transitions: an `expand`"
        );
        let seen = Seen::new(options.sleep_sets);
        let workers: Vec<Worker<Job<M::State>>> =
            (0..threads).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            stealers: workers.iter().map(Worker::stealer).collect(),
            properties,
            options,
            seen,
            injector: Injector::new(),
            pending: AtomicUsize::new(0),
            live: Live {
                threads: Mutex::new(threads),
                ended: Condvar::new(),
            },
            stop: AtomicBool::new(false),
            examined: AtomicUsize::new(0),
            max_depth: AtomicUsize::new(0),
            discovered: AtomicU64::new(0),
            discoveries: Mutex::new(HashMap::new()),
            defects: Mutex::new(Vec::new()),
            abandoned: AtomicU64::new(0),
            model,
        });
        shared.push_initial_states();
        let handles = workers
            .into_iter()
            .enumerate()
            .map(|(i, local)| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("search-{i}"))
                    .spawn(move || shared.work(i, local))
                    .expect("a thread can be spawned")
            })
            .collect();
        Search { shared, handles }
    }
}

impl<M: Model> Search<M> {
    /// Waits until every thread has ended, or `timeout` has passed; whether they all ended.
    /// (A caller that only polls `is_done` learns of the end a polling interval late.)
    pub fn wait(&self, timeout: Duration) -> bool {
        let live = &self.shared.live;
        let threads = live.threads.lock().unwrap_or_else(|e| e.into_inner());
        let (threads, _) = (live.ended)
            .wait_timeout_while(threads, timeout, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *threads == 0
    }
}

impl<M: Model> Search<M> {
    /// The discoveries that did not stand, in the order they were made: defects of the
    /// checker (a part of it built a state its steps do not lead to), never results.
    pub fn defects(&self) -> Vec<Defect> {
        self.shared
            .defects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl<M> Search<M>
where
    M: Model,
    M::State: Clone + Hash,
    M::Action: Clone,
{
    /// Each discovery as the index of its initial state and the actions from there: what
    /// `discoveries` gives without building stateright's `Path`, which takes every next
    /// state of each state on the way to find the one taken.
    pub fn discovered_actions(&self) -> HashMap<&'static str, (usize, Vec<M::Action>)> {
        let found = self
            .shared
            .discoveries
            .lock()
            .expect("no thread panics holding it")
            .clone();
        (found.into_iter())
            .map(|(name, trail)| {
                let replayed = self.shared.actions_along(&trail);
                (
                    name,
                    replayed.expect("a discovery is confirmed before it is kept"),
                )
            })
            .collect()
    }
}

impl<M> Checker<M> for Search<M>
where
    M: Model,
    M::State: Clone + Hash,
    M::Action: Clone,
{
    fn model(&self) -> &M {
        &self.shared.model
    }

    fn state_count(&self) -> usize {
        self.shared.examined.load(Ordering::Relaxed)
    }

    fn unique_state_count(&self) -> usize {
        self.shared.seen.len()
    }

    fn max_depth(&self) -> usize {
        self.shared.max_depth.load(Ordering::Relaxed)
    }

    fn discoveries(&self) -> HashMap<&'static str, Path<M::State, M::Action>>
    where
        M::State: Clone + PartialEq,
        M::Action: Clone + PartialEq,
    {
        let model = &self.shared.model;
        let init_states = model.init_states();
        (self.discovered_actions().into_iter())
            .map(|(name, (init, actions))| {
                let path = Path::from_actions(model, init_states[init].clone(), actions.iter());
                (name, path.expect("a recorded path replays"))
            })
            .collect()
    }

    fn handles(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.handles)
    }

    fn is_done(&self) -> bool {
        *self
            .shared
            .live
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            == 0
    }
}

impl<M: Model> Drop for Search<M> {
    /// A search dropped before its end (a timeout) stops its threads.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

pub mod sleep;
mod worker;

use sleep::Seen;
pub use sleep::Transition;

#[cfg(test)]
mod tests;
