//! What a server holds: the durable [`Storage`] a crash must not forget, and the volatile rest.

use crate::chain::{Block, Chain};
use crate::ids::{Ballot, Height};
use crate::ledger::Transfer;
use crate::msg::{AcceptedBlock, Outcome};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::collections::BTreeSet;
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
    /// Own client's transfers executed here and not yet in the chain, in execution order.
    /// Shared with the PROMISEs that carry it; changed only through `Arc::make_mut`.
    pub log: Arc<Vec<Transfer>>,
    /// The last final outcome given to the own client, with the transfer it answered:
    /// retries get it again, older requests are ignored, and a different transfer under its
    /// id is refused. This is what makes a retried or duplicated request execute once.
    pub last_outcome: Option<Answered>,
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
    /// Client (volatile): the short-balance transfer waiting for consensus, and whom to answer.
    pub waiting: Option<Waiting>,
    /// Read by the model's properties only; no rule of the protocol looks at it.
    pub instrumentation: Instrumentation,
}

/// Facts about a server's past that only the model's properties read. Volatile, and part of
/// the state (so of its hash) only because stateright's history cannot see a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Instrumentation {
    /// The tip height this incarnation restarted from after a crash (`None`: never crashed).
    pub restarted_at: Option<Height>,
}

/// A transfer waiting for consensus.
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
    /// Collecting promises: who promised, the pending transfers they sent, the accepted
    /// block with the highest ballot among them, and whether the wait for promises beyond a
    /// quorum is over. (`literal` promises carry nothing: its sets stay empty.)
    Electing {
        promised_by: Voters,
        pending: BTreeSet<Transfer>,
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
            waiting: None,
            instrumentation: Instrumentation { restarted_at },
        }
    }
}

/// The storage as a step found it, for the step to tell at its end whether to save, and
/// what (a seeded bug may save an old field).
pub(crate) enum Before<'a> {
    /// A borrowed state (the model checker's): its storage, unchanged until written to.
    Borrowed(&'a Storage),
    /// An owned state (a deployed server's): every field but the chain, which is kept as its
    /// length and digest, exactly what chain equality compares. A copy of the chain's `Arc`
    /// would make the step's first append copy the whole chain, a cost growing with it.
    Owned {
        promised: Ballot,
        accepted: Option<AcceptedBlock>,
        chain: (usize, crate::chain::Digest),
        log: Arc<Vec<Transfer>>,
        last_outcome: Option<Answered>,
    },
}

impl Before<'_> {
    /// Remembers an owned state's storage.
    pub(crate) fn owned(s: &Storage) -> Before<'static> {
        Before::Owned {
            promised: s.promised,
            accepted: s.accepted.clone(),
            chain: (s.chain.len(), s.chain.digest()),
            log: s.log.clone(),
            last_outcome: s.last_outcome.clone(),
        }
    }

    /// Whether `now` equals the storage remembered (as `Storage`'s equality judges).
    pub(crate) fn is(&self, now: &Storage) -> bool {
        match self {
            Before::Borrowed(s) => **s == *now,
            Before::Owned {
                promised,
                accepted,
                chain,
                log,
                last_outcome,
            } => {
                *promised == now.promised
                    && *accepted == now.accepted
                    && *chain == (now.chain.len(), now.chain.digest())
                    && **log == *now.log
                    && *last_outcome == now.last_outcome
            }
        }
    }

    pub(crate) fn promised(&self) -> Ballot {
        match self {
            Before::Borrowed(s) => s.promised,
            Before::Owned { promised, .. } => *promised,
        }
    }

    pub(crate) fn accepted(&self) -> &Option<AcceptedBlock> {
        match self {
            Before::Borrowed(s) => &s.accepted,
            Before::Owned { accepted, .. } => accepted,
        }
    }

    pub(crate) fn log(&self) -> &Arc<Vec<Transfer>> {
        match self {
            Before::Borrowed(s) => &s.log,
            Before::Owned { log, .. } => log,
        }
    }

    pub(crate) fn last_outcome(&self) -> &Option<Answered> {
        match self {
            Before::Borrowed(s) => &s.last_outcome,
            Before::Owned { last_outcome, .. } => last_outcome,
        }
    }
}
