//! The fingerprint by which the search ([`crate::search`]) merges states.
//!
//! A fingerprint is a 64-bit hash of the whole state: two states with the same fingerprint
//! are taken to be the same state, so it must cover every field, and tell apart every two
//! states that differ.
//!
//! stateright's `Hash` for its `ActorModelState` covers every field but does not tell every
//! state apart. It hashes each set (the network, each actor's timers) by writing its
//! elements' hashes, sorted, and not how many there are; so in the list of the actors' timer
//! sets, `[{t}, {}]` and `[{}, {t}]` write the same words, and two states that differ only in
//! which server's timer is set get one fingerprint. model/tests/search.rs shows such a pair.
//!
//! Here a state is first cut into [`Parts`], a word each: every actor's state (which carries
//! its hash, [`crate::hashed`]), the history, every actor's timer set, the random choices,
//! the network, the crash flags, every actor's storage. A set's word is the wrapping sum of
//! its elements' hashes: it does not depend on their order, needs no buffer and no sort, and,
//! the elements of a set being distinct, two different sets collide only as often as two
//! random 64-bit numbers do (as in Zobrist hashing). The network's word is such a sum over
//! its messages (with their numbers of copies on a network that does not duplicate), or on
//! FIFO links over its flows, each as its ends and one word of its messages in order
//! ([`flow_word`]), so that a flow is hashed once however often it is read (the symmetry
//! reads each several times). The fingerprint hashes the words in one order
//! (`hash_words`).
//!
//! The parts are what make a next state's fingerprint cheap: a delivery changes one actor,
//! its timers and storage, the history and a few messages, so its fingerprint is the parent's
//! parts with those words replaced ([`Parts::with`]), and the search builds the next state
//! only if that fingerprint is new ([`crate::delta::Delta`]).

use crate::delta::Delta;
use crate::node::NodeState;
use crate::view::{Next, View};
use crate::BankState;
use paxchain::Msg;
use stateright::actor::{Envelope, Id, Network};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

fn seeds() -> ahash::RandomState {
    ahash::RandomState::with_seeds(5, 6, 7, 8)
}

fn word<T: Hash + ?Sized>(value: &T) -> u64 {
    seeds().hash_one(value)
}

/// A value's word: the hash every part of a fingerprint is made of.
pub fn word_of<T: Hash + ?Sized>(value: &T) -> u64 {
    word(value)
}

/// The order-free hash of a set's elements.
fn sum_of<T: Hash>(items: impl Iterator<Item = T>) -> u64 {
    items.fold(0u64, |sum, item| sum.wrapping_add(word(&item)))
}

/// One word per part of a state; see the module comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    actors: Vec<u64>,
    history: u64,
    timers: Vec<u64>,
    random: u64,
    /// Which kind of network, the sum over what is in flight, and its last delivery.
    network: [u64; 3],
    crashed: u64,
    storages: Vec<u64>,
}

impl Parts {
    /// The parts of `s`.
    pub fn of(s: &BankState) -> Parts {
        let network = network(&s.network);
        Parts {
            actors: s.actor_states.iter().map(|a| word(&**a)).collect(),
            history: word(&s.history),
            timers: s.timers_set.iter().map(|t| sum_of(t.iter())).collect(),
            random: word(&s.random_choices),
            network,
            crashed: word(&s.crashed),
            storages: s.actor_storages.iter().map(word).collect(),
        }
    }

    /// The fingerprint of the state `delta` makes of `last`, whose parts these are.
    pub fn with(&self, last: &BankState, delta: &Delta) -> u64 {
        let i = delta.index;
        let actor = (delta.state.as_ref()).map_or(self.actors[i], |s| word(&**s));
        let timers = (delta.timers.as_ref()).map_or(self.timers[i], |t| sum_of(t.iter()));
        let storage = (delta.storage.as_ref()).map_or(self.storages[i], |s| word(&Some(s)));
        let history = delta.history.as_ref().map_or(self.history, word);
        let added = (delta.added.iter()).fold(self.network[1], |sum, e| sum.wrapping_add(word(e)));
        let mut network = (delta.removed.iter()).fold(added, |sum, e| sum.wrapping_sub(word(e)));
        match &last.network {
            Network::Ordered(queues) => {
                for (key, flow) in &delta.flows {
                    if let Some(old) = queues.get(key) {
                        network = network.wrapping_sub(word(&(*key, flow_word(old))));
                    }
                    if !flow.is_empty() {
                        network = network.wrapping_add(word(&(*key, flow_word(flow))));
                    }
                }
            }
            Network::UnorderedNonDuplicating(bag) => {
                for (env, n) in &delta.copies {
                    if let Some(old) = bag.get(env) {
                        network = network.wrapping_sub(word(&(env, old)));
                    }
                    if *n > 0 {
                        network = network.wrapping_add(word(&(env, n)));
                    }
                }
            }
            Network::UnorderedDuplicating(..) => {}
        }
        self.combine(Some((i, [actor, timers, storage])), history, network)
    }

