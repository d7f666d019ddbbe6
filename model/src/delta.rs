//! The delta of one step of one actor: a delivery or a timeout, on any of the three
//! networks, decided once, before any state is built.
//!
//! On the duplicating network most deliveries lead nowhere: a message stays in flight after
//! it is delivered, so every message can be delivered in every state, and most redeliveries
//! leave the receiver as it was and answer with a reply already in flight (or one that
//! reduction 4 takes out at once). stateright's `ActorModel` builds the whole successor for
//! each of them (a copy of every message in flight) before reduction 8 finds that it equals
//! the state it came from: on the default scenario, half of all actions.
//!
//! [`delivery`] takes what the receiver's handler does (from [`crate::memo`], which runs each
//! handler once per receiver state and message) and looks at it before building anything:
//!
//! 1. The receiver is down: nothing is delivered (stateright: the same).
//! 2. Its state is unchanged and every command is a send of a message that is already in
//!    flight or that reduction 4 removes, none of which the history records anew: the step
//!    goes back to where it came from, and reduction 8 leaves it out.
//! 3. Otherwise the successor is built from the handler's output, as stateright's
//!    `process_commands` would: the new actor state, each send recorded by the history and
//!    added to the network, timers set and cancelled, storage saved. The delivered message
//!    stays in flight. stateright also marks it as the last delivered, which reduction 1
//!    clears at once, so it is never marked.
//! 4. Reduction 4 then looks only at the messages whose verdict can have changed: a message
//!    just sent that its receiver ignores for ever is not put in, and if the receiver's state
//!    changed, the messages to it are tested again. Every other message was kept by the same
//!    test in the state this one came from (which is canonical), for the same receiver
//!    state. (A message sent again that was already in flight was kept then, by the same
//!    test, unless its receiver is the one that changed, whose messages are all tested.)
//!
//! 5. All of this is recorded as a [`Delta`] of the state it starts from, before anything is
//!    built. The search fingerprints the next state from the delta (`fingerprint::Parts`)
//!    and builds it ([`Delta::apply`]) only if that fingerprint is new.
//! 6. A timeout on this network changes one actor as a delivery does, so it is decided the
//!    same way ([`timeout`]), after stateright's own rules for a timer: no step if
//!    the handler only sets the timer again, and the fired timer cancelled first.
//! 7. On FIFO links the same holds, except that a delivery takes its message out of its
//!    flow, so it never leads back, and what changes in the network is a few flows: the
//!    delta holds their new contents (an empty flow is removed, as stateright removes it).
//! 8. On the network that neither duplicates nor orders (a multiset), a delivery takes one
//!    copy of its message out, and what changes is the number of copies of a few messages:
//!    the delta holds them (0 is gone). A delivery that leaves the receiver as it was and
//!    sends nothing is no step at all, the message staying in flight: stateright's rule.
//!
//! [`of`] is the one place that says which steps take this path: `BankModel::next_state`
//! and the search's `expand` both ask it. model/tests/delta.rs checks, in every reachable
//! state of several configurations (with and without a seeded bug), that each delta gives
//! exactly the state that stateright's own step followed by the reductions gives, and the
//! fingerprint that state has.

use crate::bank_model::{dropped_as_ignored, Action, BankModel, BankState};
use crate::history::{self, History};
use crate::memo::Step;
use crate::node::NodeState;
use crate::premises::{Event, Seen};
use paxchain::{Msg, Storage, Timer};
use stateright::actor::{ActorModelAction, Command, Envelope, Id, Network, Out, Timers};
use stateright::util::{HashableHashMap, HashableHashSet};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What one step of one actor (a delivery or a timeout) changes in the state it comes from:
/// the actor's state, timers and storage, the history, and the messages put in and taken
/// out. [`Delta::apply`] builds the next state from it; `fingerprint::Parts::with` gives
/// that state's fingerprint without building it.
#[derive(Debug)]
pub struct Delta {
    /// The index of the actor that stepped.
    pub index: usize,
    pub state: Option<Arc<NodeState>>,
    pub history: Option<History>,
    pub timers: Option<Timers<Timer>>,
    pub storage: Option<Storage>,
    /// Messages not in flight before, each once.
    pub added: Vec<Envelope<Msg>>,
    /// Messages in flight before, to the actor, that it now ignores for ever (4. above).
    pub removed: Vec<Envelope<Msg>>,
    /// On FIFO links (instead of `added` and `removed`): the new contents of each flow that
    /// changed, by (source, destination); an empty one is gone.
    pub flows: BTreeMap<(Id, Id), VecDeque<Msg>>,
    /// On the network that neither duplicates nor orders (instead of `added` and `removed`):
    /// the new number of copies of each message whose number changed; 0 is gone.
    pub copies: Vec<(Envelope<Msg>, usize)>,
}

