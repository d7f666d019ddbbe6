//! One search thread's work: take a state, judge the properties there, offer its next
//! states, and record discoveries (see the module comment of [`super`]).

use super::{fingerprint, Job, Leaving, Shared, Trail};
use crossbeam::deque::{Steal, Worker};
use stateright::{Expectation, Model};
use std::collections::BTreeSet;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How many states a thread examines between two updates of the shared count.
const FLUSH_EVERY: usize = 1024;

/// A thread's own counts, added to the shared ones now and then ([`Shared::flush`]).
#[derive(Default)]
struct Tally {
    examined: usize,
    max_depth: usize,
    published_depth: usize,
}

/// What a thread reuses from one state to the next.
struct Scratch<M: Model> {
    actions: Vec<M::Action>,
    children: Vec<Job<M::State>>,
    tally: Tally,
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

    pub(super) fn push_initial_states(&self) {
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
    pub(super) fn work(&self, me: usize, local: Worker<Job<M::State>>) {
        // A thread that panics (a property or handler did) never finishes the state it
        // holds, so the others would wait for it for ever: its exit stops them all.
        let _leaving = Leaving {
            stop: &self.stop,
            live: &self.live,
        };
        let mut scratch = Scratch {
            actions: Vec::new(),
            children: Vec::new(),
            tally: Tally::default(),
        };
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
                    self.expand(job, &local, &mut scratch);
                }
                None if self.pending.load(Ordering::Acquire) == 0 => break,
                None => {
                    self.flush(&mut scratch.tally);
                    idle += 1;
                    if idle < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
        self.flush(&mut scratch.tally);
    }

    /// Adds this thread's counts to the shared ones.
    fn flush(&self, tally: &mut Tally) {
        if tally.examined > 0 {
            self.examined.fetch_add(tally.examined, Ordering::Relaxed);
            tally.examined = 0;
        }
        if tally.max_depth > tally.published_depth {
            self.max_depth.fetch_max(tally.max_depth, Ordering::Relaxed);
            tally.published_depth = tally.max_depth;
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
    fn expand(&self, job: Job<M::State>, local: &Worker<Job<M::State>>, scratch: &mut Scratch<M>) {
        scratch.tally.max_depth = scratch.tally.max_depth.max(job.depth);
        if self.options.max_depth.is_none_or(|d| job.depth < d) {
            if let Some(visit) = &self.options.visitor {
                visit(&self.model, &job.state);
            }
            if let Some(unsatisfied) = self.judge(&job) {
                self.offer_next_states(&job, unsatisfied, scratch);
            }
        }
        // The job leaves `pending` as its children join it, in one update made before any
        // of them is pushed: `pending` never reads 0 while a state is left. (A shared
        // counter touched twice per state cost the threads more than the rest of their
        // bookkeeping.)
        let children = scratch.children.len();
        if children != 1 {
            self.pending
                .fetch_add(children.wrapping_sub(1), Ordering::AcqRel);
        }
        for child in scratch.children.drain(..) {
            if self.options.breadth_first {
                self.injector.push(child);
            } else {
                local.push(child);
            }
        }
        if scratch.tally.examined >= FLUSH_EVERY || self.options.max_states.is_some() {
            self.flush(&mut scratch.tally);
            let examined = self.examined.load(Ordering::Relaxed);
            if self.options.max_states.is_some_and(|n| examined >= n) {
                self.stop.store(true, Ordering::Release);
            }
        }
    }

    /// Offers every next state of `job`'s to the seen set, gathering the new ones in
    /// `scratch.children`, and records the path-end discoveries if it has none.
    fn offer_next_states(&self, job: &Job<M::State>, unsatisfied: u64, scratch: &mut Scratch<M>) {
        let mut terminal = true;
        let Scratch {
            actions,
            children,
            tally,
        } = scratch;
        // A state seen before was within the boundary when first seen: it is counted as
        // examined without being built.
        let mut offer = |index: usize, key: u64, build: &mut dyn FnMut() -> M::State| {
            if self.seen.contains(&key) {
                tally.examined += 1;
                terminal = false;
                return;
            }
            let next = build();
            if self.model.within_boundary(&next) {
                tally.examined += 1;
                terminal = false;
                if self.seen.insert(key) {
                    children.push(Job {
                        state: next,
                        depth: job.depth + 1,
                        trail: Arc::new(Trail {
                            index: index as u32,
                            parent: Some(Arc::clone(&job.trail)),
                        }),
                        unsatisfied,
                    });
                }
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
    pub(super) fn actions_along(&self, trail: &Trail) -> (usize, Vec<M::Action>)
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