    /// The fingerprint of the state these are the parts of: never 0.
    pub fn fingerprint(&self) -> u64 {
        self.combine(None, self.history, self.network[1])
    }

    /// [`hash_words`] of these parts, with actor `i`'s three words (state, timers,
    /// storage), the history's and the network's as given.
    fn combine(&self, actor: Option<(usize, [u64; 3])>, history: u64, network: u64) -> u64 {
        let [kind, _, last] = self.network;
        hash_words(
            replaced(&self.actors, actor, 0),
            history,
            replaced(&self.timers, actor, 1),
            [self.random, kind, network, last, self.crashed],
            replaced(&self.storages, actor, 2),
        )
    }
}

/// The per-actor `words`, with actor `i`'s replaced by the `which`-th of its new three.
fn replaced(
    words: &[u64],
    actor: Option<(usize, [u64; 3])>,
    which: usize,
) -> impl Iterator<Item = u64> + '_ {
    (words.iter().enumerate()).map(move |(k, &w)| match actor {
        Some((i, new)) if i == k => new[which],
        _ => w,
    })
}

/// The fingerprint of `s`: every field of stateright's state, never 0. The same as
/// `Parts::of(s).fingerprint()`, without gathering the parts first.
pub fn fingerprint(s: &BankState) -> u64 {
    let [kind, in_flight, last] = network(&s.network);
    hash_words(
        s.actor_states.iter().map(|a| word(&**a)),
        word(&s.history),
        s.timers_set.iter().map(|t| sum_of(t.iter())),
        [
            word(&s.random_choices),
            kind,
            in_flight,
            last,
            word(&s.crashed),
        ],
        s.actor_storages.iter().map(word),
    )
}

/// The fingerprint of `rename(s, renamed)` (`crate::symmetry::rename`) without building it:
/// actor `i`'s parts become actor `renamed[i]`'s, with its state as `state` gives it (a
/// leader's voters are renamed), and every message's ends are renamed. `s` is a built state
/// or a next state read through its delta ([`crate::view`]); `flows` is `s.flow_words()`.
pub(crate) fn of_renamed(
    s: &impl View,
    flows: &[((Id, Id), u64)],
    renamed: &[usize],
    state: impl Fn(&Arc<NodeState>) -> Arc<NodeState>,
) -> u64 {
    let network = match s.unordered() {
        Some(net) => renamed_network(net, &|i| renamed[i]),
        None => ordered_words(flows, &|i| renamed[i]),
    };
    let actor = |i: usize| {
        [
            word(&*state(s.state(i))),
            sum_of(s.timers(i).iter()),
            word(&s.storage(i)),
        ]
    };
    words_of(
        s,
        &slots(Some(renamed), s.actor_count()),
        actor,
        word(s.history()),
        network,
    )
}

/// The fingerprint of a next state read through its delta ([`crate::view::Next`]), renamed
/// by `renamed` if given (a leader's voters too): what [`fingerprint`] gives for the state
/// built, and renamed. `parts` are the parent's: an actor the step did not change keeps its
/// words, but for a leader whose voters the renaming moves. `flows` is `next.flow_words()`.
pub(crate) fn of_next(
    parts: &Parts,
    next: &Next<'_>,
    flows: &[((Id, Id), u64)],
    renamed: Option<&[usize]>,
) -> u64 {
    let delta = next.delta();
    let stepped = |i: usize| i == delta.index;
    let actor = |i: usize| {
        let st = next.state(i);
        let moved = renamed.map_or_else(|| st.clone(), |r| crate::symmetry::rename_voters(st, r));
        let state = match stepped(i) && delta.state.is_some() || !Arc::ptr_eq(&moved, st) {
            true => word(&*moved),
            false => parts.actors[i],
        };
        let timers = match stepped(i) && delta.timers.is_some() {
            true => sum_of(next.timers(i).iter()),
            false => parts.timers[i],
        };
        let storage = match stepped(i) && delta.storage.is_some() {
            true => word(&next.storage(i)),
            false => parts.storages[i],
        };
        [state, timers, storage]
    };
    let history = (delta.history.as_ref()).map_or(parts.history, word);
    let network = ordered_words(flows, &|i| renamed.map_or(i, |r| r[i]));
    words_of(
        next,
        &slots(renamed, next.actor_count()),
        actor,
        history,
        network,
    )
}

