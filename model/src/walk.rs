//! Seeded random walks of the model: the one walker behind the swarm search
//! (`crate::swarm`) and the conformance harness's random replays.
//!
//! From the initial state, each step picks at random among the possible next steps that
//! stay within the model's bounds, until none is left or the walk is `max_steps` long. The
//! same model, seed, length and [`Bias`] give the same walk.
//!
//! The pick is weighted by the kind of step, and a delivery also by who sends and receives
//! it ([`Bias::slow`]). Uniform picks drown the protocol in faults:
//! with one crash allowed, three of a default state's handful of steps are crashes, so a
//! uniform walk spends most steps crashing and recovering and rarely commits a block.

use crate::trace::Step;
use crate::{BankModel, BankState};
use paxchain::Timer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stateright::Model;

/// How likely a walk is to take a step of each kind, relative to the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bias {
    pub deliver: u32,
    /// A message this walk has delivered before, delivered again (a duplicating network
    /// keeps every message deliverable; without this, old duplicates crowd out progress).
    pub redeliver: u32,
    pub drop: u32,
    /// A server's round timer: a new election under a higher ballot.
    pub round_timer: u32,
    /// A leader's gather timer: propose with the promises it has.
    pub gather_timer: u32,
    /// A client's retry timer: resend.
    pub retry_timer: u32,
    pub crash: u32,
    pub recover: u32,
    /// Actors (bit `i`: actor `i`) whose messages, sent or received, are delivered a tenth
    /// as often: slow servers and links, which is how two leaders come to race.
    pub slow: u32,
}

impl Default for Bias {
    /// Deliveries most, a recovery more than a crash (a server is down for a few steps, not
    /// for the rest of the walk), losses and timers least.
    fn default() -> Bias {
        Bias {
            deliver: 20,
            redeliver: 20,
            drop: 1,
            round_timer: 1,
            gather_timer: 1,
            retry_timer: 1,
            crash: 1,
            recover: 6,
            slow: 0,
        }
    }
}

impl Bias {
    /// A walk's own mix, drawn from its seed as swarm verification does: each fault kind
    /// and each timer is left out, rare, or frequent, so some walks crash often, some lose
    /// much, some have leaders propose as soon as a quorum has promised, some restart
    /// elections at every turn, and some do none of it.
    pub fn for_seed(seed: u64) -> Bias {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xb1a5_b1a5);
        let mut level = |choices: &[u32]| choices[rng.random_range(0..choices.len())];
        Bias {
            deliver: 20,
            redeliver: level(&[0, 1, 4, 20]),
            drop: level(&[0, 1, 4, 10]),
            round_timer: level(&[0, 1, 4, 10]),
            gather_timer: level(&[0, 1, 4, 10, 40]),
            retry_timer: level(&[0, 1, 4, 10]),
            crash: level(&[0, 1, 2, 6]),
            recover: level(&[2, 6, 20]),
            // About one actor in three is slow, and in a quarter of the walks none is.
            slow: if rng.random_range(0..4) == 0 {
                0
            } else {
                rng.random::<u32>() & rng.random::<u32>()
            },
        }
    }

    /// The weight of `step`.
    pub fn weight(&self, step: &Step) -> u32 {
        match step {
            Step::Deliver { src, dst, .. } => {
                let slow = |a: &usize| *a < 32 && self.slow & (1 << a) != 0;
                if slow(src) || slow(dst) {
                    (self.deliver / 10).max(1)
                } else {
                    self.deliver
                }
            }
            Step::Drop { .. } => self.drop,
            Step::Timeout { timer, .. } => match timer {
                Timer::Round => self.round_timer,
                Timer::Gather => self.gather_timer,
                Timer::Retry => self.retry_timer,
            },
            Step::Crash { .. } => self.crash,
            Step::Recover { .. } => self.recover,
        }
    }
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `max_steps` were taken.
    Long,
    /// Nothing can happen any more: a terminal state.
    Terminal,
    /// Steps remain, but none within the model's bounds, or none the bias allows.
    Bounded,
    /// The visitor stopped it.
    Stopped,
}

/// A random walk of `model`, calling `visit` on every state (the initial one included)
/// with the steps that led to it; `visit` returns false to stop the walk there.
pub fn walk_with(
    model: &BankModel,
    seed: u64,
    max_steps: usize,
    bias: &Bias,
    mut visit: impl FnMut(&BankState, &[Step]) -> bool,
) -> (Vec<Step>, End) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = model
        .init_states()
        .into_iter()
        .next()
        .expect("a model has an initial state");
    let mut steps = Vec::new();
    let mut delivered = std::collections::HashSet::new();
    if !visit(&state, &steps) {
        return (steps, End::Stopped);
    }
    while steps.len() < max_steps {
        let mut next = model.next_steps(&state);
        if next.is_empty() {
            return (steps, End::Terminal);
        }
        next.retain(|(_, s)| model.within_boundary(s));
        let weights: Vec<u32> = (next.iter())
            .map(|(a, _)| match Step::from_action(a) {
                Step::Deliver { src, dst, msg } if delivered.contains(&(src, dst, msg.clone())) => {
                    bias.redeliver
                }
                step => bias.weight(&step),
            })
            .collect();
        let total: u32 = weights.iter().sum();
        if total == 0 {
            return (steps, End::Bounded);
        }
        let mut pick = rng.random_range(0..total);
        let i = weights
            .iter()
            .position(|&w| {
                let here = pick < w;
                pick -= w.min(pick);
                here
            })
            .expect("the pick is below the total weight");
        let (action, s) = next.swap_remove(i);
        let step = Step::from_action(&action);
        if let Step::Deliver { src, dst, msg } = &step {
            delivered.insert((*src, *dst, msg.clone()));
        }
        steps.push(step);
        state = s;
        if !visit(&state, &steps) {
            return (steps, End::Stopped);
        }
    }
    (steps, End::Long)
}

/// A random walk of `model` with the default bias.
pub fn walk(model: &BankModel, seed: u64, max_steps: usize) -> Vec<Step> {
    walk_with(model, seed, max_steps, &Bias::default(), |_, _| true).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios;

    #[test]
    fn a_walk_is_a_path_of_the_model_and_its_seed_repeats_it() {
        let cfg = scenarios::by_name("crash-loss").unwrap().config;
        let model = crate::build(&crate::ModelConfig {
            reduce: false,
            ..cfg
        });
        let w = walk(&model, 7, 40);
        assert!(!w.is_empty());
        assert_eq!(w, walk(&model, 7, 40));
        assert_ne!(w, walk(&model, 8, 40), "another seed, another walk");
        assert!(
            crate::trace::replay(&model, &w).is_some(),
            "every step is possible where it is taken"
        );
    }

    #[test]
    fn a_bias_that_leaves_out_a_kind_never_takes_it_and_seeds_vary_the_mix() {
        let model = crate::build(&scenarios::by_name("crash-loss").unwrap().config);
        let no_faults = Bias {
            drop: 0,
            crash: 0,
            ..Bias::default()
        };
        for seed in 0..20 {
            let (steps, _) = walk_with(&model, seed, 60, &no_faults, |_, _| true);
            assert!(!steps
                .iter()
                .any(|s| matches!(s, Step::Crash { .. } | Step::Drop { .. })));
        }
        let mixes: std::collections::HashSet<_> = (0..40)
            .map(|s| format!("{:?}", Bias::for_seed(s)))
            .collect();
        assert!(mixes.len() > 10, "{} mixes", mixes.len());
    }
}
