//! The fingerprint by which the search ([`crate::search`]) merges states.
//!
//! A fingerprint is a 64-bit hash of the whole state: two states with the same fingerprint
//! are taken to be the same state, so it must cover every field. stateright's `Hash` for its
//! `ActorModelState` does, but it hashes each set (the network, each actor's timers) by
//! hashing every element with a fresh hasher into a thread-local buffer, sorting the buffer
//! and hashing that: an order-free hash of a set, paid on every state the search examines.
//!
//! This one covers the same fields in the same way, except that a set's hash is the wrapping
//! sum of its elements' hashes. A sum does not depend on the order of the elements either,
//! needs no buffer and no sort, and, the elements of a set being distinct, two different sets
//! collide only as often as two random 64-bit numbers do (as in Zobrist hashing).
//!
//! Actor states carry their hash ([`crate::hashed`]), so the actors cost a word each.

use crate::BankState;
use stateright::actor::Network;
use std::hash::{BuildHasher, Hash, Hasher};

fn seeds() -> ahash::RandomState {
    ahash::RandomState::with_seeds(5, 6, 7, 8)
}

/// The order-free hash of a set's elements.
fn sum_of<T: Hash>(items: impl Iterator<Item = T>) -> u64 {
    let seeds = seeds();
    items.fold(0u64, |sum, item| sum.wrapping_add(seeds.hash_one(item)))
}

/// The fingerprint of `s`: every field of stateright's state, never 0.
pub fn fingerprint(s: &BankState) -> u64 {
    let mut h = seeds().build_hasher();
    s.actor_states.hash(&mut h);
    s.history.hash(&mut h);
    for timers in &s.timers_set {
        h.write_u64(sum_of(timers.iter()));
    }
    s.random_choices.hash(&mut h);
    match &s.network {
        Network::UnorderedDuplicating(set, last) => {
            h.write_u8(0);
            h.write_u64(sum_of(set.iter()));
            last.hash(&mut h);
        }
        Network::UnorderedNonDuplicating(counts) => {
            h.write_u8(1);
            h.write_u64(sum_of(counts.iter()));
        }
        Network::Ordered(queues) => {
            h.write_u8(2);
            queues.hash(&mut h);
        }
    }
    s.crashed.hash(&mut h);
    s.actor_storages.hash(&mut h);
    h.finish().max(1)
}
