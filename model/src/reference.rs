//! The yardstick: stateright's own step, with the reductions applied by running the handlers
//! directly. The search builds states faster than this, through the memo of steps
//! ([`crate::memo`]), the deltas ([`crate::delta`]) and its fingerprints; each of those only
//! saves work, so each must give the state this gives.
//!
//! [`confirm`] replays a discovery's steps both ways, side by side, and names the first step
//! at which they part and the part of the state that differs; the search calls it before it
//! accepts a discovery, and, with `--audit N`, on every Nth state it expands. States are
//! compared by equality and by their printed form, which shows every field: an `Eq` or
//! `Hash` written by hand that leaves a field out (as a block digest once left out the
//! ballot's `waited`, so that the memo answered for one chain with another's outcome) makes
//! two states equal that print apart.

use crate::bank_model::{canonicalize_with, Action, BankModel, BankState};
use crate::node::NodeState;
use crate::premises::acts_on;
use paxchain::Msg;
use stateright::actor::{Actor as _, Id};
use stateright::Model;
use std::sync::Arc;

/// stateright's own step from `last`, with the reductions, the handlers run afresh.
pub fn next_state(model: &BankModel, last: &BankState, action: Action) -> Option<BankState> {
    let mut next = model.inner.next_state(last, action)?;
    if model.cfg.reduce {
        canonicalize_with(model, &mut next, dropped_directly);
        if next == *last {
            return None;
        }
    }
    Some(next)
}

/// Reduction 4's test, the handler run afresh (no memo, and nothing recorded).
fn dropped_directly(model: &BankModel, st: &Arc<NodeState>, src: Id, dst: Id, msg: &Msg) -> bool {
    let actor = &model.actors[usize::from(dst)];
    (model.premises.rule)(actor, st, src, msg) && acts_on(actor, dst, st, src, msg).is_none()
}

/// The search's check of a discovery of property `property` (or, with `None`, of a state it
/// audits): the `actions` from initial state `init` lead, step for step, to the same states
/// through [`BankModel::next_state`] as through [`next_state`], and to `judged`.
pub fn confirm(
    model: &BankModel,
    init: usize,
    actions: &[Action],
    judged: &BankState,
    property: Option<usize>,
) -> Result<(), String> {
    let slow = side_by_side(model, init, actions)?;
    if let Some(diff) = difference(model, &slow, judged) {
        return Err(format!(
            "the state the search judged is not the one its steps lead to: {diff}"
        ));
    }
    let Some(i) = property else {
        return Ok(());
    };
    let p = &model.properties[i];
    if (p.condition)(model, &slow) != (p.condition)(model, judged) {
        return Err(format!(
            "\"{}\" judges the replayed state otherwise",
            p.name
        ));
    }
    Ok(())
}

/// Replays `actions` from the first initial state through [`next_state`]; `None` if one is
/// not among the actions of the state it is taken in, or leads nowhere.
pub fn replay(model: &BankModel, actions: &[Action]) -> Option<BankState> {
    let mut state = model.init_states().into_iter().next()?;
    let mut enabled = Vec::new();
    for action in actions {
        enabled.clear();
        model.actions(&state, &mut enabled);
        if !enabled.contains(action) {
            return None;
        }
        state = next_state(model, &state, action.clone())?;
    }
    Some(state)
}

/// Where replaying `actions` from the first initial state through the memo and deltas and
/// through stateright's own step first parts, if anywhere.
pub fn diagnose(model: &BankModel, actions: &[Action]) -> Option<String> {
    side_by_side(model, 0, actions).err()
}