/// The delta of `action` in `last`, a canonical state, where deltas apply: deliveries and
/// timeouts, with the reductions on. `Ok(None)` when the step reaches nothing (the actor is
/// down, or the step leads back to `last`, or is a no-op); `Err` gives `action` back for
/// every other step, which is built whole.
pub fn of(model: &BankModel, last: &BankState, action: Action) -> Result<Option<Delta>, Action> {
    let applies = model.cfg.reduce;
    match action {
        ActorModelAction::Deliver { src, dst, msg } if applies => {
            Ok(delivery(model, last, src, dst, &msg))
        }
        ActorModelAction::Timeout(id, timer) if applies => Ok(timeout(model, last, id, &timer)),
        other => Err(other),
    }
}

/// The delta of delivering `msg` from `src` to `dst` (see [`of`]). On FIFO links the
/// delivered message leaves its flow (7. above), and on the network that neither duplicates
/// nor orders one copy of it leaves (8. above).
pub fn delivery(model: &BankModel, last: &BankState, src: Id, dst: Id, msg: &Msg) -> Option<Delta> {
    let index = usize::from(dst);
    if last.crashed[index] {
        return None;
    }
    let step = (model.steps).delivery(
        &model.actors[index],
        dst,
        &last.actor_states[index],
        src,
        msg,
    );
    show_premises(model, last, index, &step, &Event::Delivery { src, msg });
    let mut delta = Delta::new(index, step.state.clone(), None);
    match &last.network {
        Network::UnorderedDuplicating(set, _) => {
            if delta.state.is_none() && leads_back(model, last, set, dst, &step.out) {
                return None;
            }
        }
        Network::Ordered(queues) => {
            let mut flow = queues[&(src, dst)].clone();
            flow.pop_front();
            delta.flows.insert((src, dst), flow);
        }
        Network::UnorderedNonDuplicating(bag) => {
            // stateright's rule for a no-op on this network: no step, the message stays.
            if delta.state.is_none() && step.out.is_empty() {
                return None;
            }
            let env = Envelope {
                src,
                dst,
                msg: msg.clone(),
            };
            let copies = bag[&env] - 1;
            delta.copies.push((env, copies));
        }
    }
    finish(model, last, delta, &step.out)
}

/// The delta of a timeout of `timer` at actor `id` (see [`of`]): stateright's step (the
/// timer cancelled, then the handler's commands) with reductions 4 and 8, as [`delivery`]
/// does for a delivery. `None` when stateright's step is a no-op, or the step leads
/// back to `last`.
pub fn timeout(model: &BankModel, last: &BankState, id: Id, timer: &Timer) -> Option<Delta> {
    let index = usize::from(id);
    let step = (model.steps).timeout(&model.actors[index], id, &last.actor_states[index], timer);
    if step.no_op {
        return None;
    }
    show_premises(model, last, index, &step, &Event::Timeout(timer));
    let mut timers = last.timers_set[index].clone();
    timers.cancel(timer);
    let delta = Delta::new(index, step.state.clone(), Some(timers));
    finish(model, last, delta, &step.out)
}

/// Shows a step the first time this thread's memo gives it to the checks of the reductions'
/// premises ([`crate::premises`]): the step of the receiver, against every message taken
/// out on its way to it, and its symmetry; and counts the rules it fired
/// ([`crate::rules`]).
fn show_premises(model: &BankModel, last: &BankState, i: usize, step: &Step, event: &Event) {
    if step.checked.swap(true, Ordering::Relaxed) {
        return;
    }
    let before = &last.actor_states[i];
    let after = step.state.as_ref().unwrap_or(before);
    model
        .premises
        .stepped(&model.actors, Id::from(i), before, after);
    let rules = crate::rules::fired(&model.actors[i], before, event, after, &step.out);
    model.coverage.count(&rules);
    if model.symmetric != 0 {
        let (actors, mask) = (&model.actors, model.symmetric);
        let seen = Seen {
            actor: i,
            before,
            event,
            after,
            out: &step.out,
        };
        model.premises.check_symmetry(actors, mask, &seen);
    }
}

