//! A memo of actor steps: each handler runs once per (actor, its state, event).
//!
//! A handler is a pure function of the actor, its state and the event (the style every actor
//! of paxchain keeps: no clock, socket or randomness in protocol code). The search, though,
//! calls it once per state in which the event can happen, and most of those states differ
//! only in the *other* actors: on the default scenario 29,285 deliveries are 456 distinct
//! (receiver, receiver state, sender, message) quadruples, and on second-round 1.85 million
//! are 2,414. So [`crate::delta`] asks this memo for a step's outcome, the receiver's new
//! state (if it changed) and its commands, and the handler runs only on a miss.
//!
//! 1. **The key is the whole input**, compared by value: the actor's index, its state, and
//!    the message with its sender (or the timer). Actor states are shared `Arc`s that carry
//!    their hash ([`crate::hashed`]), and `Arc`'s equality tries the pointer first, so a hit
//!    costs hashing the message and, usually, one pointer comparison. Nothing is trusted to
//!    a hash alone. The table is asked with the parts borrowed (hashbrown's `Equivalent`),
//!    so a hit copies nothing; the owned key is made only on a miss.
//! 2. **The value is what the handler gave**: the new state as one shared `Arc`, so every
//!    successor that takes the same step shares it, and the commands as the handler emitted
//!    them, in order. For a timeout, also stateright's verdict that the step is a no-op,
//!    which reads whether the handler touched the state at all.
//! 3. **One memo per model, kept by each thread.** A thread's table holds the steps of one
//!    model at a time (a clone of the model is the same model): asked for another model's,
//!    it starts again empty, so it never answers for another configuration's actors (a
//!    seeded bug changes the handlers, and is another model). Each search thread has its own
//!    table: no lock and no shared cache line, which measured faster on two threads than
//!    one shared map, for a few thousand steps computed twice.
//! 4. **Bounded**: past [`CAPACITY`] entries a table is emptied and refilled. The memo only
//!    saves work, so forgetting is always safe.
//!
//! model/tests/delta.rs compares every delta, in every reachable state of its
//! configurations, with stateright's own step (which runs the handler itself), so a memo
//! that answered wrongly would fail there.

use crate::node::{Node, NodeState};
use hashbrown::{Equivalent, HashMap};
use paxchain::{Msg, Timer};
use stateright::actor::{is_no_op_with_timer, Actor, Id, Out};
use std::borrow::Cow;
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The most steps a thread keeps; then its table starts again empty. Several times what the
/// presets need (second-round has 2,414 distinct deliveries); an entry holds an event, the
/// commands and a new actor state, a few hundred bytes to a few kilobytes.
pub const CAPACITY: usize = 1 << 14;

/// One actor's event in one actor state: the handler's whole input.
#[derive(PartialEq, Eq)]
enum Event {
    Delivery {
        actor: Id,
        state: Arc<NodeState>,
        src: Id,
        msg: Msg,
    },
    Timeout {
        actor: Id,
        state: Arc<NodeState>,
        timer: Timer,
    },
}

/// An [`Event`] whose parts are borrowed: what a lookup is made with, so that a hit copies
/// nothing. An event hashes as its borrowed form does, so the two find the same entry.
#[derive(Hash)]
enum Borrowed<'a> {
    Delivery {
        actor: Id,
        state: &'a Arc<NodeState>,
        src: Id,
        msg: &'a Msg,
    },
    Timeout {
        actor: Id,
        state: &'a Arc<NodeState>,
        timer: &'a Timer,
    },
}

impl Event {
    fn borrowed(&self) -> Borrowed<'_> {
        match self {
            Event::Delivery {
                actor,
                state,
                src,
                msg,
            } => Borrowed::Delivery {
                actor: *actor,
                state,
                src: *src,
                msg,
            },
            Event::Timeout {
                actor,
                state,
                timer,
            } => Borrowed::Timeout {
                actor: *actor,
                state,
                timer,
            },
        }
    }
}

impl Hash for Event {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.borrowed().hash(h)
    }
}

