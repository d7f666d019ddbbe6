//! `delta::delivery` and `delta::timeout` decide a delivery or a timeout on every network
//! without stateright's step (with the handler's outcome from the memo of steps). Checked here in every reachable state of
//! several configurations: each gives exactly what stateright's own step, then the
//! reductions (canonical form, and no step back to the same state), give; and the
//! fingerprint computed from the delta, before the state is built, is the built state's.

use common::{scenario, sum_over};
use paxchain::Variant;
use paxchain_model::bank_model::canonicalize;
use paxchain_model::fingerprint::{fingerprint, Parts};
use paxchain_model::symmetry::{representative_fingerprint, representative_fingerprint_of_delta};
use paxchain_model::{delta, BankModel, BankState, ModelConfig, NetworkKind};
use stateright::actor::ActorModelAction;
use stateright::Model;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod common;

/// stateright's step, then reductions 1 to 4 and 8.
fn reference(
    m: &BankModel,
    last: &BankState,
    action: ActorModelAction<paxchain::Msg, paxchain::Timer, ()>,
) -> Option<BankState> {
    let mut next = m.inner.next_state(last, action)?;
    canonicalize(m, &mut next);
    (next != *last).then_some(next)
}

/// Compares every delivery and timeout in every reachable state of `cfg` (or in about the
/// first `bound` states); returns how many built a successor and how many led nowhere.
fn compare(cfg: &ModelConfig, bound: Option<usize>) -> (usize, usize) {
    compare_counting(cfg, bound, Arc::default())
}