/// Which actor each slot holds under `renamed` (actor `i` moves to slot `renamed[i]`; `None`
/// moves none).
fn slots(renamed: Option<&[usize]>, n: usize) -> Vec<usize> {
    let mut from: Vec<usize> = (0..n).collect();
    for (i, &to) in renamed.into_iter().flatten().enumerate() {
        from[to] = i;
    }
    from
}

/// [`hash_words`] of `s`'s actors in the order `from` lists them (slot `k` holds actor
/// `from[k]`): each actor's state, timers and storage words as `actor` gives them, the
/// history's word and the network's words.
fn words_of(
    s: &impl View,
    from: &[usize],
    actor: impl Fn(usize) -> [u64; 3],
    history: u64,
    [kind, in_flight, last]: [u64; 3],
) -> u64 {
    let words: Vec<[u64; 3]> = from.iter().map(|&i| actor(i)).collect();
    let crashed: Vec<bool> = from.iter().map(|&i| s.crashed(i)).collect();
    let random: Vec<_> = from.iter().map(|&i| s.random(i)).collect();
    hash_words(
        words.iter().map(|w| w[0]),
        history,
        words.iter().map(|w| w[1]),
        [word(&random), kind, in_flight, last, word(&crashed)],
        words.iter().map(|w| w[2]),
    )
}

/// The word of one flow's messages, in order: a flow enters the network's word as its ends
/// and this word, so a flow is hashed once however many times it is read.
pub(crate) fn flow_word(flow: &VecDeque<Msg>) -> u64 {
    word(flow)
}

/// The three words of FIFO links given as their flows' ends and words, with every actor
/// `i` renamed `renamed(i)`.
fn ordered_words(flows: &[((Id, Id), u64)], renamed: &dyn Fn(usize) -> usize) -> [u64; 3] {
    let id = |i: Id| Id::from(renamed(usize::from(i)));
    [
        2,
        sum_of(flows.iter().map(|&((a, b), w)| ((id(a), id(b)), w))),
        0,
    ]
}

/// A state's words hashed in their one order: every actor's state, the history, every
/// actor's timers, then the random choices, the network's three words and the crash flags,
/// then every actor's storage. Never 0.
fn hash_words(
    actors: impl Iterator<Item = u64>,
    history: u64,
    timers: impl Iterator<Item = u64>,
    middle: [u64; 5],
    storages: impl Iterator<Item = u64>,
) -> u64 {
    let mut h = seeds().build_hasher();
    actors.for_each(|w| h.write_u64(w));
    h.write_u64(history);
    timers.for_each(|w| h.write_u64(w));
    middle.iter().for_each(|&w| h.write_u64(w));
    storages.for_each(|w| h.write_u64(w));
    h.finish().max(1)
}

/// The network's three words: its kind, the sum over what is in flight (messages, or flows
/// on FIFO links), and the duplicating network's last delivery.
fn network(net: &Network<Msg>) -> [u64; 3] {
    renamed_network(net, &|i| i)
}

/// The three words of `net` with every actor `i` renamed `renamed(i)`: the one place that
/// says how a network is hashed. (An envelope or flow of borrowed parts hashes as the owned
/// one does, which is what `Parts::with` hashes for a delta.)
fn renamed_network(net: &Network<Msg>, renamed: &dyn Fn(usize) -> usize) -> [u64; 3] {
    let id = |i: Id| Id::from(renamed(usize::from(i)));
    fn env(e: &Envelope<Msg>, id: impl Fn(Id) -> Id) -> Envelope<&Msg> {
        Envelope {
            src: id(e.src),
            dst: id(e.dst),
            msg: &e.msg,
        }
    }
    match net {
        Network::UnorderedDuplicating(set, last) => [
            0,
            sum_of(set.iter().map(|e| env(e, id))),
            word(&last.as_ref().map(|e| env(e, id))),
        ],
        Network::UnorderedNonDuplicating(counts) => {
            [1, sum_of(counts.iter().map(|(e, n)| (env(e, id), n))), 0]
        }
        Network::Ordered(queues) => {
            let flows: Vec<_> = (queues.iter())
                .map(|(&ends, flow)| (ends, flow_word(flow)))
                .collect();
            ordered_words(&flows, renamed)
        }
    }
}
