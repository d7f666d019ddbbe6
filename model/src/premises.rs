//! The reductions' premises about the handlers, decided by the handlers themselves and
//! checked as the search goes.
//!
//! Three reductions of [`crate::bank_model`] rest on what the actors' handlers do, which is
//! exactly what the checker is there to find out. None of them may take that on trust: a
//! premise that only holds for correct handlers hides a bug exactly where it lives. So each
//! is decided by running the real handlers, state by state, and whatever cannot be decided
//! in one state is checked on every step the search takes:
//!
//! 1. **Reduction 4, messages ignored for good.** A rule ([`IgnoreRule`]) says which messages
//!    an actor ignores now and in every state it can reach. A message leaves the network
//!    only if, besides, the real handler (through the memo of steps) changes nothing and
//!    sends nothing on it in the receiver's state. Where the handler acts, the message
//!    stays: the search stays sound there and explores what the handler really does, and the
//!    disagreement is counted ([`Premises::kept`]).
//! 2. The "for good" half cannot be seen in one state. Every message taken out is recorded
//!    here, and so is every distinct step of every actor the search takes (deliveries and
//!    timeouts from the memo, crashes and recoveries from stateright's own step). For every
//!    pair of a step `S → S'` of an actor and a message `m` taken out on its way to that
//!    actor: if the rule judged `m` ignored in `S`, it must still judge it so in `S'`, and
//!    the real handler must do nothing with `m` in `S'`. Each pair is checked once, whichever
//!    of the two is seen first. By induction along any path, a message taken out could only
//!    ever have been delivered as a no-op; a pair that fails is a [`Failure`], after which
//!    the search's "holds" is not to be trusted (its counterexamples still are: a reduction
//!    only ever takes behaviours away).
//! 3. **Reduction 5, symmetry.** Renaming the passive servers maps runs to runs only if every
//!    step commutes with the renaming. Every distinct step the search takes is run again with
//!    each swap of two passive servers applied to its input, and must give the swapped
//!    output: the swapped state, the same commands with swapped destinations, and no
//!    proposal the history would record under a passive server's name.
//! 4. **Reduction 6, no crash of a server whose whole state is durable**, is decided in each
//!    state alone ([`crash_is_a_pause`]): a crash is left out only where the real `on_start`
//!    rebuilds exactly the memory from the storage (but for the restart mark), sends nothing
//!    and sets no timer, and no timer is armed. Nothing needs checking later.
//!
//! Everything here is shared by every clone of a model and every search thread. Steps reach
//! it only when a thread's memo computes them anew, and messages only the first time a
//! thread takes them out in a given receiver state, so the cost grows with the distinct
//! steps (thousands), not with the states searched (millions).

use crate::node::{Node, NodeState};
use crate::symmetry::rename_voters;
use paxchain::{Msg, PeerMsg, ServerState, Storage, Timer};
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Reduction 4's rule: whether the actor, in this state, ignores this message from this
/// sender now and for good. `Node::ignores_forever` unless a test puts a mutant in.
pub type IgnoreRule = fn(&Node, &NodeState, Id, &Msg) -> bool;

/// How many failures of each reduction are kept whole; the rest are counted.
const KEPT_FAILURES: usize = 3;

/// A premise that the handlers broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The reduction, by its number in `crate::bank_model`.
    pub reduction: u8,
    /// What happened, for people: the actor, the states, the message, what the handler did.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reduction {} ({}): {}",
            self.reduction,
            name(self.reduction),
            self.what
        )
    }
}

/// A reduction's name, as spec/properties.md ("Reductions") lists it.
pub fn name(reduction: u8) -> &'static str {
    match reduction {
        4 => "messages ignored for good",
        5 => "symmetry among passive servers",
        6 => "no crash of a server whose whole state is durable",
        _ => "?",
    }
}

/// The steps and the taken-out messages of one actor, each once.
#[derive(Default)]
struct Ledger {
    steps: Vec<(Arc<NodeState>, Arc<NodeState>)>,
    seen_steps: HashSet<(Arc<NodeState>, Arc<NodeState>)>,
    removed: Vec<(Id, Msg)>,
    seen_removed: HashSet<(Id, Msg)>,
}

#[derive(Default)]
struct Shared {
    ledgers: Vec<Mutex<Ledger>>,
    failures: Mutex<(Vec<Failure>, u64)>,
    kept: AtomicU64,
    first_kept: Mutex<Option<String>>,
}

