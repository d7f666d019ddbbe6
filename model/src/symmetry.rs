//! Reduction 5: symmetry among the servers no client talks to.
//!
//! A server without a client (and without the rogue client) never waits for consensus, so it
//! never starts an election, never leads a ballot and never spends from its own account. Its
//! index then appears nowhere but in where its messages go and come from: a ballot names
//! only its leader, a block names accounts (not servers), and a passive server answers only
//! the server that wrote to it. So in the five-server presets, where A and E have clients,
//! renaming B, C and D among themselves maps every run to a run: the servers run the same
//! handlers with the same configuration (every server's peers are all the others), and
//! every property quantifies over all servers alike. That the handlers do treat them alike
//! is the premise, checked on every distinct step the search takes ([`crate::premises`]). One state of each such *orbit* is
//! enough, which is up to 3! = 6 times fewer states.
//!
//! How it is applied:
//! 1. [`ModelConfig::interchangeable_servers`] says which servers are passive; two or more
//!    make a symmetry.
//! 2. The search ([`crate::search`], in either order) and stateright's DFS and simulation
//!    apply a representative function: they merge a state with every state that has the same
//!    representative, and go on exploring the state itself, so every reported path is a real
//!    run. paxchain's search needs only the representative's fingerprint, which
//!    [`representative_fingerprint`] computes from the state and the renaming without
//!    building the renamed state (model/tests/passive_servers.rs checks it equals the built
//!    one's in every state of every orbit it walks).
//! 3. The representative sorts the passive servers by a key that is unchanged when the other
//!    passive servers are renamed: each one's state, storage, crash flag and timers, its
//!    flows to and from every other actor (taken in index order), and whether it is counted
//!    among the voters of each leader's round. Two passive servers with equal keys are equal
//!    in everything, so the order among them does not matter and the result is canonical.
//! 4. That argument needs that no message runs between two passive servers (none ever does:
//!    each one only answers the actor that wrote to it). A state where one does is returned
//!    as it is, which is still sound, only not merged.
//!
//! stateright wants a plain `fn` pointer, which cannot hold the set of passive servers; one
//! function is instantiated per set (a bit mask over at most seven servers).

use crate::bank_model::{in_flight, BankState};
use crate::config::ModelConfig;
use crate::delta::Delta;
use crate::fingerprint;
use crate::node::NodeState;
use crate::view::{FlowWords, Next, View};
use paxchain::server::Voters;
use stateright::actor::{Envelope, Id, Network};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// A representative function as stateright takes it.
pub type Representative = fn(&BankState) -> BankState;

impl ModelConfig {
    /// The servers that no client talks to, as a bit mask by index: they are interchangeable
    /// (see the module comment) if the handlers treat them alike, which the model checks on
    /// every distinct step (`crate::premises`). Empty when symmetry or the reductions are off.
    pub fn interchangeable_servers(&self) -> u32 {
        if !self.symmetry || !self.reduce || self.attacker {
            return 0;
        }
        self.passive_servers()
    }

    /// The representative function for depth-first search, if two or more servers are
    /// interchangeable.
    pub fn symmetry(&self) -> Option<Representative> {
        let mask = self.interchangeable_servers();
        (mask.count_ones() >= 2).then(|| TABLE[mask as usize])
    }

    /// The fingerprint of a state's representative ([`representative_fingerprint`]), if two
    /// or more servers are interchangeable.
    pub fn symmetric_fingerprint(&self) -> Option<fn(&BankState) -> u64> {
        let mask = self.interchangeable_servers();
        (mask.count_ones() >= 2).then(|| FINGERPRINTS[mask as usize])
    }
}

fn canonical<const MASK: u32>(s: &BankState) -> BankState {
    representative(MASK, s)
}

fn canonical_fingerprint<const MASK: u32>(s: &BankState) -> u64 {
    representative_fingerprint(MASK, s)
}

macro_rules! table {
    ($f:ident, $t:ty, $($mask:literal)*) => { [$($f::<$mask> as $t),*] };
}

macro_rules! masks {
    ($f:ident, $t:ty) => { table!($f, $t,
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91
    92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115
    116 117 118 119 120 121 122 123 124 125 126 127
    ) };
}

/// One instance per mask of at most seven servers (the model's limit).
static TABLE: [Representative; 128] = masks!(canonical, Representative);
/// The same, for the representative's fingerprint.
static FINGERPRINTS: [fn(&BankState) -> u64; 128] =
    masks!(canonical_fingerprint, fn(&BankState) -> u64);

/// The state of `s`'s orbit with the passive servers (`mask`) sorted by their keys.
pub fn representative(mask: u32, s: &BankState) -> BankState {
    let flows = s.flow_words();
    match sorting(mask, s, &flows, whole_keys(mask, s, &flows)) {
        Some(renamed) => rename(s, &renamed),
        None => s.clone(),
    }
}

