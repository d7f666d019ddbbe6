//! What a set of replayed walks covered. The walks themselves are the model's
//! (`paxchain_model::walk`), shared with the swarm search.

use paxchain_model::trace::Step;
use paxchain_model::BankModel;

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
    /// `Flush` timers fired: a server saved and answered what it had staged without waiting
    /// for its other sessions.
    pub flushes: usize,
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
                Step::Timeout { timer, .. } => {
                    self.timeouts += 1;
                    self.flushes += usize::from(*timer == paxchain::Timer::Flush);
                }
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
    fn coverage_counts_what_walks_reach() {
        let cfg = scenarios::by_name("crash-loss").unwrap().config;
        let model = crate::replay::model(&cfg);
        let mut c = Coverage::default();
        for seed in 0..20 {
            c.add(&model, &paxchain_model::walk::walk(&model, seed, 40));
        }
        assert_eq!(c.walks, 20);
        assert!(c.committed > 0 && c.crashes > 0 && c.losses > 0, "{c:?}");
    }
}
