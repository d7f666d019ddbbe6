//! Swarm search: seeded random walks on every core, for configurations exhaustive search
//! cannot finish (five servers, two crashes, loss and duplication, several transfers each).
//!
//! Each walk is reproducible from its seed alone: the seed fixes both the walk's choices
//! and its [`Bias`] among kinds of step, which varies from walk to walk as in swarm
//! verification (Groce et al., 2012): some walks crash servers often, some lose many
//! messages, some fire every timer, some do none of it. A bug that one mix of faults hides
//! is found by another.
//!
//! Every state a walk visits is checked against every property:
//! - an `always` property that fails ends the walk and is a discovery;
//! - a `sometimes` property that holds is recorded as reached, with its walk;
//! - an `eventually` property that never held on a walk ending in a terminal state is a
//!   discovery.
//!
//! A walk ends at its length, at a terminal state, or after 30 steps in a row that found no
//! state its thread had not seen (on a duplicating network a delivery is always possible,
//! so a finished walk would otherwise go round in circles).
//!
//! A discovery is trusted only after its steps are replayed from the initial state and the
//! property checked again on where they lead; an `always` violation is then shrunk to the
//! steps that matter, as `check` does. A discovery that does not replay is reported as a
//! defect of the search, never as a result. A swarm is never complete: what it reports is
//! what it reached, with how much it covered ([`Swarm`]).

use crate::trace::{self, Step};
use crate::walk::{walk_with, Bias, End};
use crate::{BankModel, BankState};
use stateright::{Expectation, Model, Property};
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How to run a swarm.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Walking threads.
    pub threads: usize,
    /// Walk `i` (counting from 0 across all threads) uses seed `first_seed + i`.
    pub first_seed: u64,
    /// Steps per walk, at most.
    pub walk_steps: usize,
    /// Wall time, after which the swarm stops.
    pub timeout: Duration,
    /// Stop at the first violation of any property (`None`), or only of this one.
    pub stop_at: Option<&'static str>,
    /// Keep going until the timeout, whatever is found.
    pub to_timeout: bool,
}

/// A discovery: the walk that made it and the steps (shrunk, for an `always` violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub seed: u64,
    pub steps: Vec<Step>,
    /// How long after the start it was found.
    pub after: Duration,
}

/// What a swarm did and found.
#[derive(Clone, Debug, Default)]
pub struct Swarm {
    pub walks: u64,
    pub steps: u64,
    /// Distinct states seen (by a 64-bit fingerprint of the whole state).
    pub distinct: usize,
    /// Walks by length, in buckets of 10 steps (`0` holds 0 to 9).
    pub lengths: BTreeMap<usize, u64>,
    /// Violations of `always` and `eventually` properties, replayed and shrunk.
    pub violated: BTreeMap<&'static str, Found>,
    /// `sometimes` properties reached, with the walk that reached each first.
    pub reached: BTreeMap<&'static str, Found>,
    /// Discoveries whose steps did not lead to a violation when replayed: defects of the
    /// search, to report, never results.
    pub untrusted: Vec<String>,
    pub elapsed: Duration,
}

/// Running totals, read once a second by whoever shows progress.
#[derive(Debug, Default)]
pub struct Progress {
    pub walks: AtomicU64,
    pub steps: AtomicU64,
    pub distinct: AtomicU64,
    pub reached: AtomicU64,
    pub violated: AtomicU64,
}

/// The first discovery of each property.
type Discoveries = BTreeMap<&'static str, Found>;

struct Shared<'a> {
    model: &'a BankModel,
    cfg: &'a SwarmConfig,
    started: Instant,
    stop: AtomicBool,
    progress: &'a Progress,
    /// Violations, then examples reached.
    found: Mutex<(Discoveries, Discoveries)>,
    /// Discoveries that did not stand, for people (`Swarm::untrusted`).
    untrusted: Mutex<Vec<String>>,
    lengths: Mutex<BTreeMap<usize, u64>>,
}

/// Steps in a row without a state new to the thread, after which a walk is abandoned.
const STALE_STEPS: usize = 30;

