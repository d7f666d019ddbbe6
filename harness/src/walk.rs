//! Seeded random walks of the model: traces to replay where there is no counterexample.
//!
//! From the initial state, each step picks at random among the model's possible next steps
//! that stay within its bounds, until none is left or the walk is `max_steps` long. The
//! same model, seed and length give the same walk.
//!
//! The pick is weighted by the kind of step ([`weight`]). Uniform picks drown the protocol
//! in faults: with one crash allowed, three of a default state's handful of steps are
//! crashes, so a uniform walk spends most steps crashing and recovering and rarely commits
//! a block. Deliveries are weighted most, a recovery more than a crash (a server is down
//! for a few steps, not for the rest of the walk), and losses and timers least.

use paxchain_model::trace::Step;
use paxchain_model::BankModel;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stateright::Model;

/// A random walk of `model` (build it with [`crate::replay::model`]).
pub fn walk(model: &BankModel, seed: u64, max_steps: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = model
        .init_states()
        .into_iter()
        .next()
        .expect("a model has an initial state");
    let mut steps = Vec::new();
    while steps.len() < max_steps {
        let mut next = model.next_steps(&state);
        next.retain(|(_, s)| model.within_boundary(s));
        if next.is_empty() {
            break;
        }
        let weights: Vec<u32> = next
            .iter()
            .map(|(a, _)| weight(&Step::from_action(a)))
            .collect();
        let mut pick = rng.random_range(0..weights.iter().sum::<u32>());
        let i = weights
            .iter()
            .position(|&w| {
                let here = pick < w;
                pick = pick.saturating_sub(w);
                here
            })
            .expect("the pick is below the total weight");
        let (action, s) = next.swap_remove(i);
        steps.push(Step::from_action(&action));
        state = s;
    }
    steps
}

/// How likely a walk is to take a step of this kind, relative to the others.
pub fn weight(step: &Step) -> u32 {
    match step {
        Step::Deliver { .. } => 20,
        Step::Recover { .. } => 6,
        Step::Timeout { .. } | Step::Crash { .. } | Step::Drop { .. } => 1,
    }
}

/// What a set of walks reached, so a clean replay can be read for what it covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub walks: usize,
    pub steps: usize,
    /// Walks in which some server's chain grew past genesis.
    pub committed: usize,
    /// The highest chain seen at the end of a walk, in blocks after genesis.
    pub max_height: usize,
    pub crashes: usize,
    pub recoveries: usize,
    pub losses: usize,
    pub timeouts: usize,
}

impl Coverage {
    /// Adds a walk of `model`.
    pub fn add(&mut self, model: &BankModel, steps: &[Step]) {
        self.walks += 1;
        self.steps += steps.len();
        for s in steps {
            match s {
                Step::Crash { .. } => self.crashes += 1,
                Step::Recover { .. } => self.recoveries += 1,
                Step::Drop { .. } => self.losses += 1,
                Step::Timeout { .. } => self.timeouts += 1,
                Step::Deliver { .. } => {}
            }
        }
        let end = paxchain_model::trace::replay(model, steps).expect("a walk is a path");
        let height = (0..model.cfg.servers)
            .filter_map(|i| end.actor_states[i].server())
            .map(|s| s.storage.chain.len() - 1)
            .max()
            .unwrap_or(0);
        self.committed += usize::from(height > 0);
        self.max_height = self.max_height.max(height);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain_model::scenarios;

    #[test]
    fn a_walk_is_a_path_of_the_model_and_its_seed_repeats_it() {
        let cfg = scenarios::by_name("crash-loss").unwrap().config;
        let model = crate::replay::model(&cfg);
        let w = walk(&model, 7, 40);
        assert!(!w.is_empty());
        assert_eq!(w, walk(&model, 7, 40));
        assert_ne!(w, walk(&model, 8, 40), "another seed, another walk");
        assert!(
            paxchain_model::trace::replay(&model, &w).is_some(),
            "every step is possible where it is taken"
        );
        let mut c = Coverage::default();
        for seed in 0..20 {
            c.add(&model, &walk(&model, seed, 40));
        }
        assert_eq!(c.walks, 20);
        assert!(c.committed > 0 && c.crashes > 0 && c.losses > 0, "{c:?}");
    }
}