/// [`compare`], counting in `checked_symmetric` the next states whose representative's
/// fingerprint was also read through the delta and compared.
fn compare_counting(
    cfg: &ModelConfig,
    bound: Option<usize>,
    checked_symmetric: Arc<AtomicUsize>,
) -> (usize, usize) {
    let nowhere = Arc::new(AtomicUsize::new(0));
    let counter = nowhere.clone();
    let check = move |m: &BankModel, s: &BankState| {
        let mut actions = vec![];
        m.actions(s, &mut actions);
        let mut built = 0;
        for a in actions {
            let delta = match a.clone() {
                ActorModelAction::Deliver { src, dst, msg } => {
                    delta::delivery(m, s, src, dst, &msg)
                }
                ActorModelAction::Timeout(id, timer) => delta::timeout(m, s, id, &timer),
                _ => continue,
            };
            let print = delta.as_ref().map(|d| Parts::of(s).with(s, d));
            // Where passive servers make a symmetry, on FIFO links: the representative's
            // fingerprint read through the delta, before anything is built.
            let symmetric = (delta.as_ref())
                .filter(|_| m.symmetric != 0)
                .and_then(|d| representative_fingerprint_of_delta(m.symmetric, s, d));
            let got = delta.map(|d| d.apply(s));
            if let (Some(print), Some(next)) = (symmetric, &got) {
                assert_eq!(
                    print,
                    representative_fingerprint(m.symmetric, next),
                    "the representative's fingerprint read through a delta"
                );
                checked_symmetric.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(
                print,
                got.as_ref().map(fingerprint),
                "a delta's fingerprint"
            );
            let want = reference(m, s, a);
            assert!(
                got == want,
                "a delta differs from stateright's step in {s:#?}"
            );
            match got {
                Some(_) => built += 1,
                None => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        built
    };
    let built = sum_over(cfg, bound, check);
    (built, nowhere.load(Ordering::Relaxed))
}

#[test]
fn each_delta_agrees_with_stateright_on_the_default_scenario() {
    let (built, nowhere) = compare(&ModelConfig::default(), None);
    assert!(
        built > 1_000 && nowhere > 1_000,
        "{built} built, {nowhere} nowhere"
    );
}

#[test]
fn each_delta_agrees_with_stateright_with_a_crash_or_a_retry() {
    for (max_crashes, client_retries) in [(1, 0), (0, 1)] {
        let cfg = ModelConfig {
            network: NetworkKind::Duplicating,
            max_crashes,
            client_retries,
            ..scenario("tiny")
        };
        let (built, nowhere) = compare(&cfg, None);
        assert!(
            built > 1_000 && nowhere > 1_000,
            "{built} built, {nowhere} nowhere"
        );
    }
}

#[test]
fn each_delta_agrees_with_stateright_for_the_literal_variant_and_a_rogue_client() {
    for cfg in [
        ModelConfig {
            variant: Variant::Literal,
            ..ModelConfig::default()
        },
        ModelConfig {
            network: NetworkKind::Duplicating,
            ..scenario("rogue-client")
        },
    ] {
        let (built, nowhere) = compare(&cfg, None);
        assert!(
            built > 100 && nowhere > 100,
            "{built} built, {nowhere} nowhere"
        );
    }
}

/// On FIFO links a delivery takes its message out of its flow. (On FIFO links nothing steps
/// back, so nothing leads nowhere but a delivery to a crashed server.)
#[test]
fn each_delta_agrees_with_stateright_on_fifo_links() {
    let literal = ModelConfig {
        variant: Variant::Literal,
        network: NetworkKind::Ordered,
        lossy: true,
        ..ModelConfig::default()
    };
    for (cfg, bound) in [
        (scenario("lagging-promiser"), None),
        (scenario("crash-loss"), Some(20_000)),
        (scenario("contest-crash"), Some(20_000)),
        (literal, Some(20_000)),
    ] {
        assert_eq!(cfg.network, NetworkKind::Ordered);
        let (built, _) = compare(&cfg, bound);
        assert!(built > 1_000, "{built} built");
    }
}

/// Where passive servers make a symmetry (the five-server presets, FIFO links), the
/// representative's fingerprint of each next state is read through its delta without
/// building it: the same as the built state's.
#[test]
fn each_delta_gives_the_representative_s_fingerprint_of_the_state_it_builds() {
    for (name, bound) in [
        ("five", None),
        ("five-contest", Some(40_000)),
        ("three-ballots", Some(40_000)),
    ] {
        let cfg = scenario(name);
        assert_eq!(cfg.network, NetworkKind::Ordered);
        let checked = Arc::new(AtomicUsize::new(0));
        let (built, _) = compare_counting(&cfg, bound, checked.clone());
        let checked = checked.load(Ordering::Relaxed);
        assert!(
            checked > 10_000 && checked == built,
            "{name}: {checked} of {built}"
        );
    }
}

/// On the network that neither duplicates nor orders, a delivery takes one copy of its
/// message out, and a delivery that changes nothing and sends nothing is no step (the message
/// stays), as in stateright.
#[test]
fn each_delta_agrees_with_stateright_on_the_unordered_network() {
    let unordered = |name| ModelConfig {
        network: NetworkKind::Unordered,
        ..scenario(name)
    };
    for (cfg, bound) in [
        (scenario("course"), None),
        (unordered("crash-loss"), Some(20_000)),
        (unordered("retry-crash"), Some(20_000)),
    ] {
        assert_eq!(cfg.network, NetworkKind::Unordered);
        let (built, nowhere) = compare(&cfg, bound);
        assert!(
            built > 10_000 && nowhere > 100,
            "{built} built, {nowhere} nowhere"
        );
    }
}

/// Under every seeded bug, whose handlers reduction 4 must follow rather than assume.
#[cfg(feature = "bug-zoo")]
#[test]
fn each_delta_agrees_with_stateright_under_every_seeded_bug() {
    for &bug in paxchain::bugs::Bug::ALL {
        for network in [
            NetworkKind::Duplicating,
            NetworkKind::Ordered,
            NetworkKind::Unordered,
        ] {
            let cfg = ModelConfig {
                bug: Some(bug),
                max_crashes: 1,
                network,
                ..ModelConfig::default()
            };
            let (built, _) = compare(&cfg, Some(10_000));
            assert!(built > 100, "{}: {built} built", bug.name());
        }
    }
}