/// The premise checks of one model (see the module comment); clones share them.
#[derive(Clone)]
pub struct Premises {
    shared: Arc<Shared>,
    /// Reduction 4's rule.
    pub rule: IgnoreRule,
}

impl fmt::Debug for Premises {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Premises({} failures)", self.failure_count())
    }
}

impl Premises {
    /// Fresh checks for a model of `actors` actors.
    pub fn new(actors: usize) -> Premises {
        Premises {
            shared: Arc::new(Shared {
                ledgers: (0..actors).map(|_| Mutex::default()).collect(),
                ..Shared::default()
            }),
            rule: Node::ignores_forever,
        }
    }

    /// The failures kept, first found first (at most a few per reduction).
    pub fn failures(&self) -> Vec<Failure> {
        self.lock_failures().0.clone()
    }

    /// How many premise checks failed in all.
    pub fn failure_count(&self) -> u64 {
        self.lock_failures().1
    }

    /// How many times reduction 4's rule called a message ignored that the handler acts on,
    /// so that it stayed in the network; and the first such message, described.
    pub fn kept(&self) -> (u64, Option<String>) {
        let first = self
            .shared
            .first_kept
            .lock()
            .expect("never poisoned")
            .clone();
        (self.shared.kept.load(Ordering::Relaxed), first)
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, (Vec<Failure>, u64)> {
        // A failure may be recorded by a thread that then panics: never poisoned for good.
        self.shared
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, reduction: u8, what: impl FnOnce() -> String) {
        let mut failures = self.lock_failures();
        failures.1 += 1;
        let of_this = failures
            .0
            .iter()
            .filter(|f| f.reduction == reduction)
            .count();
        if of_this < KEPT_FAILURES {
            let what = what();
            failures.0.push(Failure { reduction, what });
        }
    }

    /// Records that the rule judged `msg` ignored while the handler acts on it (1. above).
    pub fn record_kept(&self, describe: impl FnOnce() -> String) {
        if self.shared.kept.fetch_add(1, Ordering::Relaxed) == 0 {
            *self.shared.first_kept.lock().expect("never poisoned") = Some(describe());
        }
    }

    /// Records that reduction 4 took `msg` from `src` out on its way to `actors[dst]`, and
    /// checks it against every step of that actor seen so far (2. above).
    pub fn removed(&self, actors: &[Node], dst: Id, src: Id, msg: &Msg) {
        let i = usize::from(dst);
        let mut ledger = self.shared.ledgers[i].lock().expect("no check panics");
        if !ledger.seen_removed.insert((src, msg.clone())) {
            return;
        }
        ledger.removed.push((src, msg.clone()));
        for (before, after) in &ledger.steps {
            self.check_pair(&actors[i], dst, before, after, src, msg);
        }
    }

    /// Records a step `before → after` of `actors[id]`, and checks it against every message
    /// taken out on its way to that actor so far (2. above). Whether the step was new.
    pub fn stepped(
        &self,
        actors: &[Node],
        id: Id,
        before: &Arc<NodeState>,
        after: &Arc<NodeState>,
    ) -> bool {
        if before == after {
            return false;
        }
        let i = usize::from(id);
        let mut ledger = self.shared.ledgers[i].lock().expect("no check panics");
        if !ledger
            .seen_steps
            .insert((Arc::clone(before), Arc::clone(after)))
        {
            return false;
        }
        ledger.steps.push((Arc::clone(before), Arc::clone(after)));
        for (src, msg) in &ledger.removed {
            self.check_pair(&actors[i], id, before, after, *src, msg);
        }
        true
    }

    fn check_pair(
        &self,
        actor: &Node,
        id: Id,
        before: &NodeState,
        after: &NodeState,
        src: Id,
        msg: &Msg,
    ) {
        if !(self.rule)(actor, before, src, msg) {
            return;
        }
        let show = || {
            format!(
                "{} judged {msg:?} from {src:?} ignored for good in {before:?}",
                actor.name()
            )
        };
        if !(self.rule)(actor, after, src, msg) {
            self.fail(4, || {
                format!("{}, but no longer after a step to {after:?}", show())
            });
        } else if let Some(acts) = acts_on(actor, id, after, src, msg) {
            self.fail(4, || {
                format!(
                    "{}, and still after a step to {after:?}, where the handler {acts}",
                    show()
                )
            });
        }
    }

    /// Checks that `step` commutes with every swap of two passive servers (`mask`) (3.
    /// above).
    pub fn check_symmetry(&self, actors: &[Node], mask: u32, step: &Seen) {
        let Seen {
            actor: i,
            before,
            event,
            after,
            out,
        } = *step;
        let passive: Vec<usize> = (0..actors.len())
            .filter(|&p| p < 32 && mask & (1 << p) != 0)
            .collect();
        if mask & (1 << i) != 0 {
            if let Some(m) = out.iter().find_map(|c| proposal(c)) {
                self.fail(5, || {
                    format!(
                        "passive server {} sent {m:?}, which the history records under its name",
                        actors[i].name()
                    )
                });
            }
        }
        for pair in passive.windows(2) {
            let swap: Vec<usize> = (0..actors.len())
                .map(|a| match a {
                    _ if a == pair[0] => pair[1],
                    _ if a == pair[1] => pair[0],
                    _ => a,
                })
                .collect();
            let (state, got) = step.swapped(actors, &swap);
            let want = rename_voters(after, &swap);
            if state != *want || !same_commands(&got, out, &swap) {
                self.fail(5, || {
                    format!(
                        "{} on {event:?} in {before:?} gave {after:?} and {out:?}; with {} and \
                         {} swapped, {} gave {state:?} and {got:?}",
                        actors[i].name(),
                        actors[pair[0]].name(),
                        actors[pair[1]].name(),
                        actors[swap[i]].name(),
                    )
                });
            }
        }
    }
}

impl Seen<'_> {
    /// The step run again with the actors renamed by `swap` (a leader's voters, the actor
    /// that steps and the sender): the state it gives and its commands.
    fn swapped(&self, actors: &[Node], swap: &[usize]) -> (NodeState, Out<Node>) {
        let j = swap[self.actor];
        let id = Id::from(j);
        let renamed = rename_voters(self.before, swap);
        let mut state = Cow::Borrowed(&*renamed);
        let mut got = Out::new();
        match self.event {
            Event::Delivery { src, msg } => {
                let src = Id::from(swap[usize::from(*src)]);
                actors[j].on_msg(id, &mut state, src, (*msg).clone(), &mut got);
            }
            Event::Timeout(timer) => actors[j].on_timeout(id, &mut state, timer, &mut got),
            Event::Start(storage) => state = Cow::Owned(actors[j].on_start(id, storage, &mut got)),
        }
        (state.into_owned(), got)
    }
}

