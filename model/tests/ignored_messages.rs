//! The fourth reduction drops a message from the network when its receiver ignores it for
//! good (`ServerActor::ignores_forever`, `ScriptedClient::ignores_forever`). Checked here
//! in every reachable state of unreduced models, for every message judged ignored:
//! (a) delivering it now changes nothing and sends nothing, and (b) after any step that
//! leaves it in flight, it is still judged ignored. By induction, it is a no-op forever.

use common::{scenario, sum_over_reachable};
use paxchain::{Msg, Variant};
use paxchain_model::{bank_model, BankModel, BankState, ModelConfig, NetworkKind};
use stateright::actor::{Actor, Envelope, Network, Out};
use stateright::Model;
use std::borrow::Cow;

mod common;

/// Every message in flight, once per distinct envelope.
fn in_flight(net: &Network<Msg>) -> Vec<Envelope<&Msg>> {
    let mut all: Vec<Envelope<&Msg>> = bank_model::in_flight(net).collect();
    all.dedup(); // copies in a bag come one after another
    all
}

/// Whether the receiver of `e` ignores it for good in state `s`.
fn ignored(m: &BankModel, s: &BankState, e: &Envelope<&Msg>) -> bool {
    let i = usize::from(e.dst);
    m.actors[i].ignores_forever(&s.actor_states[i], e.src, e.msg)
}

/// Checks (a) and (b) in every reachable state of `cfg`, unreduced; returns how many
/// messages it judged ignored.
fn check_ignored(cfg: ModelConfig) -> usize {
    let unreduced = ModelConfig {
        reduce: false,
        ..cfg
    };
    sum_over_reachable(&unreduced, |m, s| {
        let dead: Vec<Envelope<&Msg>> = (in_flight(&s.network).into_iter())
            .filter(|e| ignored(m, s, e))
            .collect();
        for e in dead.iter().filter(|e| !s.crashed[usize::from(e.dst)]) {
            let i = usize::from(e.dst);
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
                assert!(ignored(m, &next, e), "no longer ignored after {a:?}: {e:?}");
            }
        }
        dead.len()
    })
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