/// The fingerprint of `representative(mask, s)`, without building it: what the search
/// merges states by (5. above).
pub fn representative_fingerprint(mask: u32, s: &BankState) -> u64 {
    representative_fingerprint_and_renaming(mask, s).0
}

/// [`representative_fingerprint`], and the renaming of `s`'s actors in the representative
/// (`None`: `s` is its own).
pub(crate) fn representative_fingerprint_and_renaming(
    mask: u32,
    s: &BankState,
) -> (u64, Option<Vec<usize>>) {
    let flows = s.flow_words();
    let renamed = sorting(mask, s, &flows, whole_keys(mask, s, &flows));
    let print = match &renamed {
        Some(renamed) => {
            fingerprint::of_renamed(s, &flows, renamed, |st| rename_voters(st, renamed))
        }
        None => fingerprint::fingerprint(s),
    };
    (print, renamed)
}

/// The same for the state `delta` makes of `last`, without building it either, where
/// `last` has FIFO links ([`crate::view`]); `None` elsewhere.
pub fn representative_fingerprint_of_delta(
    mask: u32,
    last: &BankState,
    delta: &Delta,
) -> Option<u64> {
    representative_fingerprint_of_next(mask, last, &Parent::of(mask, last), delta).map(|(f, _)| f)
}

/// What every next state of one state shares for [`representative_fingerprint_of_next`]:
/// the state's flows as words, and each passive server's key. A step changes the key of
/// few passive servers (the one that stepped, those its flows touch, those whose vote a
/// leader's step counted or dropped); the others keep their parent's.
pub(crate) struct Parent {
    parts: fingerprint::Parts,
    flows: FlowWords,
    /// By actor index; 0 for an actor that is not passive.
    keys: Vec<u64>,
}

impl Parent {
    pub(crate) fn of(mask: u32, s: &BankState) -> Parent {
        let flows = s.flow_words();
        let passive = |i: usize| is_passive(mask, i);
        let keys = (0..s.actor_count())
            .map(|p| match passive(p) {
                true => key(s, &flows, &passive, p),
                false => 0,
            })
            .collect();
        Parent {
            parts: fingerprint::Parts::of(s),
            flows,
            keys,
        }
    }
}

/// [`representative_fingerprint_of_delta`], given what `last`'s next states share, and the
/// next state's renaming in its representative (`None`: it is its own).
pub(crate) fn representative_fingerprint_of_next(
    mask: u32,
    last: &BankState,
    parent: &Parent,
    delta: &Delta,
) -> Option<(u64, Option<Vec<usize>>)> {
    let next = Next::of(last, &parent.flows, delta)?;
    let flows = next.flow_words();
    let passive = |i: usize| is_passive(mask, i);
    let stepper = delta.index;
    let voted = |st: &NodeState, p: usize| match st {
        NodeState::Server(st) => st.round.as_ref().map(|r| r.phase.voters().contains(p)),
        _ => None,
    };
    let changed = |p: usize| {
        p == stepper
            || (delta.flows.keys()).any(|&(a, b)| usize::from(a) == p || usize::from(b) == p)
            || delta.state.as_ref().is_some_and(|new| {
                !passive(stepper) && voted(new, p) != voted(&last.actor_states[stepper], p)
            })
    };
    let key_of = |p: usize| match changed(p) {
        true => key(&next, &flows, &passive, p),
        false => parent.keys[p],
    };
    let renamed = sorting(mask, &next, &flows, key_of);
    let print = fingerprint::of_next(&parent.parts, &next, &flows, renamed.as_deref());
    Some((print, renamed))
}

/// The renaming that sorts the passive servers (`mask`) of `s` by their keys (3. above), or
/// `None` if `s` is its own representative. `flows` is `s.flow_words()`; `key_of(p)` is
/// `key(s, flows, .., p)`, perhaps known already.
fn sorting(
    mask: u32,
    s: &impl View,
    flows: &[((Id, Id), u64)],
    key_of: impl Fn(usize) -> u64,
) -> Option<Vec<usize>> {
    let passive = |i: usize| is_passive(mask, i);
    let between_passive = links(s, flows).any(|(src, dst)| passive(src) && passive(dst));
    if between_passive {
        return None; // 4. sound, only not merged
    }
    let slots: Vec<usize> = (0..s.actor_count()).filter(|&i| passive(i)).collect();
    let mut order = slots.clone();
    order.sort_by_cached_key(|&p| key_of(p));
    if order == slots {
        return None;
    }
    // Passive server `order[k]` moves to slot `slots[k]`; every other actor stays.
    let mut renamed: Vec<usize> = (0..s.actor_count()).collect();
    for (&from, &to) in order.iter().zip(&slots) {
        renamed[from] = to;
    }
    Some(renamed)
}