fn fingerprint(s: &BankState) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Runs a swarm on `model`; `progress` is updated as it goes.
pub fn swarm(model: &BankModel, cfg: &SwarmConfig, progress: &Progress) -> Swarm {
    let shared = Shared {
        model,
        cfg,
        started: Instant::now(),
        stop: AtomicBool::new(false),
        progress,
        found: Mutex::default(),
        untrusted: Mutex::default(),
        lengths: Mutex::default(),
    };
    let threads = cfg.threads.max(1);
    let seen: Vec<HashSet<u64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let shared = &shared;
                scope.spawn(move || walker(shared, t as u64, threads as u64))
            })
            .collect();
        while !shared.stop.load(Ordering::Relaxed) && shared.started.elapsed() < cfg.timeout {
            if workers.iter().all(|w| w.is_finished()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        shared.stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("a walker does not panic"))
            .collect()
    });
    let elapsed = shared.started.elapsed();
    let mut all = HashSet::new();
    for s in seen {
        all.extend(s);
    }
    let (violated, reached) = shared.found.into_inner().expect("no walker panicked");
    let untrusted = shared.untrusted.into_inner().expect("no walker panicked");
    let mut out = Swarm {
        walks: progress.walks.load(Ordering::Relaxed),
        steps: progress.steps.load(Ordering::Relaxed),
        distinct: all.len(),
        lengths: shared.lengths.into_inner().expect("no walker panicked"),
        reached,
        untrusted,
        elapsed,
        ..Swarm::default()
    };
    for (name, found) in violated {
        match confirm(model, name, found) {
            Ok(f) => {
                out.violated.insert(name, f);
            }
            Err(why) => out.untrusted.push(why),
        }
    }
    out
}

/// One thread's walks: seeds `first + t`, `first + t + threads`, ...
fn walker(sh: &Shared, t: u64, threads: u64) -> HashSet<u64> {
    let props = sh.model.properties();
    let mut seen = HashSet::new();
    let mut k = 0;
    while !sh.stop.load(Ordering::Relaxed) {
        let seed = sh.cfg.first_seed + k * threads + t;
        k += 1;
        let bias = Bias::for_seed(seed, sh.model.cfg.servers);
        let mut held = vec![false; props.len()];
        let mut broken: Option<&'static str> = None;
        let mut stale = 0;
        let (steps, end) = walk_with(sh.model, seed, sh.cfg.walk_steps, &bias, |state, steps| {
            if seen.insert(fingerprint(state)) {
                sh.progress.distinct.fetch_add(1, Ordering::Relaxed);
                stale = 0;
            } else {
                stale += 1;
            }
            for (i, p) in props.iter().enumerate() {
                let holds = (p.condition)(sh.model, state);
                held[i] |= holds;
                match p.expectation {
                    Expectation::Always if !holds => broken = Some(p.name),
                    Expectation::Sometimes if holds => sh.record(p, seed, steps, false),
                    _ => {}
                }
            }
            // A walk that has long seen only states this thread knows is going round in
            // circles (on a duplicating network some delivery is always possible): stop it
            // and start another.
            broken.is_none() && stale < STALE_STEPS && !sh.stop.load(Ordering::Relaxed)
        });
        if let Some(name) = broken {
            let p = props.iter().find(|p| p.name == name).expect("a property");
            sh.record_violation(p, seed, &steps);
        }
        if end == End::Terminal {
            for (p, _) in (props.iter().zip(&held))
                .filter(|(p, h)| p.expectation == Expectation::Eventually && !**h)
            {
                sh.record_violation(p, seed, &steps);
            }
        }
        sh.progress.walks.fetch_add(1, Ordering::Relaxed);
        sh.progress
            .steps
            .fetch_add(steps.len() as u64, Ordering::Relaxed);
        *sh.lengths
            .lock()
            .expect("no walker panicked")
            .entry(steps.len() / 10 * 10)
            .or_default() += 1;
    }
    seen
}

