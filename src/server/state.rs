//! What a server holds: the durable [`Storage`] a crash must not forget, and the volatile rest.

use crate::chain::{Block, Chain};
use crate::ids::{Account, Ballot, Height, Session};
use crate::ledger::Transfer;
use crate::log::{Log, Marks};
use crate::msg::{AcceptedBlock, Outcome};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stateright::actor::Id;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a crash must not forget. A step that changes it saves it once, before any send
/// (see `ServerActor::step`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Storage {
    /// The highest ballot promised (or led): never accept or lead below it again.
    pub promised: Ballot,
    /// The block accepted for the height after the tip, and under which ballot.
    pub accepted: Option<AcceptedBlock>,
    /// The committed blocks; shared with the volatile state, never copied.
    pub chain: Arc<Chain>,
    /// Own clients' transfers executed here and not yet in the chain, in execution order.
    /// Changed only through `Arc::make_mut`.
    pub log: Arc<Log>,
    /// Per session of the own account, the last final outcome given, with the transfer it
    /// answered: retries get it again, older requests are ignored, and a different transfer
    /// under its id is refused. This is what makes a retried or duplicated request execute
    /// once.
    pub last_outcomes: Outcomes,
}

/// The last outcome given to each session: a map, and a count of its changes that only the
/// deployment reads (a step tells whether to save by it, without copying the map).
///
/// The value is the map: equality, hashing, printing and serialization see it alone, so two
/// servers that gave the same answers are in the same state however they got there (the
/// model checker merges them, as it merges equal chains held in different `Arc`s). No rule
/// reads the count.
#[derive(Clone, Default)]
pub struct Outcomes {
    /// Shared by the copies of a state the model checker makes, until one changes it.
    answered: Arc<BTreeMap<Session, Answered>>,
    /// Changes since this value was built; not part of the value.
    version: u64,
}

impl Outcomes {
    /// The last outcome given to `session`.
    pub fn get(&self, session: Session) -> Option<&Answered> {
        self.answered.get(&session)
    }

    /// Records `answered` as `session`'s last outcome.
    pub fn insert(&mut self, session: Session, answered: Answered) {
        Arc::make_mut(&mut self.answered).insert(session, answered);
        self.version += 1;
    }

    /// Every session answered, in session order.
    pub fn iter(&self) -> impl Iterator<Item = (Session, &Answered)> {
        self.answered.iter().map(|(s, a)| (*s, a))
    }

    /// The sessions ever answered, in order.
    pub fn sessions(&self) -> impl Iterator<Item = Session> + '_ {
        self.answered.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.answered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answered.is_empty()
    }

    /// How many changes this value has seen since it was built (bookkeeping).
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl FromIterator<(Session, Answered)> for Outcomes {
    fn from_iter<I: IntoIterator<Item = (Session, Answered)>>(iter: I) -> Outcomes {
        Outcomes {
            answered: Arc::new(iter.into_iter().collect()),
            version: 0,
        }
    }
}

impl PartialEq for Outcomes {
    fn eq(&self, other: &Outcomes) -> bool {
        self.answered == other.answered
    }
}

impl Eq for Outcomes {}

impl Hash for Outcomes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.answered.hash(state);
    }
}

impl std::fmt::Debug for Outcomes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.answered.fmt(f)
    }
}

impl Serialize for Outcomes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.answered.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Outcomes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Outcomes, D::Error> {
        BTreeMap::deserialize(d).map(|answered| Outcomes {
            answered: Arc::new(answered),
            version: 0,
        })
    }
}

/// A transfer and the final outcome it was given.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Answered {
    pub transfer: Transfer,
    pub outcome: Outcome,
}

