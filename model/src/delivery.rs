//! One delivery on the duplicating network, decided once.
//!
//! On the duplicating network most deliveries lead nowhere: a message stays in flight after
//! it is delivered, so every message can be delivered in every state, and most redeliveries
//! leave the receiver as it was and answer with a reply already in flight (or one that
//! reduction 4 takes out at once). stateright's `ActorModel` builds the whole successor for
//! each of them (a copy of every message in flight) before reduction 8 finds that it equals
//! the state it came from: on the default scenario, half of all actions.
//!
//! [`deliver`] runs the receiver's handler once and looks at what it did before building
//! anything:
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
//! model/tests/delivery.rs checks, in every reachable state of several configurations (with
//! and without a seeded bug), that each delivery gives exactly the state that stateright's
//! own step followed by the reductions gives.

use crate::bank_model::{dropped_as_ignored, BankModel, BankState};
use crate::history;
use paxchain::Msg;
use stateright::actor::{Actor, Command, Envelope, Id, Network, Out};
use std::borrow::Cow;
use std::sync::Arc;

/// Delivers `msg` from `src` to `dst` in `last`, a canonical state on the duplicating
/// network, with the reductions on: the canonical successor, or `None` when the step reaches
/// nothing (the receiver is down, or the step leads back).
pub fn deliver(
    model: &BankModel,
    last: &BankState,
    src: Id,
    dst: Id,
    msg: Msg,
) -> Option<BankState> {
    let index = usize::from(dst);
    let Network::UnorderedDuplicating(set, _) = &last.network else {
        unreachable!("deliver is called on the duplicating network only")
    };
    if last.crashed[index] {
        return None;
    }
    let mut state = Cow::Borrowed(&*last.actor_states[index]);
    let mut out = Out::new();
    model.actors[index].on_msg(dst, &mut state, src, msg, &mut out);
    let changed = matches!(state, Cow::Owned(_));
    let leads_back = !changed
        && out.iter().all(|c| match c {
            Command::Send(to, m) => {
                let env = Envelope {
                    src: dst,
                    dst: *to,
                    msg: m,
                };
                history::record_msg_out(&model.cfg, &last.history, env).is_none()
                    && (dropped_as_ignored(model, &last.actor_states, dst, *to, m)
                        || set
                            .iter()
                            .any(|e| e.dst == *to && e.src == dst && e.msg == *m))
            }
            _ => false,
        });
    if leads_back {
        return None;
    }
    let mut next = last.clone();
    if let Cow::Owned(s) = state {
        next.actor_states[index] = Arc::new(s);
    }
    for c in out {
        apply(model, &mut next, dst, c);
    }
    if changed {
        drop_ignored_by(model, &mut next, dst);
    }
    if next == *last {
        return None; // reduction 8, for what 2. does not catch
    }
    Some(next)
}

/// Applies one command of actor `id` to `next`, as stateright's `process_commands` does,
/// except that a message reduction 4 would take out at once is not put in (4. above).
fn apply(
    model: &BankModel,
    next: &mut BankState,
    id: Id,
    c: Command<Msg, paxchain::Timer, (), paxchain::Storage>,
) {
    let index = usize::from(id);
    match c {
        Command::Send(to, m) => {
            let env = Envelope {
                src: id,
                dst: to,
                msg: &m,
            };
            if let Some(h) = history::record_msg_out(&model.cfg, &next.history, env) {
                next.history = h;
            }
            if dropped_as_ignored(model, &next.actor_states, id, to, &m) {
                return;
            }
            let Network::UnorderedDuplicating(set, _) = &mut next.network else {
                unreachable!("deliver is called on the duplicating network only")
            };
            set.insert(Envelope {
                src: id,
                dst: to,
                msg: m,
            });
        }
        Command::SetTimer(t, _) => {
            next.timers_set[index].set(t);
        }
        Command::CancelTimer(t) => {
            next.timers_set[index].cancel(&t);
        }
        Command::Save(storage) => next.actor_storages[index] = Some(storage),
        Command::ChooseRandom(..) => unreachable!("no model actor makes random choices"),
    }
}

/// Reduction 4 for the messages to `dst`, whose state changed (4. above).
fn drop_ignored_by(model: &BankModel, next: &mut BankState, dst: Id) {
    let states = &next.actor_states;
    let Network::UnorderedDuplicating(set, _) = &mut next.network else {
        unreachable!("deliver is called on the duplicating network only")
    };
    set.retain(|e| e.dst != dst || !dropped_as_ignored(model, states, e.src, e.dst, &e.msg));
}
