//! Every handler of either variant, in every reachable state of a scenario and for every
//! event enabled there, saves at most once, saves before any send, saves exactly what the
//! state then holds, and never changes the durable state without saving it.
//!
//! The server's `step` is built so this holds; this test is what fails if a handler ever
//! bypasses it (for example by emitting to stateright's `Out` directly).

use common::{scenario, sum_over_reachable};
use paxchain::{ServerActor, Storage, Variant};
use paxchain_model::trace::Action;
use paxchain_model::{BankState, ModelConfig, NetworkKind, Node, NodeState};
use stateright::actor::{Actor, ActorModelAction, Command, Out};
use stateright::Model;
use std::borrow::Cow;

mod common;

type Cmd = Command<paxchain::Msg, paxchain::Timer, (), Storage>;

/// Runs the event of `action` on server actor `a` in `state`; checks its effects.
fn check_step(a: &ServerActor, index: usize, state: &BankState, action: &Action) -> bool {
    let NodeState::Server(before) = &*state.actor_states[index] else {
        unreachable!("servers come first");
    };
    let mut st = Cow::Borrowed(&**before);
    let mut out = Out::new();
    let id = index.into();
    match action.clone() {
        ActorModelAction::Deliver { src, msg, .. } => a.on_msg(id, &mut st, src, msg, &mut out),
        ActorModelAction::Timeout(_, timer) => a.on_timeout(id, &mut st, &timer, &mut out),
        _ => return false,
    }
    let cmds: Vec<Cmd> = out.into_iter().collect();
    let saves: Vec<usize> = (cmds.iter().enumerate())
        .filter(|(_, c)| matches!(c, Command::Save(_)))
        .map(|(i, _)| i)
        .collect();
    let first_send = cmds.iter().position(|c| matches!(c, Command::Send(..)));
    assert!(
        saves.len() <= 1,
        "two saves in one step: {action:?} → {cmds:?}"
    );
    if let (Some(&save), Some(send)) = (saves.first(), first_send) {
        assert!(save < send, "a send before the save: {action:?} → {cmds:?}");
    }
    let saved = cmds.iter().find_map(|c| match c {
        Command::Save(s) => Some(s),
        _ => None,
    });
    match saved {
        Some(s) => assert_eq!(s, &st.storage, "saved other than the state: {action:?}"),
        None => assert_eq!(
            st.storage, before.storage,
            "durable state changed without a save: {action:?}"
        ),
    }
    true
}

/// Checks every server step enabled in every reachable state; returns how many it checked.
fn check_all_steps(cfg: &ModelConfig) -> usize {
    sum_over_reachable(cfg, |m, state| {
        let mut actions = Vec::new();
        m.actions(state, &mut actions);
        let server_step = |action: &Action| {
            let dst = match action {
                ActorModelAction::Deliver { dst, .. } => usize::from(*dst),
                ActorModelAction::Timeout(id, _) => usize::from(*id),
                _ => return false,
            };
            match &m.actors[dst] {
                Node::Server { actor, .. } => {
                    !state.crashed[dst] && check_step(actor, dst, state, action)
                }
                Node::Client(_) | Node::Rogue(_) => false,
            }
        };
        actions.iter().filter(|a| server_step(a)).count()
    })
}

#[test]
fn safe_steps_save_once_and_first() {
    let competing = ModelConfig {
        network: NetworkKind::Ordered,
        ..scenario("default")
    };
    assert!(check_all_steps(&competing) > 10_000);
    // A crash and lost messages, with one ballot round per server to stay small.
    let crashing = ModelConfig {
        max_round: 1,
        ..scenario("crash-loss")
    };
    assert!(check_all_steps(&crashing) > 10_000);
}

#[test]
fn literal_steps_save_once_and_first() {
    let literal = ModelConfig {
        variant: Variant::Literal,
        network: NetworkKind::Ordered,
        max_height: 2,
        ..scenario("default")
    };
    assert!(check_all_steps(&literal) > 1_000);
}
