//! Every handler of either variant, in every reachable state of a scenario and for every
//! event enabled there, saves at most once, saves before any send, saves exactly what the
//! state then holds, and never changes the durable state without saving it.
//!
//! The server's `step` is built so this holds; this test is what fails if a handler ever
//! bypasses it (for example by emitting to stateright's `Out` directly).

use paxchain::{ServerActor, Storage, Variant};
use paxchain_model::trace::Action;
use paxchain_model::{build, scenarios, BankState, ModelConfig, NetworkKind, Node, NodeState};
use stateright::actor::{Actor, ActorModelAction, Command, Out};
use stateright::{Checker, Model, Path};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

type Cmd = Command<paxchain::Msg, paxchain::Timer, (), Storage>;

/// Runs the event of `action` on server actor `a` in `state`; checks its effects.
fn check_step(a: &ServerActor, index: usize, state: &BankState, action: &Action) -> bool {
    let NodeState::Server(before) = &*state.actor_states[index] else {
        unreachable!("servers come first");
    };
    let mut st = Cow::Borrowed(before);
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
    let t = std::time::Instant::now();
    let model = Arc::new(build(cfg));
    let checked = Arc::new(AtomicUsize::new(0));
    let (m, count) = (model.clone(), checked.clone());
    let visit = move |path: Path<BankState, Action>| {
        let state = path.last_state();
        let mut actions = Vec::new();
        m.actions(state, &mut actions);
        for action in &actions {
            let dst = match action {
                ActorModelAction::Deliver { dst, .. } => usize::from(*dst),
                ActorModelAction::Timeout(id, _) => usize::from(*id),
                _ => continue,
            };
            if let Node::Server(a) = &m.actors[dst] {
                if !state.crashed[dst] && check_step(a, dst, state, action) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    };
    (*model).clone().checker().visitor(visit).spawn_bfs().join();
    let n = checked.load(Ordering::Relaxed);
    eprintln!("{n} steps in {:?}", t.elapsed());
    n
}

fn scenario(name: &str) -> ModelConfig {
    scenarios::by_name(name).expect("a preset").config
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
