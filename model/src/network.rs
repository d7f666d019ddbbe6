//! The model's network as a list: every message in flight, once per copy.
//!
//! stateright 0.31's `Network::iter_all` is not to be trusted for this: on a non-
//! duplicating network it yields a message held twice three times, and on an ordered one it
//! did not end (a page of a crash-laden trace ran out of memory). This reads the three
//! kinds' own containers instead.

use paxchain::Msg;
use stateright::actor::{Envelope, Network};

/// Every message in `network`, once per copy: in order on each link of an ordered network,
/// once for a duplicating network (which holds a set).
pub fn envelopes(network: &Network<Msg>) -> Vec<Envelope<Msg>> {
    match network {
        Network::UnorderedDuplicating(set, _) => set.iter().cloned().collect(),
        Network::UnorderedNonDuplicating(bag) => bag
            .iter()
            .flat_map(|(e, &k)| std::iter::repeat_n(e.clone(), k))
            .collect(),
        Network::Ordered(flows) => flows
            .iter()
            .flat_map(|(&(src, dst), q)| {
                q.iter().map(move |msg| Envelope {
                    src,
                    dst,
                    msg: msg.clone(),
                })
            })
            .collect(),
    }
}
