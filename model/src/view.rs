//! A state as the symmetry and the fingerprint read it: either a built state, or a state
//! and the [`Delta`] of one step from it, read as the next state without building it.
//!
//! Where passive servers make a symmetry (reduction 5), the search merges a next state by
//! its representative's fingerprint. Building each next state only to fingerprint it cost
//! more than the rest of the step on the five-server presets (a copy of every flow, then
//! its drop, for the six in seven next states seen before). Through [`Next`], the sorting of
//! the passive servers and the fingerprint of the renamed state read the next state's
//! fields where the delta has them, and the parent's elsewhere, so only a new state is
//! built. FIFO links only: the symmetric presets have them, and elsewhere the next state is
//! built as before.

use crate::delta::Delta;
use crate::fingerprint::flow_word;
use crate::history::History;
use crate::node::NodeState;
use crate::BankState;
use paxchain::{Msg, Storage, Timer};
use stateright::actor::{Id, Network, Timers};
use std::sync::Arc;

/// Read access to the fields of a state that the symmetry and the fingerprint hash.
pub(crate) trait View {
    fn actor_count(&self) -> usize;
    fn state(&self, i: usize) -> &Arc<NodeState>;
    fn storage(&self, i: usize) -> Option<&Storage>;
    fn timers(&self, i: usize) -> &Timers<Timer>;
    fn crashed(&self, i: usize) -> bool;
    fn random(&self, i: usize) -> &BankRandom;
    fn history(&self) -> &History;
    /// Every flow of a FIFO network as its ends and the word of its messages
    /// ([`crate::fingerprint::flow_word`]), in the order of (source, destination); empty
    /// for any other network.
    fn flow_words(&self) -> FlowWords;
    /// The network, if it is not FIFO (then it is read as a whole).
    fn unordered(&self) -> Option<&Network<Msg>>;
}

/// Each flow's ends and the word of its messages, in the order of (source, destination).
pub(crate) type FlowWords = Vec<((Id, Id), u64)>;

/// One actor's random choices, as stateright keeps them.
pub(crate) type BankRandom = stateright::actor::RandomChoices<()>;

impl View for BankState {
    fn actor_count(&self) -> usize {
        self.actor_states.len()
    }
    fn state(&self, i: usize) -> &Arc<NodeState> {
        &self.actor_states[i]
    }
    fn storage(&self, i: usize) -> Option<&Storage> {
        self.actor_storages[i].as_ref()
    }
    fn timers(&self, i: usize) -> &Timers<Timer> {
        &self.timers_set[i]
    }
    fn crashed(&self, i: usize) -> bool {
        self.crashed[i]
    }
    fn random(&self, i: usize) -> &BankRandom {
        &self.random_choices[i]
    }
    fn history(&self) -> &History {
        &self.history
    }
    fn flow_words(&self) -> FlowWords {
        match &self.network {
            Network::Ordered(flows) => (flows.iter())
                .map(|(&ends, flow)| (ends, flow_word(flow)))
                .collect(),
            _ => Vec::new(),
        }
    }
    fn unordered(&self) -> Option<&Network<Msg>> {
        (!matches!(self.network, Network::Ordered(_))).then_some(&self.network)
    }
}

/// The state one step leads to from `last`, read through its delta (FIFO links only).
pub(crate) struct Next<'a> {
    last: &'a BankState,
    /// `last.flow_words()`, computed once for all of its next states.
    last_flows: &'a [((Id, Id), u64)],
    delta: &'a Delta,
}

impl<'a> Next<'a> {
    /// `None` unless `last` has FIFO links, where a delta says every flow it changes.
    /// `last_flows` is `last.flow_words()`.
    pub fn of(
        last: &'a BankState,
        last_flows: &'a [((Id, Id), u64)],
        delta: &'a Delta,
    ) -> Option<Next<'a>> {
        matches!(last.network, Network::Ordered(_)).then_some(Next {
            last,
            last_flows,
            delta,
        })
    }

    /// The step's delta.
    pub fn delta(&self) -> &Delta {
        self.delta
    }

    fn is_stepper(&self, i: usize) -> bool {
        self.delta.index == i
    }
}

impl View for Next<'_> {
    fn actor_count(&self) -> usize {
        self.last.actor_states.len()
    }
    fn state(&self, i: usize) -> &Arc<NodeState> {
        match &self.delta.state {
            Some(s) if self.is_stepper(i) => s,
            _ => &self.last.actor_states[i],
        }
    }
    fn storage(&self, i: usize) -> Option<&Storage> {
        match &self.delta.storage {
            Some(s) if self.is_stepper(i) => Some(s),
            _ => self.last.actor_storages[i].as_ref(),
        }
    }
    fn timers(&self, i: usize) -> &Timers<Timer> {
        match &self.delta.timers {
            Some(t) if self.is_stepper(i) => t,
            _ => &self.last.timers_set[i],
        }
    }
    fn crashed(&self, i: usize) -> bool {
        self.last.crashed[i]
    }
    fn random(&self, i: usize) -> &BankRandom {
        &self.last.random_choices[i]
    }
    fn history(&self) -> &History {
        self.delta.history.as_ref().unwrap_or(&self.last.history)
    }
    /// The parent's flows, with those the delta changed replaced (and the emptied left out),
    /// merged in order; only the changed ones are hashed.
    fn flow_words(&self) -> FlowWords {
        let mut words = Vec::with_capacity(self.last_flows.len() + self.delta.flows.len());
        let mut changed = self.delta.flows.iter().peekable();
        for &(ends, w) in self.last_flows {
            while let Some((&k, flow)) = changed.next_if(|(k, _)| **k < ends) {
                if !flow.is_empty() {
                    words.push((k, flow_word(flow)));
                }
            }
            match changed.next_if(|(k, _)| **k == ends) {
                Some((_, flow)) if flow.is_empty() => {}
                Some((_, flow)) => words.push((ends, flow_word(flow))),
                None => words.push((ends, w)),
            }
        }
        for (&k, flow) in changed.filter(|(_, f)| !f.is_empty()) {
            words.push((k, flow_word(flow)));
        }
        words
    }
    fn unordered(&self) -> Option<&Network<Msg>> {
        None
    }
}