impl Borrowed<'_> {
    fn owned(&self) -> Event {
        match *self {
            Borrowed::Delivery {
                actor,
                state,
                src,
                msg,
            } => Event::Delivery {
                actor,
                state: Arc::clone(state),
                src,
                msg: msg.clone(),
            },
            Borrowed::Timeout {
                actor,
                state,
                timer,
            } => Event::Timeout {
                actor,
                state: Arc::clone(state),
                timer: timer.clone(),
            },
        }
    }
}

impl Equivalent<Event> for Borrowed<'_> {
    fn equivalent(&self, key: &Event) -> bool {
        match (self, key) {
            (
                Borrowed::Delivery {
                    actor,
                    state,
                    src,
                    msg,
                },
                Event::Delivery {
                    actor: a,
                    state: s,
                    src: f,
                    msg: m,
                },
            ) => actor == a && *state == s && src == f && *msg == m,
            (
                Borrowed::Timeout {
                    actor,
                    state,
                    timer,
                },
                Event::Timeout {
                    actor: a,
                    state: s,
                    timer: t,
                },
            ) => actor == a && *state == s && *timer == t,
            _ => false,
        }
    }
}

/// What the handler did: the actor's new state if it changed it, its commands, and (for a
/// timeout) whether stateright takes the step for a no-op.
pub struct Step {
    pub state: Option<Arc<NodeState>>,
    pub out: Out<Node>,
    pub no_op: bool,
    /// Set once this thread has shown the step to the reductions' premise checks
    /// ([`crate::premises`]), so each distinct step is checked once per table.
    pub checked: AtomicBool,
    /// Set once this thread has recorded the delivered message as one reduction 4 took out
    /// of the network in this state ([`crate::premises`]).
    pub registered: AtomicBool,
}

/// The memo of one model's steps (see the module comment): the key to each thread's table.
#[derive(Clone, Debug)]
pub struct StepMemo {
    id: u64,
}

impl Default for StepMemo {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        StepMemo {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A thread's table, and the memo whose steps it holds.
type Table = (u64, HashMap<Event, Arc<Step>, ahash::RandomState>);

thread_local! {
    static STEPS: RefCell<Table> = RefCell::new((u64::MAX, HashMap::default()));
}

impl StepMemo {
    /// The outcome of delivering `msg` from `src` to actor `id` (`actor`), in `state`.
    pub fn delivery(
        &self,
        actor: &Node,
        id: Id,
        state: &Arc<NodeState>,
        src: Id,
        msg: &Msg,
    ) -> Arc<Step> {
        let event = Borrowed::Delivery {
            actor: id,
            state,
            src,
            msg,
        };
        self.get_or_run(event, || {
            let mut cow = Cow::Borrowed(&**state);
            let mut out = Out::new();
            actor.on_msg(id, &mut cow, src, msg.clone(), &mut out);
            step(cow, out, false)
        })
    }

    /// The outcome of `timer` firing at actor `id` (`actor`), in `state`.
    pub fn timeout(
        &self,
        actor: &Node,
        id: Id,
        state: &Arc<NodeState>,
        timer: &Timer,
    ) -> Arc<Step> {
        let event = Borrowed::Timeout {
            actor: id,
            state,
            timer,
        };
        self.get_or_run(event, || {
            let mut cow = Cow::Borrowed(&**state);
            let mut out = Out::new();
            actor.on_timeout(id, &mut cow, timer, &mut out);
            let no_op = is_no_op_with_timer(&cow, &out, timer);
            step(cow, out, no_op)
        })
    }