/// The delta of actor `delta.index`'s step, from what it changed already (its state, and
/// its timers or the network if they changed before its commands) and its commands.
fn finish(
    model: &BankModel,
    last: &BankState,
    mut delta: Delta,
    out: &Out<crate::Node>,
) -> Option<Delta> {
    let id = Id::from(delta.index);
    for c in out.iter() {
        delta.record(model, last, id, c);
    }
    // A message just sent was tested against the actor's new state already (`record`).
    if let Some(receiver) = delta.state.clone() {
        delta.retest_messages_to(model, last, id, &receiver);
    }
    // Reduction 8, for what `leads_back` does not catch.
    (!delta.changes_nothing(last)).then_some(delta)
}

/// Whether the step leads back (2. above): the receiver's state is unchanged, and every
/// command is a send of a message already in flight or one that reduction 4 removes, none
/// recorded anew by the history.
fn leads_back(
    model: &BankModel,
    last: &BankState,
    set: &HashableHashSet<Envelope<Msg>>,
    dst: Id,
    out: &Out<crate::Node>,
) -> bool {
    out.iter().all(|c| match c {
        Command::Send(to, m) => {
            let env = Envelope {
                src: dst,
                dst: *to,
                msg: m,
            };
            let receiver = &last.actor_states[usize::from(*to)];
            history::record_msg_out(&model.cfg, &last.history, env).is_none()
                && (dropped_as_ignored(model, receiver, dst, *to, m)
                    || set
                        .iter()
                        .any(|e| e.dst == *to && e.src == dst && e.msg == *m))
        }
        _ => false,
    })
}

impl Delta {
    fn new(index: usize, state: Option<Arc<NodeState>>, timers: Option<Timers<Timer>>) -> Delta {
        Delta {
            index,
            state,
            history: None,
            timers,
            storage: None,
            added: Vec::new(),
            removed: Vec::new(),
            flows: BTreeMap::new(),
            copies: Vec::new(),
        }
    }

    /// The number of copies of `env` in flight after this delta so far.
    fn copies_of(&self, bag: &HashableHashMap<Envelope<Msg>, usize>, env: &Envelope<Msg>) -> usize {
        (self.copies.iter().find(|(e, _)| e == env))
            .map_or_else(|| bag.get(env).copied().unwrap_or(0), |&(_, n)| n)
    }

    /// Sets the number of copies of `env` in flight to `n`.
    fn set_copies(&mut self, env: Envelope<Msg>, n: usize) {
        match self.copies.iter_mut().find(|(e, _)| *e == env) {
            Some(entry) => entry.1 = n,
            None => self.copies.push((env, n)),
        }
    }

    /// Records one command of the receiver, as stateright's `process_commands` applies it,
    /// except that a message reduction 4 would take out at once is not put in (4. above).
    fn record(
        &mut self,
        model: &BankModel,
        last: &BankState,
        id: Id,
        c: &Command<Msg, Timer, (), Storage>,
    ) {
        match c {
            &Command::Send(to, ref m) => {
                let env = Envelope {
                    src: id,
                    dst: to,
                    msg: m,
                };
                let history = self.history.as_ref().unwrap_or(&last.history);
                if let Some(h) = history::record_msg_out(&model.cfg, history, env) {
                    self.history = Some(h);
                }
                let receiver = match &self.state {
                    Some(s) if usize::from(to) == self.index => s,
                    _ => &last.actor_states[usize::from(to)],
                };
                if !dropped_as_ignored(model, receiver, id, to, m) {
                    self.send(
                        last,
                        Envelope {
                            src: id,
                            dst: to,
                            msg: m.clone(),
                        },
                    );
                }
            }
            Command::SetTimer(t, _) => {
                self.timers_mut(last).set(t.clone());
            }
            Command::CancelTimer(t) => {
                self.timers_mut(last).cancel(t);
            }
            Command::Save(storage) => self.storage = Some(storage.clone()),
            Command::ChooseRandom(..) => unreachable!("no model actor makes random choices"),
        }
    }