/// The server's whole state. Serializable so that a server in conformance mode can report
/// it to the harness that compares it with the model's (deploy/src/conformance.rs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerState {
    /// Durable: everything here is also in the last save.
    pub storage: Storage,
    /// Leader (volatile): the instance this server is leading, if any.
    pub round: Option<Round>,
    /// Client (volatile): per session, the short-balance transfer waiting for consensus, and
    /// whom to answer.
    pub waiting: BTreeMap<Session, Waiting>,
    /// Client (volatile): transfers executed on the fast path since the last save, in order,
    /// at most one per session; saved and answered together by the next flush (group commit,
    /// spec/protocol.md). Never sent anywhere before that save.
    pub staged: Vec<Waiting>,
    /// Client (volatile): sessions the last flush closed by its timer waited for in vain; a
    /// flush does not wait for them again until they submit.
    pub idle: BTreeSet<Session>,
    /// Read by the model's properties only; no rule of the protocol looks at it.
    pub instrumentation: Instrumentation,
}

/// Facts about a server's past that only the model's properties read. Volatile, and part of
/// the state (so of its hash) only because stateright's history cannot see a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instrumentation {
    /// The tip height this incarnation restarted from after a crash (`None`: never crashed).
    pub restarted_at: Option<Height>,
    /// Whether one flush of this incarnation has saved and answered two sessions' transfers
    /// together (group commit at work).
    pub batched: bool,
    /// Whether this incarnation acted on a relayed peer message sealed for another server.
    /// Set by the model, which knows what its attacker relayed (model/src/attacker.rs); the
    /// server itself never sets it.
    pub acted_on_relay: bool,
}

/// A transfer waiting for consensus, or staged for the next flush.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Waiting {
    /// Where the outcome goes.
    pub client: Id,
    /// The transfer.
    pub transfer: Transfer,
    /// The round of the server's promise when it began to wait: every ballot round since
    /// (another server's election it promised, or its own that failed) is one it lost, and
    /// their number ranks this server's ballots (`Ballot::waited`).
    pub since_round: u32,
}

/// One consensus instance led by this server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Round {
    /// The ballot this server leads.
    pub ballot: Ballot,
    /// The height of the block being agreed on.
    pub height: Height,
    /// How far the instance has got.
    pub phase: Phase,
}

/// The steps of a [`Round`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Collecting promises: who promised, the pending transfers each sent (by the account
    /// whose log they are, in that log's order: the oldest first), whether some promise
    /// carried only the oldest part of its log (`partial`), the accepted block with the
    /// highest ballot among them, and whether the wait for promises beyond a quorum is over.
    /// (`literal` promises carry nothing: its map stays empty.)
    Electing {
        promised_by: Voters,
        pending: BTreeMap<Account, Arc<Vec<Transfer>>>,
        partial: bool,
        highest: Option<AcceptedBlock>,
        gathered: bool,
    },
    /// `safe`: the block proposed, whether it was built fresh from the promises' pending
    /// transfers, and who has accepted it.
    Proposing {
        block: Arc<Block>,
        fresh: bool,
        accepted_by: Voters,
    },
    /// `literal`: ACCEPTED replies so far and the transfers they carried.
    Collecting {
        accepted_by: Voters,
        pending: BTreeSet<Transfer>,
    },
}

impl Phase {
    /// The servers that have answered in this phase (promised, or accepted).
    pub fn voters(&self) -> &Voters {
        match self {
            Phase::Electing { promised_by, .. } => promised_by,
            Phase::Proposing { accepted_by, .. } | Phase::Collecting { accepted_by, .. } => {
                accepted_by
            }
        }
    }

    /// The same, to change (the model's symmetry renames voters).
    pub fn voters_mut(&mut self) -> &mut Voters {
        match self {
            Phase::Electing { promised_by, .. } => promised_by,
            Phase::Proposing { accepted_by, .. } | Phase::Collecting { accepted_by, .. } => {
                accepted_by
            }
        }
    }
}

/// A set of server indices (at most 26) as a bit mask: copied and hashed in one word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Voters(u32);

impl Voters {
    /// The set holding only server `index`.
    pub fn only(index: usize) -> Voters {
        let mut v = Voters::default();
        v.insert(index);
        v
    }

