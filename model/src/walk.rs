//! Seeded random walks of the model: the one walker behind the swarm search
//! (`crate::swarm`) and the conformance harness's random replays.
//!
//! From the initial state, each step picks at random among the possible next steps that
//! stay within the model's bounds, until none is left or the walk is `max_steps` long. The
//! same model, seed, length and [`Bias`] give the same walk.
//!
//! The pick is weighted by the kind of step, and a delivery also by who sends and receives
//! it ([`Bias::slow`], [`Bias::slow_links`], [`Bias::cut_links`]). Uniform picks drown the
//! protocol in faults: with one crash allowed, three of a default state's handful of steps
//! are crashes, so a uniform walk spends most steps crashing and recovering and rarely
//! commits a block.
//!
//! Two weights aim the faults where protocol bugs live, as Jepsen's nemeses do:
//! - **a partition that heals** ([`Bias::cut_links`]): in a majorities ring each of five
//!   servers reaches a majority of its own, so two leaders each gather a quorum through the
//!   one server between them, which is where quorums must intersect;
//! - **a crash just after a vote** ([`Bias::crash_after_vote`]): a server that has just
//!   been asked to promise or accept is the one whose skipped write a restart loses.
//!
//! Measured on the five-server swarm configuration with `promise-not-saved` on: of 3,000
//! walks with uniform links, none broke a property; cutting the two links the bug's
//! schedule needs cut broke 9, and crashing just after a vote as well broke 21.

use crate::bank_model::Action;
use crate::trace::Step;
use crate::{BankModel, BankState};
use paxchain::{Msg, PeerMsg, Timer};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
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
    /// A server's flush timer: save and answer the staged transfers without waiting for
    /// the rest of its sessions.
    pub flush_timer: u32,
    pub crash: u32,
    /// A crash of the server that has just been asked to vote (a PREPARE or an ACCEPT was
    /// the step before), instead of `crash`: the moment after a vote is where a write
    /// the server skipped is lost.
    pub crash_after_vote: u32,
    pub recover: u32,
    /// Actors (bit `i`: actor `i`) whose messages, sent or received, are delivered a tenth
    /// as often: slow servers and links, which is how two leaders come to race.
    pub slow: u32,
    /// Links (bit [`link`]`(a, b)`: between actors `a` and `b`, either way) whose messages
    /// are delivered a tenth as often: a network that splits the servers into overlapping
    /// majorities, as Jepsen's "majorities ring" does, so that two leaders each reach a
    /// quorum of their own through the servers between them.
    pub slow_links: u64,
    /// Links (bits as in `slow_links`) that deliver nothing until the walk is `heal_at`
    /// steps long: a partition that heals.
    pub cut_links: u64,
    pub heal_at: usize,
}

/// Every link between two of `actors`, as [`Bias::slow_links`] bits.
fn links_between(actors: std::ops::Range<usize>) -> u64 {
    (actors.clone())
        .flat_map(|b| (actors.start..b).filter_map(move |a| link(a, b)))
        .fold(0, |m, l| m | 1 << l)
}

/// The links to cut for Jepsen's "majorities ring": the servers in a random ring, each
/// linked only to its neighbours, so that on five servers each sees a majority (itself
/// and two others) and no two see the same one. Two leaders two places apart then each
/// reach a quorum through the one server between them.
fn majorities_ring(rng: &mut StdRng, servers: usize) -> u64 {
    let mut ring: Vec<usize> = (0..servers).collect();
    ring.shuffle(rng);
    let mut keep = 0u64;
    for (i, &a) in ring.iter().enumerate() {
        let b = ring[(i + 1) % servers];
        keep |= link(a, b).map_or(0, |l| 1 << l);
    }
    links_between(0..servers) & !keep
}