/// Each passive server's key in `s`, computed when asked.
fn whole_keys<'a>(
    mask: u32,
    s: &'a BankState,
    flows: &'a [((Id, Id), u64)],
) -> impl Fn(usize) -> u64 + 'a {
    move |p| key(s, flows, &|i: usize| is_passive(mask, i), p)
}

/// Whether actor `i` is one of the passive servers of `mask`.
fn is_passive(mask: u32, i: usize) -> bool {
    i < 32 && mask & (1 << i) != 0
}

/// A hasher with fixed keys, so a key is the same in every run and on every thread.
fn hasher() -> ahash::AHasher {
    ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher()
}

/// What the passive server `p` is, without the names of the other passive servers (3.).
fn key(
    s: &impl View,
    flows: &[((Id, Id), u64)],
    passive: &impl Fn(usize) -> bool,
    p: usize,
) -> u64 {
    let mut h = hasher();
    s.state(p).hash(&mut h);
    s.storage(p).hash(&mut h);
    s.crashed(p).hash(&mut h);
    s.timers(p).hash(&mut h);
    s.random(p).hash(&mut h);
    for a in (0..s.actor_count()).filter(|&a| !passive(a)) {
        let counted = match &**s.state(a) {
            NodeState::Server(st) => st.round.as_ref().map(|r| r.phase.voters().contains(p)),
            _ => None,
        };
        (a, counted).hash(&mut h);
    }
    match s.unordered() {
        None => {
            for &((src, dst), flow) in flows {
                let (src, dst) = (usize::from(src), usize::from(dst));
                if src == p || dst == p {
                    (src == p, src + dst - p, flow).hash(&mut h);
                }
            }
        }
        // Sets and bags have no order: sum the envelopes' hashes.
        Some(net) => {
            let mut sum = 0u64;
            for e in in_flight(net) {
                let (src, dst) = (usize::from(e.src), usize::from(e.dst));
                if src == p || dst == p {
                    let mut eh = hasher();
                    (src == p, src + dst - p, e.msg).hash(&mut eh);
                    sum = sum.wrapping_add(eh.finish());
                }
            }
            sum.hash(&mut h);
        }
    }
    h.finish()
}

/// The (source, destination) of every message in flight (on FIFO links, of every flow).
fn links<'a>(
    s: &'a impl View,
    flows: &'a [((Id, Id), u64)],
) -> Box<dyn Iterator<Item = (usize, usize)> + 'a> {
    let ends = |src: Id, dst: Id| (usize::from(src), usize::from(dst));
    match s.unordered() {
        None => Box::new(flows.iter().map(move |&((a, b), _)| ends(a, b))),
        Some(net) => Box::new(in_flight(net).map(move |e| ends(e.src, e.dst))),
    }
}

/// `s` with actor `i` renamed `renamed[i]` everywhere (`renamed` is a permutation of the
/// actor indices that moves only passive servers).
pub fn rename(s: &BankState, renamed: &[usize]) -> BankState {
    let id = |i: Id| Id::from(renamed[usize::from(i)]);
    let mut next = s.clone();
    for (i, &to) in renamed.iter().enumerate() {
        next.actor_states[to] = rename_voters(&s.actor_states[i], renamed);
        next.actor_storages[to] = s.actor_storages[i].clone();
        next.crashed[to] = s.crashed[i];
        next.timers_set[to] = s.timers_set[i].clone();
        next.random_choices[to] = s.random_choices[i].clone();
    }
    let env = |e: &Envelope<_>| Envelope {
        src: id(e.src),
        dst: id(e.dst),
        msg: Clone::clone(&e.msg),
    };
    next.network = match &s.network {
        Network::Ordered(flows) => Network::Ordered(
            (flows.iter())
                .map(|(&(src, dst), flow)| ((id(src), id(dst)), flow.clone()))
                .collect(),
        ),
        Network::UnorderedDuplicating(set, last) => {
            Network::UnorderedDuplicating(set.iter().map(env).collect(), last.as_ref().map(env))
        }
        Network::UnorderedNonDuplicating(bag) => {
            Network::UnorderedNonDuplicating(bag.iter().map(|(e, &n)| (env(e), n)).collect())
        }
    };
    next
}

/// A leader's round counts voters by index: rename them too.
pub(crate) fn rename_voters(st: &Arc<NodeState>, renamed: &[usize]) -> Arc<NodeState> {
    let NodeState::Server(server) = &**st else {
        return st.clone();
    };
    let Some(round) = &server.round else {
        return st.clone();
    };
    let old = *round.phase.voters();
    let mut new = Voters::default();
    for i in (0..renamed.len()).filter(|&i| old.contains(i)) {
        new.insert(renamed[i]);
    }
    if new == old {
        return st.clone();
    }
    let mut server = paxchain::ServerState::clone(server);
    *server
        .round
        .as_mut()
        .expect("matched above")
        .phase
        .voters_mut() = new;
    Arc::new(NodeState::from(server))
}
