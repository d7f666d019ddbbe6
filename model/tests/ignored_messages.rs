//! The fourth reduction drops a message from the network when its receiver ignores it for
//! good (`ServerActor::ignores_forever`, `ScriptedClient::ignores_forever`). Checked here
//! in every reachable state of unreduced models, for every message judged ignored:
//! (a) delivering it now changes nothing and sends nothing, and (b) after any step that
//! leaves it in flight, it is still judged ignored. By induction, it is a no-op forever.

use paxchain::{Msg, Variant};
use paxchain_model::trace::Action;
use paxchain_model::{build, scenarios, BankState, ModelConfig, NetworkKind};
use stateright::actor::{Actor, Envelope, Network, Out};
use stateright::{Checker, Model, Path};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Every message in flight, once per distinct envelope. (stateright 0.31's
/// `Network::iter_all` never moves past the first message of an ordered flow.)
fn in_flight(net: &Network<Msg>) -> Vec<Envelope<&Msg>> {
    let env = |src, dst, msg| Envelope { src, dst, msg };
    match net {
        Network::UnorderedDuplicating(set, _) => {
            set.iter().map(|e| env(e.src, e.dst, &e.msg)).collect()
        }
        Network::UnorderedNonDuplicating(bag) => {
            bag.keys().map(|e| env(e.src, e.dst, &e.msg)).collect()
        }
        Network::Ordered(flows) => (flows.iter())
            .flat_map(|(&(src, dst), flow)| flow.iter().map(move |m| env(src, dst, m)))
            .collect(),
    }
}

fn check_ignored(cfg: ModelConfig) -> usize {
    let model = Arc::new(build(&ModelConfig {
        reduce: false,
        ..cfg
    }));
    let judged = Arc::new(AtomicUsize::new(0));
    let (m, count) = (model.clone(), judged.clone());
    let ignored = move |s: &BankState, e: &Envelope<&Msg>| {
        let i = usize::from(e.dst);
        m.actors[i].ignores_forever(&s.actor_states[i], e.src, e.msg)
    };
    let m = model.clone();
    let visit = move |path: Path<BankState, Action>| {
        let s = path.last_state();
        let dead: Vec<Envelope<&Msg>> = (in_flight(&s.network).into_iter())
            .filter(|e| ignored(s, e))
            .collect();
        for e in &dead {
            count.fetch_add(1, Ordering::Relaxed);
            let i = usize::from(e.dst);
            if s.crashed[i] {
                continue;
            }
            let mut st = Cow::Borrowed(&*s.actor_states[i]);
            let mut out = Out::new();
            m.actors[i].on_msg(e.dst, &mut st, e.src, e.msg.clone(), &mut out);
            assert!(
                matches!(st, Cow::Borrowed(_)) && out.is_empty(),
                "judged ignored, but delivering it acts: {e:?} → {out:?}"
            );
        }
        let mut actions = Vec::new();
        m.actions(s, &mut actions);
        for a in actions {
            let Some(next) = m.next_state(s, a.clone()) else {
                continue;
            };
            let still = in_flight(&next.network);
            for e in dead.iter().filter(|e| still.contains(e)) {
                assert!(ignored(&next, e), "no longer ignored after {a:?}: {e:?}");
            }
        }
    };
    (*model).clone().checker().visitor(visit).spawn_bfs().join();
    judged.load(Ordering::Relaxed)
}

fn scenario(name: &str) -> ModelConfig {
    scenarios::by_name(name).expect("a preset").config
}

#[test]
fn ignored_messages_stay_ignored_with_competing_leaders() {
    let competing = ModelConfig {
        network: NetworkKind::Ordered,
        ..scenario("default")
    };
    assert!(check_ignored(competing) > 1_000);
}

#[test]
fn ignored_messages_stay_ignored_across_crashes_and_loss() {
    let crashing = ModelConfig {
        max_round: 1,
        ..scenario("crash-loss")
    };
    assert!(check_ignored(crashing) > 1_000);
}

#[test]
fn ignored_messages_stay_ignored_on_a_duplicating_network() {
    // Delivered requests and answers stay in flight: the stale-copy rules are exercised.
    let duplicating = ModelConfig {
        network: NetworkKind::Duplicating,
        max_round: 1,
        ..scenario("tiny")
    };
    assert!(check_ignored(duplicating) > 1_000);
}

#[test]
fn ignored_messages_stay_ignored_in_the_literal_variant() {
    let literal = ModelConfig {
        variant: Variant::Literal,
        network: NetworkKind::Unordered,
        max_height: 2,
        ..scenario("default")
    };
    assert!(check_ignored(literal) > 100);
}
