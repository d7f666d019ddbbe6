//! Helpers shared by the model's integration tests.

use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::{build, scenarios, BankModel, BankState, ModelConfig};
use stateright::Checker;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A preset's configuration.
pub fn scenario(name: &str) -> ModelConfig {
    scenarios::by_name(name).expect("a preset").config
}

/// A complete depth-first search of `cfg` on two threads, joined.
#[allow(dead_code)]
pub fn search(cfg: &ModelConfig) -> Search<BankModel> {
    let model = build(cfg);
    let options = SearchOptions {
        threads: 2,
        ..model.search_options()
    };
    Search::spawn(model, options).join()
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
    let model = build(cfg);
    let total = Arc::new(AtomicUsize::new(0));
    let sum = total.clone();
    let visit = move |m: &BankModel, s: &BankState| {
        sum.fetch_add(check(m, s), Ordering::Relaxed);
    };
    let options = SearchOptions {
        threads: 2,
        breadth_first: true,
        max_states: bound,
        visitor: Some(Arc::new(visit)),
        ..model.search_options()
    };
    Search::spawn(model, options).join();
    total.load(Ordering::Relaxed)
}
