//! A value with its hash computed once: the parts of a model state that most steps share.
//!
//! The checker fingerprints every state it generates, hashing the whole state, and a step
//! changes one actor: the other actors' states are shared with the state before. Hashing
//! each actor state once, where it is made, instead of in every fingerprint, takes their
//! share of fingerprinting off every step. (The history is small and changes rarely;
//! caching its hash measured slower, so it is hashed whole.)

use std::fmt;
use std::hash::{Hash, Hasher};

/// A value with its hash computed once, when it is made.
///
/// Its `Hash` writes the cached 64-bit hash of the whole value, so it covers every field;
/// equality compares the hashes, then the values. There is no mutable access: a changed
/// state is a new `Hashed`.
#[derive(Clone)]
pub struct Hashed<T> {
    value: T,
    hash: u64,
}

impl<T: Hash> Hashed<T> {
    pub fn new(value: T) -> Self {
        // Fixed keys: the same state hashes the same in every run.
        let hash = ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(&value);
        Hashed { value, hash }
    }

    /// The value, to change it (and hash it anew with [`Hashed::new`]).
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> std::ops::Deref for Hashed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Hashed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.value == other.value
    }
}

impl<T: Eq> Eq for Hashed<T> {}

impl<T> Hash for Hashed<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<T: fmt::Debug> fmt::Debug for Hashed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f) // transparent: traces print the state itself
    }
}