/// One step of one actor the search took, as the symmetry check replays it: the actor's
/// index, its state before, the event, its state after and its commands.
#[derive(Clone, Copy)]
pub struct Seen<'a> {
    pub actor: usize,
    pub before: &'a Arc<NodeState>,
    pub event: &'a Event<'a>,
    pub after: &'a Arc<NodeState>,
    pub out: &'a Out<Node>,
}

/// An actor's event, as the symmetry check replays it.
#[derive(Debug)]
pub enum Event<'a> {
    Delivery {
        src: Id,
        msg: &'a Msg,
    },
    Timeout(&'a Timer),
    /// A recovery from this storage.
    Start(&'a Option<Storage>),
}

/// What the handler does with `msg` in `st`, if anything: `None` if it changes nothing and
/// sends nothing (a no-op, as reduction 4 needs).
pub fn acts_on(actor: &Node, id: Id, st: &NodeState, src: Id, msg: &Msg) -> Option<String> {
    let mut state = Cow::Borrowed(st);
    let mut out = Out::new();
    actor.on_msg(id, &mut state, src, msg.clone(), &mut out);
    match (&state, out.is_empty()) {
        (Cow::Borrowed(_), true) => None,
        (Cow::Borrowed(_), false) => Some(format!("sends {out:?}")),
        (Cow::Owned(s), _) => Some(format!("changes the state to {s:?} and emits {out:?}")),
    }
}

/// A send that the history records under its sender's name (a proposal or a commit).
fn proposal(c: &Command<Msg, Timer, (), Storage>) -> Option<&Msg> {
    match c {
        Command::Send(_, m @ Msg::Peer(PeerMsg::Accept { .. } | PeerMsg::Commit { .. })) => Some(m),
        _ => None,
    }
}

/// Whether `got` is `want` with every destination renamed by `swap`. Sends are compared
/// destination by destination, in order: no network orders messages to different
/// receivers, so the order in which a broadcast names them means nothing.
fn same_commands(got: &Out<Node>, want: &Out<Node>, swap: &[usize]) -> bool {
    let rename = |i: &Id| Id::from(swap[usize::from(*i)]);
    let sends = |out: &Out<Node>, to: Id, renamed: bool| -> Vec<Msg> {
        (out.iter())
            .filter_map(|c| match c {
                Command::Send(d, m) if (if renamed { rename(d) } else { *d }) == to => {
                    Some(m.clone())
                }
                _ => None,
            })
            .collect()
    };
    let others = |out: &Out<Node>| -> Vec<String> {
        (out.iter())
            .filter(|c| !matches!(c, Command::Send(..)))
            .map(|c| format!("{c:?}"))
            .collect()
    };
    let destinations: HashSet<Id> = (got.iter())
        .filter_map(|c| match c {
            Command::Send(d, _) => Some(*d),
            _ => None,
        })
        .collect();
    got.len() == want.len()
        && others(got) == others(want)
        && destinations
            .iter()
            .all(|&d| sends(got, d, false) == sends(want, d, true))
}

/// Reduction 6's premise in state `s` for server `i` (4. above): a crash and recovery would
/// change nothing but its restart mark, so leaving the crash out is a pause, which the
/// network's delays already cover. Decided by the real `on_start`.
pub fn crash_is_a_pause(
    actor: &Node,
    i: usize,
    memory: &NodeState,
    storage: &Option<Storage>,
    timers_empty: bool,
) -> bool {
    let (Node::Server { actor: server, .. }, NodeState::Server(now)) = (actor, memory) else {
        return false;
    };
    let mut out = Out::new();
    let recovered: ServerState = server.on_start(Id::from(i), storage, &mut out);
    let recovered = ServerState {
        instrumentation: now.instrumentation.clone(),
        ..recovered
    };
    timers_empty && out.is_empty() && recovered == **now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, scenarios};
    use stateright::Model;

    /// A delivery to a passive server in five: the model, the step as the handler took it.
    fn passive_step() -> (crate::BankModel, crate::BankState, usize, Id, Msg) {
        let model = build(&scenarios::by_name("five").expect("a preset").config);
        let mut state = model.init_states().remove(0);
        // Deliver until a PREPARE is in flight to a passive server.
        for _ in 0..20 {
            let prepare = crate::bank_model::in_flight(&state.network)
                .find(|e| model.symmetric & (1 << usize::from(e.dst)) != 0)
                .map(|e| e.to_cloned_msg());
            if let Some(e) = prepare {
                return (model, state, usize::from(e.dst), e.src, e.msg);
            }
            let mut actions = Vec::new();
            model.actions(&state, &mut actions);
            let next = actions
                .into_iter()
                .find_map(|a| model.next_state(&state, a));
            state = next.expect("the first step of a round leads on");
        }
        panic!("no message to a passive server in 20 steps")
    }

    #[test]
    fn a_step_that_treats_passive_servers_alike_passes_and_one_that_does_not_fails() {
        let (model, state, i, src, msg) = passive_step();
        let before = &state.actor_states[i];
        let mut cow = Cow::Borrowed(&**before);
        let mut out = Out::new();
        model.actors[i].on_msg(Id::from(i), &mut cow, src, msg.clone(), &mut out);
        let after = Arc::new(cow.into_owned());
        let event = Event::Delivery { src, msg: &msg };
        let seen = |out| Seen {
            actor: i,
            before,
            event: &event,
            after: &after,
            out,
        };
        let premises = Premises::new(model.actors.len());
        premises.check_symmetry(&model.actors, model.symmetric, &seen(&out));
        assert_eq!(premises.failure_count(), 0, "{:?}", premises.failures());
        assert!(!out.is_empty(), "a passive server answers a PREPARE");
        // The same step, had it answered another passive server instead of the sender.
        let other = (0..model.actors.len())
            .find(|&p| p != i && model.symmetric & (1 << p) != 0)
            .expect("five has three passive servers");
        let mut astray = Out::new();
        for c in out.iter() {
            match c {
                Command::Send(_, m) => astray.send(Id::from(other), m.clone()),
                Command::Save(s) => astray.save(s.clone()),
                _ => {}
            }
        }
        premises.check_symmetry(&model.actors, model.symmetric, &seen(&astray));
        let failures = premises.failures();
        assert!(!failures.is_empty());
        assert_eq!(failures[0].reduction, 5);
        assert!(failures[0].what.contains("swapped"), "{}", failures[0]);
    }
}