/// Replays `actions` from initial state `init` both ways; the state they lead to, or where
/// the two part.
fn side_by_side(model: &BankModel, init: usize, actions: &[Action]) -> Result<BankState, String> {
    let start = (model.init_states().into_iter().nth(init)).ok_or("no such initial state")?;
    let (mut fast, mut slow) = (start.clone(), start);
    for (k, action) in actions.iter().enumerate() {
        let step = || format!("step {} ({})", k + 1, model.format_action(action));
        match (
            model.next_state(&fast, action.clone()),
            next_state(model, &slow, action.clone()),
        ) {
            (Some(f), Some(s)) => {
                if let Some(diff) = difference(model, &f, &s) {
                    return Err(format!(
                        "{}: {} build a state that stateright's own step does not: {diff}",
                        step(),
                        blame(model, &fast, action)
                    ));
                }
                (fast, slow) = (f, s);
            }
            (f, s) => {
                return Err(format!(
                    "{}: the memo of steps and the deltas {} a step where stateright's own \
                     step {}",
                    step(),
                    if f.is_some() { "take" } else { "take no" },
                    if s.is_some() {
                        "takes one"
                    } else {
                        "takes none"
                    },
                ))
            }
        }
    }
    Ok(slow)
}

/// Which of the two parts of the fast step went wrong in `state` on `action`: the memo, if
/// its answer differs from the handler's own on this very input (it must then have kept
/// the answer for another input that it holds equal, which only an `Eq` that leaves out a
/// field allows); else the deltas, which apply the answer.
fn blame(model: &BankModel, state: &BankState, action: &Action) -> &'static str {
    use stateright::actor::{Actor, ActorModelAction, Out};
    let ActorModelAction::Deliver { src, dst, msg } = action else {
        return "the memo of steps and the deltas";
    };
    let i = usize::from(*dst);
    let st = &state.actor_states[i];
    let memo = model.steps.delivery(&model.actors[i], *dst, st, *src, msg);
    let mut own = std::borrow::Cow::Borrowed(&**st);
    let mut out = Out::new();
    model.actors[i].on_msg(*dst, &mut own, *src, msg.clone(), &mut out);
    let own_state = match own {
        std::borrow::Cow::Owned(s) => Some(s),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let differs = format!("{:?}", memo.state.as_deref()) != format!("{:?}", own_state.as_ref())
        || format!("{:?}", memo.out) != format!("{out:?}");
    if differs {
        "the memo of steps answers with another input's outcome (its key holds two different \
         inputs equal: an `Eq` or `Hash` written by hand leaves out a field), and so the deltas"
    } else {
        "the deltas (the memo's answer is the handler's own)"
    }
}

/// Where two states differ (by equality, or in their printed form), for people; `None` if
/// they do not. stateright's sets (timers, messages in flight) are printed sorted: their
/// order of iteration is not part of what they hold.
pub fn difference(model: &BankModel, a: &BankState, b: &BankState) -> Option<String> {
    let show = |x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| {
        let (x, y) = (format!("{x:?}"), format!("{y:?}"));
        (x != y).then(|| format!("{x}\n    versus {y}"))
    };
    for i in 0..a.actor_states.len() {
        let name = model.actors[i].name();
        if let Some(d) = show(&a.actor_states[i], &b.actor_states[i]) {
            return Some(format!("{name}'s state: {d}"));
        }
        if let Some(d) = show(&a.actor_storages[i], &b.actor_storages[i]) {
            return Some(format!("{name}'s storage: {d}"));
        }
        // A timer set iterates in the order its timers were set: compare them sorted.
        let timers = |s: &BankState| {
            let mut all: Vec<String> = s.timers_set[i].iter().map(|t| format!("{t:?}")).collect();
            all.sort();
            all
        };
        if let Some(d) = show(&timers(a), &timers(b)) {
            return Some(format!("{name}'s timers: {d}"));
        }
    }
    if let Some(d) = show(&a.crashed, &b.crashed) {
        return Some(format!("who is down: {d}"));
    }
    if let Some(d) = show(&a.history, &b.history) {
        return Some(format!("the history: {d}"));
    }
    let network = |s: &BankState| {
        let mut all: Vec<String> = crate::bank_model::in_flight(&s.network)
            .map(|e| format!("{e:?}"))
            .collect();
        all.sort();
        all
    };
    let (x, y) = (network(a), network(b));
    if x != y {
        let only = |p: &[String], q: &[String]| -> Vec<String> {
            p.iter().filter(|e| !q.contains(e)).cloned().collect()
        };
        return Some(format!(
            "the messages in flight: only the first has {:?}; only the second has {:?}",
            only(&x, &y),
            only(&y, &x)
        ));
    }
    (a != b).then(|| "they print alike but do not compare equal".to_string())
}
