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
/// state is a new `Hashed` (clone the value, change it, and wrap it again).
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

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::{Account, Ballot, Log, Storage, Transfer, TxId};
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Arc;

    fn storage(promised: u32, amount: u64) -> Storage {
        let id = TxId::new(Account(0), 1);
        Storage {
            promised: Ballot {
                round: promised,
                ..Ballot::ZERO
            },
            log: Arc::new(Log::from(vec![Transfer::model_signed(
                id,
                Account(0),
                Account(1),
                amount,
            )])),
            ..Storage::default()
        }
    }

    #[test]
    fn a_hashed_value_hashes_and_compares_by_its_whole_value() {
        let h = RandomState::new();
        let (x, y) = (Hashed::new(storage(1, 5)), Hashed::new(storage(1, 5)));
        assert_eq!(x, y);
        assert_eq!(h.hash_one(&x), h.hash_one(&y));
        // A field at the top and one deep inside each change both the hash and equality.
        for other in [storage(2, 5), storage(1, 6)] {
            let z = Hashed::new(other);
            assert_ne!(x, z);
            assert_ne!(h.hash_one(&x), h.hash_one(&z));
        }
        assert_eq!(x.promised.round, 1, "the value reads through");
    }
}