/// The bit of the link between actors `a` and `b` in [`Bias::slow_links`], for actors
/// below 11; `None` beyond.
pub fn link(a: usize, b: usize) -> Option<u32> {
    let (lo, hi) = (a.min(b), a.max(b));
    (hi < 11 && lo != hi).then(|| (hi * (hi - 1) / 2 + lo) as u32)
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
            flush_timer: 1,
            crash: 1,
            crash_after_vote: 1,
            recover: 6,
            slow: 0,
            slow_links: 0,
            cut_links: 0,
            heal_at: 0,
        }
    }
}

impl Bias {
    /// A walk's own mix, drawn from its seed as swarm verification does: each fault kind
    /// and each timer is left out, rare, or frequent, so some walks crash often, some lose
    /// much, some have leaders propose as soon as a quorum has promised, some restart
    /// elections at every turn, and some do none of it.
    ///
    /// The first `servers` actors are the servers: a partition only cuts links between them.
    pub fn for_seed(seed: u64, servers: usize) -> Bias {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xb1a5_b1a5);
        let mut level = |choices: &[u32]| choices[rng.random_range(0..choices.len())];
        let mut bias = Bias {
            deliver: 20,
            redeliver: level(&[0, 1, 4, 20]),
            drop: level(&[0, 1, 4, 10]),
            round_timer: level(&[0, 1, 4, 10]),
            gather_timer: level(&[0, 1, 4, 10, 40]),
            retry_timer: level(&[0, 1, 4, 10]),
            flush_timer: 1,
            crash: level(&[0, 1, 2, 6]),
            crash_after_vote: level(&[0, 1, 10, 40]),
            recover: level(&[2, 6, 20]),
            slow: 0,
            slow_links: 0,
            cut_links: 0,
            heal_at: 0,
        };
        // In a fifth of the walks nothing is slow; in a fifth about one actor in three is;
        // in a fifth about one link in two. In the other two fifths the servers are
        // partitioned for the first 10 to 80 steps: into a majorities ring, or at random.
        match rng.random_range(0..5) {
            0 => {}
            1 => bias.slow = rng.random::<u32>() & rng.random::<u32>(),
            2 => bias.slow_links = rng.random::<u64>(),
            mode => {
                bias.cut_links = if mode == 3 {
                    majorities_ring(&mut rng, servers)
                } else {
                    rng.random::<u64>() & rng.random::<u64>() & links_between(0..servers)
                };
                bias.heal_at = rng.random_range(10..80);
            }
        }
        // Drawn last, so that the draws before it are what they were before it existed.
        bias.flush_timer = rng.random_range(0..4u32).pow(2);
        bias
    }

    /// The weight of `step`, taken after `taken` steps.
    pub fn weight(&self, step: &Step, taken: usize) -> u32 {
        match step {
            Step::Deliver { src, dst, .. } => {
                let cut = link(*src, *dst).is_some_and(|l| self.cut_links & (1 << l) != 0);
                if cut && taken < self.heal_at {
                    return 0;
                }
                let slow = |a: &usize| *a < 32 && self.slow & (1 << a) != 0;
                let slow_link = link(*src, *dst).is_some_and(|l| self.slow_links & (1 << l) != 0);
                if slow(src) || slow(dst) || slow_link {
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
                Timer::Flush => self.flush_timer,
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
///
/// Only the step taken is computed: the walk weighs the actions, draws one, and computes
/// its next state; an action that changes nothing or leaves the model's bounds is struck
/// out and another drawn. (Computing every next state to take one cost a five-server walk
/// most of its time.)
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
    let mut actions = Vec::new();
    while steps.len() < max_steps {
        actions.clear();
        model.actions(&state, &mut actions);
        let voted_last = match steps.last() {
            Some(Step::Deliver { dst, msg, .. }) if is_ballot_request(msg) => Some(*dst),
            _ => None,
        };
        let mut weights: Vec<u32> = (actions.iter())
            .map(|a| match Step::from_action(a) {
                Step::Deliver { src, dst, msg } if delivered.contains(&(src, dst, msg.clone())) => {
                    bias.redeliver
                }
                Step::Crash { actor } if Some(actor) == voted_last => bias.crash_after_vote,
                step => bias.weight(&step, steps.len()),
            })
            .collect();
        let Some((i, next)) = draw(model, &state, &actions, &mut weights, &mut rng) else {
            let moves = (actions.drain(..)).any(|a| model.next_state(&state, a).is_some());
            return (steps, if moves { End::Bounded } else { End::Terminal });
        };
        let step = Step::from_action(&actions[i]);
        if let Step::Deliver { src, dst, msg } = &step {
            delivered.insert((*src, *dst, msg.clone()));
        }
        steps.push(step);
        state = next;
        if !visit(&state, &steps) {
            return (steps, End::Stopped);
        }
    }
    (steps, End::Long)
}

/// Draws an action by weight until one leads somewhere within bounds; its index and next
/// state, or `None` once every weighted action is struck out.
fn draw(
    model: &BankModel,
    state: &BankState,
    actions: &[Action],
    weights: &mut [u32],
    rng: &mut StdRng,
) -> Option<(usize, BankState)> {
    loop {
        let total: u32 = weights.iter().sum();
        if total == 0 {
            return None;
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
        match model.next_state(state, actions[i].clone()) {
            Some(next) if model.within_boundary(&next) => return Some((i, next)),
            _ => weights[i] = 0,
        }
    }
}

/// Whether `msg` asks its receiver for a vote.
fn is_ballot_request(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Peer(PeerMsg::Prepare { .. } | PeerMsg::Accept { .. })
    )
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
            crash_after_vote: 0,
            ..Bias::default()
        };
        for seed in 0..20 {
            let (steps, _) = walk_with(&model, seed, 60, &no_faults, |_, _| true);
            assert!(!steps
                .iter()
                .any(|s| matches!(s, Step::Crash { .. } | Step::Drop { .. })));
        }
        let mixes: std::collections::HashSet<_> = (0..40)
            .map(|s| format!("{:?}", Bias::for_seed(s, 3)))
            .collect();
        assert!(mixes.len() > 10, "{} mixes", mixes.len());
    }

    #[test]
    fn a_majorities_ring_leaves_each_of_five_servers_two_links_and_cuts_nothing_on_three() {
        for seed in 0..20 {
            let cut = majorities_ring(&mut StdRng::seed_from_u64(seed), 5);
            for a in 0..5 {
                let kept = (0..5)
                    .filter(|&b| b != a && cut & (1 << link(a, b).unwrap()) == 0)
                    .count();
                assert_eq!(kept, 2, "server {a} in ring {cut:b}");
            }
            assert_eq!(majorities_ring(&mut StdRng::seed_from_u64(seed), 3), 0);
        }
        assert_eq!(links_between(0..3).count_ones(), 3);
        assert_eq!(link(4, 4), None);
        assert_eq!(link(2, 11), None);
    }

    #[test]
    fn a_cut_link_delivers_nothing_until_the_partition_heals() {
        let model = crate::build(&scenarios::by_name("five").unwrap().config);
        let (a, b) = (0, 1);
        let bias = Bias {
            cut_links: 1 << link(a, b).unwrap(),
            heal_at: 30,
            ..Bias::default()
        };
        let mut across = Vec::new();
        for seed in 0..30 {
            let (steps, _) = walk_with(&model, seed, 60, &bias, |_, _| true);
            for (k, s) in steps.iter().enumerate() {
                if let Step::Deliver { src, dst, .. } = s {
                    if (*src, *dst) == (a, b) || (*src, *dst) == (b, a) {
                        across.push(k);
                    }
                }
            }
        }
        assert!(across.iter().all(|&k| k >= 30), "{across:?}");
        assert!(!across.is_empty(), "the link delivers once healed");
    }

    #[test]
    fn a_walk_that_runs_out_of_steps_ends_in_a_terminal_state() {
        let model = crate::build(&scenarios::by_name("tiny").unwrap().config);
        let mut last = None;
        let (_, end) = walk_with(&model, 3, 1000, &Bias::default(), |s, _| {
            last = Some(s.clone());
            true
        });
        assert_eq!(end, End::Terminal);
        assert!(model.next_steps(&last.unwrap()).is_empty());
    }
}