    fn get_or_run(&self, event: Borrowed, run: impl FnOnce() -> Step) -> Arc<Step> {
        STEPS.with(|cell| {
            let mut memo = cell.borrow_mut();
            let (id, steps) = &mut *memo;
            if *id != self.id || steps.len() >= CAPACITY {
                *id = self.id;
                steps.clear();
            }
            if let Some(step) = steps.get(&event) {
                return Arc::clone(step);
            }
            let step = Arc::new(run());
            steps.insert(event.owned(), Arc::clone(&step));
            step
        })
    }
}

fn step(state: Cow<NodeState>, out: Out<Node>, no_op: bool) -> Step {
    Step {
        state: match state {
            Cow::Owned(s) => Some(Arc::new(s)),
            Cow::Borrowed(_) => None,
        },
        out,
        no_op,
        checked: AtomicBool::new(false),
        registered: AtomicBool::new(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, scenarios, BankState};
    use stateright::actor::Envelope;
    use stateright::Model;

    /// The default scenario's initial state and one message in flight in it.
    fn start() -> (crate::BankModel, BankState, Envelope<Msg>) {
        let model = build(&scenarios::by_name("default").expect("a preset").config);
        let state = model.init_states().remove(0);
        let env = crate::bank_model::in_flight(&state.network)
            .next()
            .expect("the clients submit at once")
            .to_cloned_msg();
        (model, state, env)
    }

    fn deliver(
        memo: &StepMemo,
        model: &crate::BankModel,
        s: &BankState,
        e: &Envelope<Msg>,
    ) -> Arc<Step> {
        let i = usize::from(e.dst);
        memo.delivery(&model.actors[i], e.dst, &s.actor_states[i], e.src, &e.msg)
    }

    #[test]
    fn a_step_is_what_its_handler_does() {
        let (model, s, env) = start();
        let step = deliver(&model.steps, &model, &s, &env);
        let i = usize::from(env.dst);
        let mut cow = Cow::Borrowed(&*s.actor_states[i]);
        let mut out = Out::new();
        model.actors[i].on_msg(env.dst, &mut cow, env.src, env.msg.clone(), &mut out);
        let Cow::Owned(changed) = cow else {
            panic!("a submit changes its server")
        };
        assert_eq!(step.state.as_deref(), Some(&changed));
        assert_eq!(format!("{:?}", step.out), format!("{out:?}"));
        assert!(!step.out.is_empty(), "a submit is answered or forwarded");
        assert!(!step.no_op);
    }

    #[test]
    fn a_step_runs_once_per_memo() {
        let (model, s, env) = start();
        let first = deliver(&model.steps, &model, &s, &env);
        let again = deliver(&model.steps, &model, &s, &env);
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second delivery is the memo's"
        );
        // A clone of the model shares its memo; another memo (another model) runs again.
        assert!(Arc::ptr_eq(
            &first,
            &deliver(&model.clone().steps, &model, &s, &env)
        ));
        let other = StepMemo::default();
        let fresh = deliver(&other, &model, &s, &env);
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(first.state, fresh.state);
        // Back on the first memo: this thread's steps are another model's now, so it runs
        // again rather than answering with them.
        assert!(!Arc::ptr_eq(
            &first,
            &deliver(&model.steps, &model, &s, &env)
        ));
    }

    /// A full table starts again empty: bounded memory, and the steps are computed again.
    #[test]
    fn a_full_table_starts_again() {
        let (model, s, env) = start();
        let from = |k: usize| Envelope {
            src: Id::from(1_000 + k),
            ..env.clone()
        };
        let first = deliver(&model.steps, &model, &s, &env);
        for k in 0..CAPACITY - 2 {
            deliver(&model.steps, &model, &s, &from(k));
        }
        let again = deliver(&model.steps, &model, &s, &env);
        assert!(
            Arc::ptr_eq(&first, &again),
            "one entry short of full, still kept"
        );
        deliver(&model.steps, &model, &s, &from(CAPACITY));
        let after = deliver(&model.steps, &model, &s, &env);
        assert!(!Arc::ptr_eq(&first, &after), "a full table was emptied");
    }

    #[test]
    fn a_step_is_keyed_by_its_whole_input() {
        let (model, s, env) = start();
        let first = deliver(&model.steps, &model, &s, &env);
        let from_elsewhere = Envelope {
            src: Id::from((usize::from(env.src) + 1) % model.actors.len()),
            ..env.clone()
        };
        assert!(!Arc::ptr_eq(
            &first,
            &deliver(&model.steps, &model, &s, &from_elsewhere)
        ));
        // The same receiver state in another `Arc` is the same input.
        let mut copy = s.clone();
        let i = usize::from(env.dst);
        copy.actor_states[i] = Arc::new((*s.actor_states[i]).clone());
        assert!(Arc::ptr_eq(
            &first,
            &deliver(&model.steps, &model, &copy, &env)
        ));
    }
}