    /// Puts `env` in flight, as stateright's network would.
    fn send(&mut self, last: &BankState, env: Envelope<Msg>) {
        match &last.network {
            Network::UnorderedDuplicating(set, _) => {
                if !set.contains(&env) && !self.added.contains(&env) {
                    self.added.push(env);
                }
            }
            Network::Ordered(queues) => {
                let key = (env.src, env.dst);
                let flow = (self.flows.entry(key))
                    .or_insert_with(|| queues.get(&key).cloned().unwrap_or_default());
                flow.push_back(env.msg);
            }
            Network::UnorderedNonDuplicating(bag) => {
                let n = self.copies_of(bag, &env);
                self.set_copies(env, n + 1);
            }
        }
    }

    /// Reduction 4 for the messages to `id`, whose state changed to `receiver` (4. above).
    fn retest_messages_to(
        &mut self,
        model: &BankModel,
        last: &BankState,
        id: Id,
        receiver: &Arc<NodeState>,
    ) {
        let ignored = |src: Id, msg: &Msg| dropped_as_ignored(model, receiver, src, id, msg);
        match &last.network {
            Network::UnorderedDuplicating(set, _) => {
                self.removed = (set.iter())
                    .filter(|e| e.dst == id && ignored(e.src, &e.msg))
                    .cloned()
                    .collect();
            }
            Network::Ordered(queues) => {
                for (&(src, dst), flow) in queues.iter().filter(|((_, dst), _)| *dst == id) {
                    let flow = self.flows.get(&(src, dst)).unwrap_or(flow);
                    if flow.iter().any(|m| ignored(src, m)) {
                        let kept = flow.iter().filter(|m| !ignored(src, m)).cloned().collect();
                        self.flows.insert((src, dst), kept);
                    }
                }
            }
            Network::UnorderedNonDuplicating(bag) => {
                let gone: Vec<Envelope<Msg>> = (bag.keys())
                    .chain(self.copies.iter().map(|(e, _)| e))
                    .filter(|e| e.dst == id && ignored(e.src, &e.msg))
                    .cloned()
                    .collect();
                for env in gone {
                    self.set_copies(env, 0);
                }
            }
        }
    }

    fn timers_mut(&mut self, last: &BankState) -> &mut Timers<Timer> {
        let index = self.index;
        self.timers
            .get_or_insert_with(|| last.timers_set[index].clone())
    }

    /// Whether the state this delta makes equals `last`.
    fn changes_nothing(&self, last: &BankState) -> bool {
        let i = self.index;
        self.state
            .as_ref()
            .is_none_or(|s| *s == last.actor_states[i])
            && self.history.is_none()
            && self
                .timers
                .as_ref()
                .is_none_or(|t| *t == last.timers_set[i])
            && (self.storage.as_ref()).is_none_or(|s| last.actor_storages[i].as_ref() == Some(s))
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.flows.iter().all(|(key, flow)| match &last.network {
                Network::Ordered(queues) => queues.get(key).map_or(flow.is_empty(), |q| q == flow),
                _ => unreachable!("flows are of FIFO links"),
            })
            && self.copies.iter().all(|(env, n)| match &last.network {
                Network::UnorderedNonDuplicating(bag) => bag.get(env).copied().unwrap_or(0) == *n,
                _ => unreachable!("copies are of the network that neither duplicates nor orders"),
            })
    }

    /// The next state: `last` with this delta applied.
    pub fn apply(self, last: &BankState) -> BankState {
        let mut next = last.clone();
        let i = self.index;
        if let Some(s) = self.state {
            next.actor_states[i] = s;
        }
        if let Some(h) = self.history {
            next.history = h;
        }
        if let Some(t) = self.timers {
            next.timers_set[i] = t;
        }
        if let Some(s) = self.storage {
            next.actor_storages[i] = Some(s);
        }
        match &mut next.network {
            Network::UnorderedDuplicating(set, _) => {
                for e in &self.removed {
                    set.remove(e);
                }
                set.extend(self.added);
            }
            Network::Ordered(queues) => {
                for (key, flow) in self.flows {
                    if flow.is_empty() {
                        queues.remove(&key);
                    } else {
                        queues.insert(key, flow);
                    }
                }
            }
            Network::UnorderedNonDuplicating(bag) => {
                for (env, n) in self.copies {
                    if n == 0 {
                        bag.remove(&env);
                    } else {
                        bag.insert(env, n);
                    }
                }
            }
        }
        next
    }
}