impl Shared<'_> {
    /// Records a violation of `p` once it stands ([`stands`]), and otherwise says why not;
    /// the swarm goes on either way until the violation it waits for.
    fn record_violation(&self, p: &Property<BankModel>, seed: u64, steps: &[Step]) {
        if self
            .found
            .lock()
            .expect("no walker panicked")
            .0
            .contains_key(p.name)
        {
            return;
        }
        match stands(self.model, p, seed, steps) {
            Ok(()) => self.record(p, seed, steps, true),
            Err(why) => {
                let mut untrusted = self.untrusted.lock().expect("no walker panicked");
                if untrusted.len() < 8 {
                    untrusted.push(why);
                }
            }
        }
    }

    /// Records the first discovery of `p`, and stops the swarm if it was waited for.
    fn record(&self, p: &Property<BankModel>, seed: u64, steps: &[Step], violation: bool) {
        let mut found = self.found.lock().expect("no walker panicked");
        let map = if violation {
            &mut found.0
        } else {
            &mut found.1
        };
        if map.contains_key(p.name) {
            return;
        }
        map.insert(
            p.name,
            Found {
                seed,
                steps: steps.to_vec(),
                after: self.started.elapsed(),
            },
        );
        let counter = if violation {
            &self.progress.violated
        } else {
            &self.progress.reached
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let awaited = self.cfg.stop_at.is_none() || self.cfg.stop_at == Some(p.name);
        if violation && awaited && !self.cfg.to_timeout {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether a walk's violation of `p` stands: replayed through stateright's own step, the
/// handlers run afresh on this thread ([`crate::reference`]), its steps break `p` (for an
/// `eventually` property, end in a terminal state). The walk's own thread would only repeat
/// what its memo of steps computed. Otherwise, why not, and which part of the checker built
/// a state the steps do not lead to.
fn stands(
    model: &BankModel,
    p: &Property<BankModel>,
    seed: u64,
    steps: &[Step],
) -> Result<(), String> {
    let actions: Vec<_> = steps.iter().map(Step::to_action).collect();
    let why = |what: &str| {
        let part = crate::reference::diagnose(model, &actions).unwrap_or_else(|| {
            "they replay alike through the memo and deltas and through stateright's own \
             step, so the walk's thread computed a step differently: the memo of steps"
                .into()
        });
        format!(
            "a discovery of \"{}\" by the walk of seed {seed}: {what}; {part}",
            p.name
        )
    };
    let last =
        crate::reference::replay(model, &actions).ok_or_else(|| why("its steps do not replay"))?;
    match p.expectation {
        Expectation::Always if !(p.condition)(model, &last) => Ok(()),
        Expectation::Eventually if model.next_steps(&last).is_empty() => Ok(()),
        _ => Err(why("replayed, its steps do not break it")),
    }
}

/// Checks a discovery that stood once more, here, and shrinks an `always` violation.
fn confirm(model: &BankModel, name: &'static str, found: Found) -> Result<Found, String> {
    let props = model.properties();
    let p = props.iter().find(|p| p.name == name).expect("a property");
    stands(model, p, found.seed, &found.steps)?;
    match p.expectation {
        Expectation::Always => {
            let steps = trace::shrink(model, &found.steps, |s| !(p.condition)(model, s));
            Ok(Found { steps, ..found })
        }
        _ => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{scenarios, ModelConfig};

    fn run(cfg: &ModelConfig, secs: u64) -> Swarm {
        let swarm_cfg = SwarmConfig {
            threads: 2,
            first_seed: 1,
            walk_steps: 60,
            timeout: Duration::from_secs(secs),
            stop_at: None,
            to_timeout: false,
        };
        swarm(&crate::build(cfg), &swarm_cfg, &Progress::default())
    }

    #[test]
    fn the_literal_variants_double_spend_is_found_replayed_and_shrunk() {
        let cfg = ModelConfig {
            variant: paxchain::Variant::Literal,
            ..scenarios::by_name("default").unwrap().config
        };
        let s = run(&cfg, 30);
        assert!(s.untrusted.is_empty(), "{:?}", s.untrusted);
        let (name, found) = s.violated.iter().next().expect("a violation within 30 s");
        let model = crate::build(&cfg);
        let p = (model.properties().into_iter())
            .find(|p| p.name == *name)
            .unwrap();
        let last = trace::replay(&model, &found.steps).expect("it replays");
        assert!(!(p.condition)(&model, &last), "and breaks {name}");
        assert!(
            found.steps.len() <= 20,
            "shrunk: {} steps",
            found.steps.len()
        );
    }

    #[test]
    fn the_safe_protocol_survives_a_short_swarm_that_reaches_its_examples() {
        let cfg = scenarios::by_name("default").unwrap().config;
        let s = run(&cfg, 3);
        assert!(s.violated.is_empty(), "{:?}", s.violated.keys());
        assert!(
            s.walks > 50 && s.distinct > 1000,
            "{} walks, {} states",
            s.walks,
            s.distinct
        );
        assert!(s
            .reached
            .contains_key("a block is committed on two servers"));
        assert_eq!(s.lengths.values().sum::<u64>(), s.walks);
    }
}
