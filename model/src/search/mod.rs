//! A depth-first search over any stateright [`Model`] that shares its work at every state.
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
//!
//! 6. **Breadth-first** is the same search with one shared queue instead of the per-thread
//!    deques: every thread takes the oldest pending state.
//!
//! Two things differ from stateright's checkers on purpose. The fingerprint is given by the
//! model when it has a better one than its `Hash` ([`crate::fingerprint`]: stateright's
//! `Hash` of an actor system merges states that differ in which actor holds a timer). And
//! where stateright stops expanding a state at which every property is already decided, this
//! search stops altogether, every property being decided. It has no timeout (the `check`
//! command keeps the time) and calls a visitor with the state rather than its path.
//! model/tests/search.rs compares it with the distinct states themselves and with
//! stateright's verdicts.

use crossbeam::deque::{Injector, Steal, Stealer, Worker};
use dashmap::DashSet;
use nohash_hasher::BuildNoHashHasher;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, Property};
use std::collections::{BTreeSet, HashMap};
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
}

/// Calls `offer(index, fingerprint, build)` for each next state of a state, in the order
/// of the state's actions (`index` is the action's). `build` makes the next state; the
/// search calls it only if the fingerprint is new. Next states outside the boundary may be
/// offered: the search checks the ones it builds.
pub type Expand<M> = fn(&M, &<M as Model>::State, &mut Offer<M>);
/// See [`Expand`].
pub type Offer<'a, M> = dyn FnMut(usize, u64, &mut dyn FnMut() -> <M as Model>::State) + 'a;

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
/// properties not yet satisfied on that path (a bit per property index).
struct Job<S> {
    state: S,
    depth: usize,
    trail: Arc<Trail>,
    unsatisfied: u64,
}