    /// Adds server `index`.
    pub fn insert(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    /// Whether server `index` is in the set.
    pub fn contains(&self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// How many servers are in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

impl ServerState {
    /// A server that has never run: genesis only, nothing promised.
    pub fn fresh() -> ServerState {
        ServerState::resumed(Storage::default(), None)
    }

    /// A server resuming from `storage`; `restarted_at` says it crashed.
    pub fn resumed(storage: Storage, restarted_at: Option<Height>) -> ServerState {
        ServerState {
            storage,
            round: None,
            waiting: BTreeMap::new(),
            staged: Vec::new(),
            idle: BTreeSet::new(),
            instrumentation: Instrumentation {
                restarted_at,
                ..Instrumentation::default()
            },
        }
    }
}

/// The storage as a step found it, for the step to tell at its end whether to save, and
/// what (a seeded bug may save an old field).
pub(crate) enum Before<'a> {
    /// A borrowed state (the model checker's): its storage, unchanged until written to.
    Borrowed(&'a Storage),
    /// An owned state (a deployed server's): what tells each field's change at no cost that
    /// grows with it. The chain is kept as its length and digest, exactly what chain equality
    /// compares; the log and the outcomes by their marks of change. A copy of the chain's or
    /// the log's `Arc` would make the step's first append copy the whole of it.
    Owned {
        promised: Ballot,
        accepted: Option<AcceptedBlock>,
        chain: (usize, crate::chain::Digest),
        log: Marks,
        outcomes: u64,
    },
}

impl Before<'_> {
    /// Remembers an owned state's storage.
    pub(crate) fn owned(s: &Storage) -> Before<'static> {
        Before::Owned {
            promised: s.promised,
            accepted: s.accepted.clone(),
            chain: (s.chain.len(), s.chain.digest()),
            log: s.log.marks(),
            outcomes: s.last_outcomes.version(),
        }
    }

    /// Whether `now` is the storage remembered. For an owned state, a field that changed and
    /// changed back counts as changed: a save too many, never one too few.
    pub(crate) fn is(&self, now: &Storage) -> bool {
        match self {
            Before::Borrowed(s) => **s == *now,
            Before::Owned {
                promised,
                accepted,
                chain,
                log,
                outcomes,
            } => {
                *promised == now.promised
                    && *accepted == now.accepted
                    && *chain == (now.chain.len(), now.chain.digest())
                    && *log == now.log.marks()
                    && *outcomes == now.last_outcomes.version()
            }
        }
    }

    /// The borrowed storage, which a seeded bug may save a field of: only the model runs
    /// bugs, and it always borrows.
    pub(crate) fn borrowed(&self) -> &Storage {
        match self {
            Before::Borrowed(s) => s,
            Before::Owned { .. } => panic!("a seeded bug runs only in the model, which borrows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Account, TxId};
    use std::hash::BuildHasher;

    /// Bookkeeping is not part of a value: equal answers reached in different ways are
    /// equal, hash alike and print alike (the model checker compares states all three ways).
    #[test]
    fn outcomes_are_the_answers_not_how_often_they_changed() {
        let answered = |seq| Answered {
            transfer: Transfer::model_signed(TxId::new(Account(0), seq), Account(0), Account(1), 1),
            outcome: Outcome::Executed,
        };
        let mut twice = Outcomes::default();
        twice.insert(Session(1), answered(1));
        twice.insert(Session(1), answered(2));
        let once: Outcomes = [(Session(1), answered(2))].into_iter().collect();
        assert_ne!(twice.version(), once.version());
        assert_eq!(twice, once);
        let h = std::collections::hash_map::RandomState::new();
        assert_eq!(h.hash_one(&twice), h.hash_one(&once));
        assert_eq!(format!("{twice:?}"), format!("{once:?}"));
        once.iter()
            .for_each(|(s, a)| assert_eq!(twice.get(s), Some(a)));
    }
}
