//! One search thread's work: take a state, judge the properties there, offer its next
//! states, and record discoveries (see the module comment of [`super`]).

use super::sleep::{self, Transition, Visit};
use super::{fingerprint, Defect, Job, Leaving, Shared, Trail, MAX_DEFECTS_PER_PROPERTY};
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
    /// States this thread expanded (for `SearchOptions::audit_every`).
    expanded: usize,
    examined: usize,
    max_depth: usize,
    published_depth: usize,
}

/// A trail replayed: the initial state's index, the actions taken, the state they lead to.
type Replayed<M> = (usize, Vec<<M as Model>::Action>, <M as Model>::State);

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
    M::Action: Clone,
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
            if let Visit::New = self.seen.visit(key, Box::default()) {
                self.pending.fetch_add(1, Ordering::Relaxed);
                self.injector.push(Job {
                    state,
                    depth: 1,
                    trail: Arc::new(Trail {
                        index: i as u32,
                        parent: None,
                    }),
                    unsatisfied,
                    sleep: Vec::new(),
                    only: None,
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
            // A state seen before (its transitions that woke up to take) was visited,
            // audited and counted then.
            if job.only.is_none() {
                if let Some(visit) = &self.options.visitor {
                    visit(&self.model, &job.state);
                }
                scratch.tally.expanded += 1;
                if (self.options.audit_every)
                    .is_some_and(|n| scratch.tally.expanded.is_multiple_of(n.max(1)))
                {
                    self.audit(&job);
                }
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
    /// `scratch.children`, and records the path-end discoveries if it has none. With sleep
    /// sets, a transition asleep in `job` is not taken, and a state seen before is taken
    /// again for the transitions that woke up ([`super::sleep`]).
    fn offer_next_states(&self, job: &Job<M::State>, unsatisfied: u64, scratch: &mut Scratch<M>) {
        let mut terminal = job.sleep.is_empty() && job.only.is_none();
        let Scratch {
            actions,
            children,
            tally,
        } = scratch;
        let mut offered: Vec<Transition> = Vec::new();
        let sleeping = self.options.sleep_sets;
        let asleep = |t: &Transition| {
            sleeping
                && (job.sleep.contains(t)
                    || (job.only.as_ref())
                        .is_some_and(|(awake, renamed)| !awake.contains(&t.id(renamed.as_deref()))))
        };
        // A state seen before was within the boundary when first seen: it is counted as
        // examined without being built (unless some of its transitions woke up).
        let mut offer = |index: usize,
                         t: Transition,
                         key: u64,
                         renamed: Option<&[usize]>,
                         build: &mut dyn FnMut() -> M::State| {
            let (sleep, ids) = match sleeping {
                true => sleep::after(job.sleep.iter().chain(&offered).copied(), &t, renamed),
                false => (Vec::new(), Box::default()),
            };
            if sleeping {
                offered.push(t);
            }
            if self.seen.covers(key, &ids) {
                tally.examined += 1;
                terminal = false;
                return;
            }
            let next = build();
            if !self.model.within_boundary(&next) {
                return;
            }
            tally.examined += 1;
            terminal = false;
            let only = match self.seen.visit(key, ids) {
                Visit::New => None,
                Visit::Covered => return,
                Visit::Awake(awake) => Some((awake, renamed.map(<[usize]>::to_vec))),
            };
            children.push(Job {
                state: next,
                depth: job.depth + 1,
                trail: Arc::new(Trail {
                    index: index as u32,
                    parent: Some(Arc::clone(&job.trail)),
                }),
                unsatisfied,
                sleep,
                only,
            });
        };
        match self.options.expand {
            Some(expand) => expand(&self.model, &job.state, &asleep, &mut offer),
            None => {
                self.model.actions(&job.state, actions);
                let t = Transition {
                    what: 0,
                    actor: Transition::NOBODY,
                    peer: Transition::NOBODY,
                    touches: !0,
                };
                for (index, action) in actions.drain(..).enumerate() {
                    let Some(next) = self.model.next_state(&job.state, action) else {
                        continue;
                    };
                    let key = self.key(&next);
                    let mut next = Some(next);
                    offer(index, t, key, None, &mut || {
                        next.take().expect("built once")
                    });
                }
            }
        }
        if terminal {
            for i in (0..self.properties.len()).filter(|i| unsatisfied & 1 << i != 0) {
                let _settled = self.discover(i, &job.trail, &job.state);
            }
        }
    }

    /// Evaluates every property still awaiting a discovery at `job`'s state, and returns the
    /// `eventually` properties still unsatisfied on its path, or `None` if nothing is left to
    /// discover.
    fn judge(&self, job: &Job<M::State>) -> Option<u64> {
        let mut unsatisfied = job.unsatisfied;
        let mut awaiting = false;
        let done = self.discovered.load(Ordering::Relaxed) | self.abandoned.load(Ordering::Relaxed);
        for (i, p) in self.properties.iter().enumerate() {
            let bit = 1u64 << i;
            let discovered = done & bit != 0;
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
                // A discovery that does not stand leaves the property to be looked for.
                Expectation::Always if !(p.condition)(&self.model, &job.state) => {
                    awaiting |= !self.discover(i, &job.trail, &job.state)
                }
                Expectation::Sometimes if (p.condition)(&self.model, &job.state) => {
                    awaiting |= !self.discover(i, &job.trail, &job.state)
                }
                _ => awaiting = true,
            }
        }
        awaiting.then_some(unsatisfied)
    }

    /// Records the first discovery of property `i`, at the end of `trail` in `state`, once it
    /// is confirmed ([`Shared::confirm`]); one that is not is recorded as a [`Defect`], and
    /// the search goes on looking for that property. Whether the property is settled now
    /// (discovered, or given up after too many defects).
    fn discover(&self, i: usize, trail: &Arc<Trail>, state: &M::State) -> bool {
        let bit = 1u64 << i;
        if self.discovered.load(Ordering::Acquire) & bit != 0 {
            return true;
        }
        if let Err(why) = self.confirm(i, trail, state) {
            self.reject(i, trail, why);
            return self.abandoned.load(Ordering::Acquire) & bit != 0;
        }
        if self.discovered.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return true;
        }
        let mut discoveries = self
            .discoveries
            .lock()
            .expect("no thread panics holding it");
        discoveries.insert(self.properties[i].name, Arc::clone(trail));
        let names: BTreeSet<&'static str> = discoveries.keys().copied().collect();
        let settled =
            self.discovered.load(Ordering::Acquire) | self.abandoned.load(Ordering::Acquire);
        if settled.count_ones() as usize == self.properties.len()
            || self.options.finish_when.matches(&names, &self.properties)
        {
            self.stop.store(true, Ordering::Release);
        }
        true
    }

    /// Audits the state of `job`: its path replays to it through the model, and the model's
    /// own check agrees ([`super::SearchOptions::audit_every`]).
    fn audit(&self, job: &Job<M::State>) {
        let checked = self
            .replay(&job.trail)
            .and_then(|(init, actions, replayed)| {
                if self.key(&replayed) != self.key(&job.state) {
                    return Err("the search's trail does not lead to the state it holds".into());
                }
                match self.options.confirm {
                    Some(check) => check(&self.model, init, &actions, &job.state, None),
                    None => Ok(()),
                }
            });
        if let Err(why) = checked {
            let mut defects = self.defects.lock().unwrap_or_else(|e| e.into_inner());
            if defects.len() < 64 {
                let steps = job.trail.indices().len() - 1;
                defects.push(Defect {
                    property: None,
                    steps,
                    why,
                });
            }
        }
    }

    /// Records a discovery of property `i` that did not stand; after a few, the property is
    /// no longer judged.
    fn reject(&self, i: usize, trail: &Trail, why: String) {
        let mut defects = self.defects.lock().unwrap_or_else(|e| e.into_inner());
        let property = self.properties[i].name;
        defects.push(Defect {
            property: Some(property),
            steps: trail.indices().len() - 1,
            why,
        });
        let of_it = defects
            .iter()
            .filter(|d| d.property == Some(property))
            .count();
        if of_it >= MAX_DEFECTS_PER_PROPERTY {
            self.abandoned.fetch_or(1 << i, Ordering::AcqRel);
        }
    }

    /// Whether a discovery of property `i` at the end of `trail`, judged in `state`, stands:
    /// its steps replay through the model to a state with the same fingerprint, the property
    /// judges that state the same way, and the model's own check agrees
    /// (`SearchOptions::confirm`).
    fn confirm(&self, i: usize, trail: &Trail, state: &M::State) -> Result<(), String> {
        let (init, actions, replayed) = self.replay(trail)?;
        if self.key(&replayed) != self.key(state) {
            return Err("the search's trail does not lead to the state it judged: \
                        the search's bookkeeping of paths is at fault"
                .into());
        }
        let p = &self.properties[i];
        let holds = (p.condition)(&self.model, &replayed);
        let wrong = match p.expectation {
            Expectation::Always => holds,
            Expectation::Sometimes => !holds,
            Expectation::Eventually => false, // judged along the path, not in one state
        };
        if wrong {
            return Err(
                "its steps replay to a state with the same fingerprint, which the \
                        property judges otherwise: the fingerprint merges states the property \
                        tells apart"
                    .into(),
            );
        }
        match self.options.confirm {
            Some(check) => check(&self.model, init, &actions, state, Some(i)),
            None => Ok(()),
        }
    }

    /// The initial state's index and the actions along `trail`, replayed from it.
    pub(super) fn actions_along(&self, trail: &Trail) -> Result<(usize, Vec<M::Action>), String> {
        self.replay(trail).map(|(init, actions, _)| (init, actions))
    }

    /// Replays `trail` through the model: the initial state's index, the actions taken and
    /// the state they lead to; `Err` if a step is not there to take.
    fn replay(&self, trail: &Trail) -> Result<Replayed<M>, String> {
        let indices = trail.indices();
        let (&init, indices) = indices.split_first().expect("a trail has a first step");
        let mut state = (self.model.init_states().into_iter().nth(init))
            .ok_or("the trail starts at an initial state the model does not have")?;
        let mut taken = Vec::new();
        for (k, &index) in indices.iter().enumerate() {
            let mut actions = Vec::new();
            self.model.actions(&state, &mut actions);
            if index >= actions.len() {
                return Err(format!("step {}: the state has no action {index}", k + 1));
            }
            let action = actions.swap_remove(index);
            state = (self.model.next_state(&state, action.clone()))
                .ok_or_else(|| format!("step {}: the action leads nowhere", k + 1))?;
            taken.push(action);
        }
        Ok((init, taken, state))
    }
}