struct Shared<M: Model> {
    model: M,
    properties: Vec<Property<M>>,
    options: SearchOptions<M>,
    seen: DashSet<u64, BuildNoHashHasher<u64>>,
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
{
    /// Starts the search on `options.threads` threads and returns at once.
    pub fn spawn(model: M, options: SearchOptions<M>) -> Self {
        let properties = model.properties();
        assert!(
            properties.len() <= 64,
            "the search tracks at most 64 properties"
        );
        let threads = options.threads.max(1);
        let workers: Vec<Worker<Job<M::State>>> =
            (0..threads).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            stealers: workers.iter().map(Worker::stealer).collect(),
            properties,
            options,
            seen: DashSet::default(),
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

impl<M> Shared<M>
where
    M: Model,
    M::State: Clone + Hash,
{
    fn key(&self, state: &M::State) -> u64 {
        let print = self.options.fingerprint.unwrap_or(fingerprint::<M::State>);
        match self.options.symmetry {
            Some(representative) => print(&representative(state)),
            None => print(state),
        }
    }

    fn push_initial_states(&self) {
        let unsatisfied = self
            .properties
            .iter()
            .enumerate()
            .filter(|(_, p)| p.expectation == Expectation::Eventually)
            .fold(0, |bits, (i, _)| bits | 1 << i);
        for (i, state) in self.model.init_states().into_iter().enumerate() {
            if !self.model.within_boundary(&state) {
                continue;
            }
            let key = self.key(&state);
            self.examined.fetch_add(1, Ordering::Relaxed);
            if self.seen.insert(key) {
                self.pending.fetch_add(1, Ordering::Relaxed);
                self.injector.push(Job {
                    state,
                    depth: 1,
                    trail: Arc::new(Trail {
                        index: i as u32,
                        parent: None,
                    }),
                    unsatisfied,
                });
            }
        }
    }

    /// One thread's loop: expand its own states, steal when out, end when nothing is pending.
    fn work(&self, me: usize, local: Worker<Job<M::State>>) {
        // A thread that panics (a property or handler did) never finishes the state it
        // holds, so the others would wait for it for ever: its exit stops them all.
        let _leaving = Leaving {
            stop: &self.stop,
            live: &self.live,
        };
        let mut actions = Vec::new();
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let next = if self.options.breadth_first {
                self.pop_oldest()
            } else {
                local.pop().or_else(|| self.steal(me, &local))
            };
            match next {
                Some(job) => {
                    idle = 0;
                    self.expand(job, &local, &mut actions);
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                }
                None if self.pending.load(Ordering::Acquire) == 0 => break,
                None => {
                    idle += 1;
                    if idle < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }

    /// Breadth-first: the oldest state of the shared queue.
    fn pop_oldest(&self) -> Option<Job<M::State>> {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    fn steal(&self, me: usize, local: &Worker<Job<M::State>>) -> Option<Job<M::State>> {
        loop {
            let mut retry = false;
            let others =
                (1..self.stealers.len()).map(|k| &self.stealers[(me + k) % self.stealers.len()]);
            for attempt in std::iter::once(self.injector.steal_batch_and_pop(local))
                .chain(others.map(|s| s.steal_batch_and_pop(local)))
            {
                match attempt {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Judges the properties at `job`'s state, then pushes its unseen next states.
    fn expand(
        &self,
        job: Job<M::State>,
        local: &Worker<Job<M::State>>,
        actions: &mut Vec<M::Action>,
    ) {
        self.max_depth.fetch_max(job.depth, Ordering::Relaxed);
        if self.options.max_depth.is_some_and(|d| job.depth >= d) {
            return;
        }
        if let Some(visit) = &self.options.visitor {
            visit(&self.model, &job.state);
        }
        let Some(unsatisfied) = self.judge(&job) else {
            return;
        };
        let mut terminal = true;
        // A state seen before was within the boundary when first seen: it is counted as
        // examined without being built.
        let mut offer = |index: usize, key: u64, build: &mut dyn FnMut() -> M::State| {
            if self.seen.contains(&key) {
                self.count_examined();
                terminal = false;
                return;
            }
            let next = build();
            if self.model.within_boundary(&next) {
                self.count_examined();
                terminal = false;
                self.push(&job, index, key, next, unsatisfied, local);
            }
        };
        match self.options.expand {
            Some(expand) => expand(&self.model, &job.state, &mut offer),
            None => {
                self.model.actions(&job.state, actions);
                for (index, action) in actions.drain(..).enumerate() {
                    let Some(next) = self.model.next_state(&job.state, action) else {
                        continue;
                    };
                    let key = self.key(&next);
                    let mut next = Some(next);
                    offer(index, key, &mut || next.take().expect("built once"));
                }
            }
        }
        if terminal {
            for i in (0..self.properties.len()).filter(|i| unsatisfied & 1 << i != 0) {
                self.discover(i, &job.trail);
            }
        }
    }

    fn count_examined(&self) {
        let examined = self.examined.fetch_add(1, Ordering::Relaxed) + 1;
        if self.options.max_states.is_some_and(|n| examined >= n) {
            self.stop.store(true, Ordering::Release);
        }
    }

    /// Records `next` as reached from `parent` by action `index` and pushes it, unless
    /// another thread got there first.
    fn push(
        &self,
        parent: &Job<M::State>,
        index: usize,
        key: u64,
        next: M::State,
        unsatisfied: u64,
        local: &Worker<Job<M::State>>,
    ) {
        if !self.seen.insert(key) {
            return;
        }
        self.pending.fetch_add(1, Ordering::AcqRel);
        let job = Job {
            state: next,
            depth: parent.depth + 1,
            trail: Arc::new(Trail {
                index: index as u32,
                parent: Some(Arc::clone(&parent.trail)),
            }),
            unsatisfied,
        };
        if self.options.breadth_first {
            self.injector.push(job);
        } else {
            local.push(job);
        }
    }

    /// Evaluates every property still awaiting a discovery at `job`'s state, and returns the
    /// `eventually` properties still unsatisfied on its path, or `None` if nothing is left to
    /// discover.
    fn judge(&self, job: &Job<M::State>) -> Option<u64> {
        let mut unsatisfied = job.unsatisfied;
        let mut awaiting = false;
        for (i, p) in self.properties.iter().enumerate() {
            let bit = 1u64 << i;
            let discovered = self.discovered.load(Ordering::Relaxed) & bit != 0;
            match p.expectation {
                Expectation::Eventually => {
                    if discovered && unsatisfied & bit == 0 {
                        continue;
                    }
                    awaiting = true;
                    if (p.condition)(&self.model, &job.state) {
                        unsatisfied &= !bit;
                    }
                }
                _ if discovered => {}
                Expectation::Always if !(p.condition)(&self.model, &job.state) => {
                    self.discover(i, &job.trail)
                }
                Expectation::Sometimes if (p.condition)(&self.model, &job.state) => {
                    self.discover(i, &job.trail)
                }
                _ => awaiting = true,
            }
        }
        awaiting.then_some(unsatisfied)
    }

    /// Records the first discovery of property `i`, at the end of `trail`.
    fn discover(&self, i: usize, trail: &Arc<Trail>) {
        let bit = 1u64 << i;
        if self.discovered.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return;
        }
        let mut discoveries = self
            .discoveries
            .lock()
            .expect("no thread panics holding it");
        discoveries.insert(self.properties[i].name, Arc::clone(trail));
        let names: BTreeSet<&'static str> = discoveries.keys().copied().collect();
        if names.len() == self.properties.len()
            || self.options.finish_when.matches(&names, &self.properties)
        {
            self.stop.store(true, Ordering::Release);
        }
    }

    /// The initial state's index and the actions along `trail`, replayed from it.
    fn actions_along(&self, trail: &Trail) -> (usize, Vec<M::Action>)
    where
        M::Action: Clone,
    {
        let indices = trail.indices();
        let (&init, indices) = indices.split_first().expect("a trail has a first step");
        let mut state = self.model.init_states().swap_remove(init);
        let mut taken = Vec::new();
        for &index in indices {
            let mut actions = Vec::new();
            self.model.actions(&state, &mut actions);
            let action = actions.swap_remove(index);
            state = self
                .model
                .next_state(&state, action.clone())
                .expect("a recorded action leads somewhere");
            taken.push(action);
        }
        (init, taken)
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
            .map(|(name, trail)| (name, self.shared.actions_along(&trail)))
            .collect()
    }
}

impl<M> Checker<M> for Search<M>
where
    M: Model,
    M::State: Clone + Hash,
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
        let found = self
            .shared
            .discoveries
            .lock()
            .expect("no thread panics holding it")
            .clone();
        let model = &self.shared.model;
        let init_states = model.init_states();
        (found.into_iter())
            .map(|(name, trail)| {
                let (init, actions) = self.shared.actions_along(&trail);
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

#[cfg(test)]
mod tests;
