//! Helpers shared by the model's integration tests.

use paxchain_model::trace::Action;
use paxchain_model::{build, scenarios, BankModel, BankState, ModelConfig};
use stateright::{Checker, Model, Path};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A preset's configuration.
pub fn scenario(name: &str) -> ModelConfig {
    scenarios::by_name(name).expect("a preset").config
}

/// Runs `check` on every reachable state of `cfg` (a complete BFS) and returns the sum of
/// what it returns: how many things were checked, so a test can assert that it checked some.
#[allow(dead_code)] // not every test file walks the state space
pub fn sum_over_reachable(
    cfg: &ModelConfig,
    check: impl Fn(&BankModel, &BankState) -> usize + Send + Sync + 'static,
) -> usize {
    sum_over(cfg, None, check)
}

/// As [`sum_over_reachable`], or over about the first `bound` states a BFS reaches, for
/// configurations too large to walk whole in a test.
#[allow(dead_code)]
pub fn sum_over(
    cfg: &ModelConfig,
    bound: Option<usize>,
    check: impl Fn(&BankModel, &BankState) -> usize + Send + Sync + 'static,
) -> usize {
    let model = Arc::new(build(cfg));
    let total = Arc::new(AtomicUsize::new(0));
    let (m, sum) = (model.clone(), total.clone());
    let visit = move |path: Path<BankState, Action>| {
        sum.fetch_add(check(&m, path.last_state()), Ordering::Relaxed);
    };
    let checker = (*model).clone().checker().visitor(visit);
    match bound {
        Some(states) => checker.target_state_count(states).spawn_bfs().join(),
        None => checker.spawn_bfs().join(),
    };
    total.load(Ordering::Relaxed)
}
