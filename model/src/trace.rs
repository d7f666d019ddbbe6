//! Counterexamples as step lists: serializable, replayable and readable.
//!
//! stateright's `Path` and actions are not `Serialize`, so a trace is exported as a list of
//! [`Step`]s, which map one-to-one onto the model's actions and back. [`replay`] re-runs them
//! from the initial state, so a reported counterexample can be checked independently of the
//! search that found it.

use crate::node::{Node, NodeState};
use crate::properties::{BankModel, BankState};
use paxchain::{Msg, Timer};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor as _, ActorModelAction, Envelope, Id};
use stateright::{Model, Path};
use std::fmt::Write as _;

pub use crate::bank_model::Action;

/// One step of a trace; actors are named by their index in the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Deliver { src: usize, dst: usize, msg: Msg },
    Drop { src: usize, dst: usize, msg: Msg },
    Timeout { actor: usize, timer: Timer },
    Crash { actor: usize },
    Recover { actor: usize },
}

impl Step {
    /// The step for a model action.
    pub fn from_action(a: &Action) -> Step {
        match a {
            ActorModelAction::Deliver { src, dst, msg } => Step::Deliver {
                src: (*src).into(),
                dst: (*dst).into(),
                msg: msg.clone(),
            },
            ActorModelAction::Drop(env) => Step::Drop {
                src: env.src.into(),
                dst: env.dst.into(),
                msg: env.msg.clone(),
            },
            ActorModelAction::Timeout(id, timer) => Step::Timeout {
                actor: (*id).into(),
                timer: timer.clone(),
            },
            ActorModelAction::Crash(id) => Step::Crash {
                actor: (*id).into(),
            },
            ActorModelAction::Recover(id) => Step::Recover {
                actor: (*id).into(),
            },
            ActorModelAction::SelectRandom { .. } => {
                unreachable!("paxchain's actors make no random choices")
            }
        }
    }

    /// The model action for this step.
    pub fn to_action(&self) -> Action {
        match self.clone() {
            Step::Deliver { src, dst, msg } => ActorModelAction::Deliver {
                src: Id::from(src),
                dst: Id::from(dst),
                msg,
            },
            Step::Drop { src, dst, msg } => ActorModelAction::Drop(Envelope {
                src: Id::from(src),
                dst: Id::from(dst),
                msg,
            }),
            Step::Timeout { actor, timer } => ActorModelAction::Timeout(Id::from(actor), timer),
            Step::Crash { actor } => ActorModelAction::Crash(Id::from(actor)),
            Step::Recover { actor } => ActorModelAction::Recover(Id::from(actor)),
        }
    }

    /// One line for people: who did what to whom.
    pub fn describe(&self, model: &BankModel) -> String {
        let who = |i: usize| model.actors[i].name();
        match self {
            // The network's attacker sends a relay, from its sender's address.
            Step::Deliver {
                dst,
                msg: msg @ paxchain::Msg::Relayed { .. },
                ..
            } => format!("the attacker → {}: {msg}", who(*dst)),
            Step::Deliver { src, dst, msg } => format!("{} → {}: {msg}", who(*src), who(*dst)),
            Step::Drop { src, dst, msg } => {
                format!("LOST {} → {}: {msg}", who(*src), who(*dst))
            }
            Step::Timeout { actor, timer } => format!("{} times out ({timer:?})", who(*actor)),
            Step::Crash { actor } => format!("{} CRASHES", who(*actor)),
            Step::Recover { actor } => format!("{} recovers from its storage", who(*actor)),
        }
    }
}

/// The steps of a path.
pub fn steps(path: &Path<BankState, Action>) -> Vec<Step> {
    path.clone()
        .into_actions()
        .iter()
        .map(Step::from_action)
        .collect()
}

/// Re-runs `steps` from the initial state; `None` if some step is not possible there (not
/// among the state's actions, or leading nowhere), as for stateright's `Path::from_actions`,
/// which builds every next state of each state on the way to find the one taken.
pub fn replay(model: &BankModel, steps: &[Step]) -> Option<BankState> {
    let mut state = model.init_states().into_iter().next()?;
    let mut enabled = Vec::new();
    for step in steps {
        let action = step.to_action();
        enabled.clear();
        model.actions(&state, &mut enabled);
        if !enabled.contains(&action) {
            return None;
        }
        state = model.next_state(&state, action)?;
    }
    Some(state)
}

/// The servers' chains, logs and ballots, and the clients' progress, for people.
pub fn describe_state(model: &BankModel, state: &BankState) -> String {
    let mut out = String::new();
    for (i, (actor, st)) in model.actors.iter().zip(&state.actor_states).enumerate() {
        let down = if state.crashed[i] { " (crashed)" } else { "" };
        match (actor, &**st) {
            (Node::Server { .. }, NodeState::Server(s)) => {
                let log: Vec<String> = s.storage.log.iter().map(|t| t.to_string()).collect();
                let _ = writeln!(
                    out,
                    "  {}{down}: promised {}, chain {:?}, log [{}]",
                    actor.name(),
                    s.storage.promised,
                    s.storage.chain,
                    log.join(" "),
                );
            }
            (Node::Client(c), NodeState::Client(s)) => {
                let _ = writeln!(
                    out,
                    "  {}: {} of {} transfers answered",
                    actor.name(),
                    s.next.min(c.cfg.script.len()),
                    c.cfg.script.len()
                );
            }
            (Node::Rogue(_), NodeState::Rogue(r)) => {
                let answers: Vec<String> = r.answers.iter().map(|o| format!("{o:?}")).collect();
                let _ = writeln!(out, "  {}: answers [{}]", actor.name(), answers.join(", "));
            }
            _ => unreachable!("actor and state kinds always match"),
        }
    }
    out
}

/// Shortens a trace that ends in a state where `bad` holds: drops one step at a time, keeping
/// each drop after which the shorter trace still replays to a bad state, until no single step
/// can go. The result is 1-minimal: every remaining step is needed.
///
/// stateright reports the *last* discovery a search made, not the shortest, so a raw
/// counterexample is full of deliveries that have nothing to do with the violation.
pub fn shrink(model: &BankModel, steps: &[Step], bad: impl Fn(&BankState) -> bool) -> Vec<Step> {
    let mut current = steps.to_vec();
    loop {
        let before = current.len();
        let mut i = current.len();
        while i > 0 {
            i -= 1;
            let mut candidate = current.clone();
            candidate.remove(i);
            if replay(model, &candidate).is_some_and(|s| bad(&s)) {
                current = candidate;
            }
        }
        if current.len() == before {
            return current;
        }
    }
}

/// stateright's explorer path for a trace (the part after `#/steps/`).
pub fn explorer_path(model: &BankModel, steps: &[Step]) -> Option<String> {
    let actions: Vec<Action> = steps.iter().map(Step::to_action).collect();
    let init = model.init_states().into_iter().next()?;
    Path::from_actions(model, init, actions.iter()).map(|p| p.encode(model))
}
