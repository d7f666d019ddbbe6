//! The two message vocabularies, the client API and the peer protocol, and the timers.
//!
//! Both vocabularies travel as datagrams when deployed and as values in the model checker's
//! network. Every variant has named fields in the course's nouns; none is reused for two
//! meanings. A timer is the third kind of event an actor handles.

use crate::chain::{Block, Chain};
use crate::ids::{Account, Ballot, Height, Session, TxId};
use crate::ledger::{Rejection, Transfer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// The named timers. Time is never read: a timer is an event that may happen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Server: the election or round has gone on too long; start a higher ballot.
    Round,
    /// Server: a quorum has promised; stop waiting for the other servers' promises.
    Gather,
    /// Server: stop waiting for more sessions' requests; save the staged transfers and
    /// answer them (group commit).
    Flush,
    /// Client: no outcome arrived; resend the request.
    Retry,
}

/// Everything that crosses the network. Its `Debug` is the derived one, but for `{:#?}`
/// (stateright's explorer prints states so), which gives the one line a trace prints.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Between a client and its server.
    Api(ApiMsg),
    /// Between servers.
    Peer(PeerMsg),
    /// A peer message delivered by someone other than its sender: an attacker on the network
    /// replaying what it saw to another server, or back to its sender. `seal` says who
    /// sealed it for whom; the attacker can copy a seal but neither make nor change one
    /// (deployed, a MAC under the pair's key binds both ends: deploy/src/peers.rs). A server
    /// reads it only if the seal is for it, from a peer (`ServerActor::opens`). Only the
    /// model's attacker sends it; a deployed server with keys drops it unread, like any peer
    /// message without a MAC.
    Relayed { seal: Seal, peer: PeerMsg },
}

/// Who sealed a peer message for whom, by server index: what a sealed datagram's MAC
/// proves deployed, and what the model's attacker copies with the message it relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seal {
    /// The sender's index.
    pub from: u8,
    /// The receiver's index.
    pub to: u8,
}

/// The client API: transfers and the course's PrintBalance, PrintLog and PrintBlockchain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApiMsg {
    /// Client to server: execute this transfer. Retries resend the same transfer and id.
    Submit { transfer: Transfer },
    /// Server to client: what became of transfer `id`.
    Outcome { id: TxId, outcome: Outcome },
    /// Client to server: PrintBalance.
    GetBalance { account: Account },
    /// Server to client: `account`'s balance as this server knows it: its chain up to
    /// `height`, plus its own local log.
    Balance {
        account: Account,
        balance: u64,
        height: Height,
    },
    /// Client to server: PrintLog.
    GetLog,
    /// Server to client: the oldest of the transfers executed locally and not yet in a
    /// block, as many as fit one datagram ([`MAX_TRANSFERS_PER_MESSAGE`]), and how many the
    /// log holds in all.
    Log {
        transfers: Vec<Transfer>,
        total: usize,
    },
    /// Client to server: PrintBlockchain, blocks from `from` on.
    GetChain { from: Height },
    /// Server to client: blocks starting at height `from`, as many as fit one datagram
    /// (see [`fits_in_one_message`]); `more` says the chain goes on after them.
    Chain {
        from: Height,
        blocks: Vec<Arc<Block>>,
        more: bool,
    },
    /// Client to server: the id of the last transfer answered to `session` (a restarted
    /// client continues after it: the server ignores ids below it). The session may be left
    /// out of the JSON: the first.
    GetLastAnswered {
        #[serde(default)]
        session: Session,
    },
    /// Server to client: that session and id, if any.
    LastAnswered { session: Session, id: Option<TxId> },
    /// Anyone to server: its consensus status.
    GetStatus,
    /// Server to anyone: the highest ballot it promised, whether it is leading a round, its
    /// chain's tip and the length of its local log.
    Status {
        promised: Ballot,
        leading: bool,
        tip: Height,
        pending: usize,
    },
}

/// The most blocks one CATCH-UP or CHAIN message carries.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 16;
/// The most transfers those blocks may hold together: a signed transfer is at most about 260
/// bytes of JSON, so a message stays below 60 KB.
pub const MAX_TRANSFERS_PER_MESSAGE: usize = 200;

/// How many of `blocks`, from the first, one message carries: at most
/// [`MAX_BLOCKS_PER_MESSAGE`] holding at most [`MAX_TRANSFERS_PER_MESSAGE`] transfers, but
/// always at least one block (a single larger block is sent alone).
pub fn fits_in_one_message<B: AsRef<Block>>(blocks: &[B]) -> usize {
    let mut transfers = 0;
    let mut n = 0;
    for b in blocks.iter().take(MAX_BLOCKS_PER_MESSAGE) {
        transfers += b.as_ref().transfers.len();
        if n > 0 && transfers > MAX_TRANSFERS_PER_MESSAGE {
            break;
        }
        n += 1;
    }
    n
}

/// The blocks of `chain` from `from` on that one message carries (see
/// [`fits_in_one_message`]), and whether the chain goes on after them: what both a CATCH-UP
/// and a CHAIN answer hold.
pub fn blocks_message(chain: &Chain, from: Height) -> (Vec<Arc<Block>>, bool) {
    let rest = chain.blocks_from(from);
    let n = fits_in_one_message(rest);
    (rest[..n].to_vec(), n < rest.len())
}

/// What a server did with a transfer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Executed at once from the client's known balance and saved in the local log.
    Executed,
    /// Executed after a consensus round brought in other servers' transfers.
    ExecutedAfterConsensus,
    /// Refused; nothing was executed.
    Rejected { reason: Rejection },
}

impl Outcome {
    /// Whether the transfer was executed (and so must never be lost).
    pub fn is_executed(&self) -> bool {
        matches!(self, Outcome::Executed | Outcome::ExecutedAfterConsensus)
    }
}

/// A block accepted under a ballot: what phase 2 stores and what phase 1 reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AcceptedBlock {
    /// The ballot under which it was accepted.
    pub ballot: Ballot,
    /// The block itself (its `height` says which slot); shared, never copied.
    pub block: Arc<Block>,
}

/// The modified Paxos between servers. One instance per chain height.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PeerMsg {
    /// Phase 1a, leader election: "lead `ballot` for block `height`".
    Prepare { ballot: Ballot, height: Height },
    /// Phase 1b: the promise not to accept lower ballots, with what the leader needs to
    /// choose a safe block. `safe`: the block accepted for `height`, if any, and the
    /// promiser's pending transfers: the oldest of its log, at most a block's worth, and
    /// `more` if the log holds more. `literal`: all empty (the course's election carries none).
    Promise {
        ballot: Ballot,
        height: Height,
        accepted: Option<AcceptedBlock>,
        pending: Arc<Vec<Transfer>>,
        more: bool,
    },
    /// Phase 2a (`safe`): accept this block for its height.
    Accept { ballot: Ballot, block: Arc<Block> },
    /// Phase 2b (`safe`): the block of `ballot` at `height` is accepted and saved.
    Accepted { ballot: Ballot, height: Height },
    /// The course's ⟨ACCEPT, n, TX(S)⟩ (`literal` only): the leader's pending transfers.
    LiteralAccept {
        ballot: Ballot,
        height: Height,
        pending: Arc<Vec<Transfer>>,
    },
    /// The course's ⟨ACCEPTED, n, TX(R)⟩ (`literal` only): the follower's pending transfers.
    LiteralAccepted {
        ballot: Ballot,
        height: Height,
        pending: Arc<Vec<Transfer>>,
    },
    /// The block is chosen: append it.
    Commit { ballot: Ballot, block: Arc<Block> },
    /// "I am missing blocks from `from` on; send them."
    CatchUpRequest { from: Height },
    /// Committed blocks, in height order, starting at the first block's height; `more` says
    /// the sender has blocks after these (ask again from the new tip); `promised`, the
    /// sender's promise, so a server that was away learns the ballots with the blocks.
    CatchUp {
        blocks: Vec<Arc<Block>>,
        more: bool,
        promised: Ballot,
    },
    /// The answer to a PREPARE or ACCEPT from an older round than the receiver's promise
    /// (`safe`): "I have promised `promised`". The candidate learns at once how far the
    /// ballots have gone, instead of one ballot per round timeout.
    Outranked { promised: Ballot },
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn block(b: &Block) -> String {
    format!("block {} [{}]", b.height, list(&b.transfers))
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return write!(f, "{self}");
        }
        match self {
            Msg::Api(m) => f.debug_tuple("Api").field(m).finish(),
            Msg::Peer(m) => f.debug_tuple("Peer").field(m).finish(),
            Msg::Relayed { seal, peer } => (f.debug_struct("Relayed"))
                .field("seal", seal)
                .field("peer", peer)
                .finish(),
        }
    }
}

/// One line per message, in the course's words: what a counterexample trace prints.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Relayed { seal, peer } => {
                let server = |i: u8| Account(i);
                write!(
                    f,
                    "RELAYED (sealed by {} for {}) {}",
                    server(seal.from),
                    server(seal.to),
                    Msg::Peer(peer.clone())
                )
            }
            Msg::Api(ApiMsg::Submit { transfer: t }) => write!(f, "SUBMIT {} {t}", t.id),
            Msg::Api(ApiMsg::Outcome { id, outcome }) => write!(f, "OUTCOME {id}: {outcome:?}"),
            Msg::Api(ApiMsg::GetBalance { account }) => write!(f, "GET-BALANCE {account}"),
            Msg::Api(ApiMsg::Balance {
                account,
                balance,
                height,
            }) => write!(f, "BALANCE {account} = {balance} at {height}"),
            Msg::Api(ApiMsg::GetLog) => write!(f, "GET-LOG"),
            Msg::Api(ApiMsg::Log { transfers, total }) => {
                write!(f, "LOG [{}] of {total}", list(transfers))
            }
            Msg::Api(ApiMsg::GetChain { from }) => write!(f, "GET-CHAIN from {from}"),
            Msg::Api(ApiMsg::Chain { from, blocks, .. }) => {
                write!(f, "CHAIN from {from}: {} blocks", blocks.len())
            }
            Msg::Api(ApiMsg::GetLastAnswered { session }) => {
                write!(f, "GET-LAST-ANSWERED session {session}")
            }
            Msg::Api(ApiMsg::LastAnswered { session, id }) => match id {
                Some(id) => write!(f, "LAST-ANSWERED session {session}: {id}"),
                None => write!(f, "LAST-ANSWERED session {session}: none"),
            },
            Msg::Api(ApiMsg::GetStatus) => write!(f, "GET-STATUS"),
            Msg::Api(ApiMsg::Status {
                promised,
                leading,
                tip,
                pending,
            }) => write!(
                f,
                "STATUS promised {promised} leading {leading} tip {tip} log {pending}"
            ),
            Msg::Peer(PeerMsg::Prepare { ballot, height }) => {
                write!(f, "PREPARE ballot {ballot} for {height}")
            }
            Msg::Peer(PeerMsg::Promise {
                ballot,
                height,
                accepted,
                pending,
                more,
            }) => {
                let more = if *more { " and more" } else { "" };
                write!(
                    f,
                    "PROMISE ballot {ballot} for {height}, pending [{}]{more}",
                    list(pending)
                )?;
                match accepted {
                    Some(a) => write!(f, ", accepted {} under {}", block(&a.block), a.ballot),
                    None => Ok(()),
                }
            }
            Msg::Peer(PeerMsg::Accept { ballot, block: b }) => {
                write!(f, "ACCEPT ballot {ballot} {}", block(b))
            }
            Msg::Peer(PeerMsg::Accepted { ballot, height }) => {
                write!(f, "ACCEPTED ballot {ballot} for {height}")
            }
            Msg::Peer(PeerMsg::Outranked { promised }) => {
                write!(f, "OUTRANKED: promised {promised}")
            }
            Msg::Peer(PeerMsg::LiteralAccept {
                ballot,
                height,
                pending,
            }) => write!(
                f,
                "ACCEPT ballot {ballot} n={height} TX [{}]",
                list(pending)
            ),
            Msg::Peer(PeerMsg::LiteralAccepted {
                ballot,
                height,
                pending,
            }) => write!(
                f,
                "ACCEPTED ballot {ballot} n={height} TX [{}]",
                list(pending)
            ),
            Msg::Peer(PeerMsg::Commit { ballot, block: b }) => {
                write!(f, "COMMIT ballot {ballot} {}", block(b))
            }
            Msg::Peer(PeerMsg::CatchUpRequest { from }) => {
                write!(f, "CATCH-UP-REQUEST from {from}")
            }
            Msg::Peer(PeerMsg::CatchUp {
                blocks, promised, ..
            }) => {
                let heights: Vec<String> = blocks.iter().map(|b| b.height.to_string()).collect();
                write!(
                    f,
                    "CATCH-UP blocks {}, promised {promised}",
                    heights.join(" ")
                )
            }
        }
    }
}

impl From<ApiMsg> for Msg {
    fn from(m: ApiMsg) -> Msg {
        Msg::Api(m)
    }
}

impl From<PeerMsg> for Msg {
    fn from(m: PeerMsg) -> Msg {
        Msg::Peer(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Rejection;
    use quickcheck::{quickcheck, Arbitrary, Gen};

    #[derive(Clone, Debug)]
    struct AnyMsg(Msg);

    fn transfer(g: &mut Gen) -> Transfer {
        let from = Account(u8::arbitrary(g) % 26);
        Transfer::model_signed(
            TxId {
                client: from,
                session: Session(u8::arbitrary(g) % 3),
                seq: u32::arbitrary(g),
            },
            from,
            Account(u8::arbitrary(g) % 26),
            u64::arbitrary(g),
        )
    }

    fn ballot(g: &mut Gen) -> Ballot {
        Ballot {
            round: u32::arbitrary(g),
            waited: u32::arbitrary(g),
            leader: u8::arbitrary(g),
        }
    }

    fn block(g: &mut Gen) -> Block {
        let n = usize::arbitrary(g) % 4;
        Block::new(
            Height(u32::arbitrary(g)),
            ballot(g),
            crate::chain::Digest([u8::arbitrary(g); 32]),
            (0..n).map(|_| transfer(g)).collect(),
        )
    }

    impl Arbitrary for AnyMsg {
        fn arbitrary(g: &mut Gen) -> AnyMsg {
            let b = ballot(g);
            let h = Height(u32::arbitrary(g));
            let txs = |g: &mut Gen| {
                (0..usize::arbitrary(g) % 3)
                    .map(|_| transfer(g))
                    .collect::<Vec<_>>()
            };
            let reasons = [
                Rejection::ZeroAmount,
                Rejection::NoQuorum,
                Rejection::InsufficientFunds {
                    balance: 3,
                    amount: 4,
                },
            ];
            let m: Msg = match u8::arbitrary(g) % 15 {
                0 => ApiMsg::Submit {
                    transfer: transfer(g),
                }
                .into(),
                1 => ApiMsg::Outcome {
                    id: transfer(g).id,
                    outcome: Outcome::Rejected {
                        reason: g.choose(&reasons).unwrap().clone(),
                    },
                }
                .into(),
                2 => ApiMsg::GetBalance {
                    account: Account(1),
                }
                .into(),
                3 => ApiMsg::Balance {
                    account: Account(2),
                    balance: u64::arbitrary(g),
                    height: h,
                }
                .into(),
                4 => ApiMsg::Log {
                    transfers: txs(g),
                    total: usize::arbitrary(g),
                }
                .into(),
                5 => ApiMsg::Chain {
                    from: h,
                    blocks: vec![Arc::new(block(g))],
                    more: bool::arbitrary(g),
                }
                .into(),
                6 => PeerMsg::Prepare {
                    ballot: b,
                    height: h,
                }
                .into(),
                7 => PeerMsg::Promise {
                    ballot: b,
                    height: h,
                    accepted: Some(AcceptedBlock {
                        ballot: b,
                        block: Arc::new(block(g)),
                    }),
                    pending: Arc::new(txs(g)),
                    more: bool::arbitrary(g),
                }
                .into(),
                8 => PeerMsg::Accept {
                    ballot: b,
                    block: Arc::new(block(g)),
                }
                .into(),
                9 => PeerMsg::Accepted {
                    ballot: b,
                    height: h,
                }
                .into(),
                10 => PeerMsg::LiteralAccepted {
                    ballot: b,
                    height: h,
                    pending: Arc::new(txs(g)),
                }
                .into(),
                11 => PeerMsg::Commit {
                    ballot: b,
                    block: Arc::new(block(g)),
                }
                .into(),
                12 => PeerMsg::CatchUpRequest { from: h }.into(),
                13 => PeerMsg::Outranked { promised: b }.into(),
                _ => PeerMsg::CatchUp {
                    blocks: vec![Arc::new(block(g)), Arc::new(block(g))],
                    more: bool::arbitrary(g),
                    promised: b,
                }
                .into(),
            };
            AnyMsg(m)
        }
    }

    quickcheck! {
        /// Every message survives the JSON wire unchanged.
        fn json_round_trip(m: AnyMsg) -> bool {
            let text = serde_json::to_vec(&m.0).unwrap();
            serde_json::from_slice::<Msg>(&text).unwrap() == m.0
        }
    }

    /// `{:?}` stays the derived form every diagnostic relies on; `{:#?}` (the explorer's)
    /// is the line a trace prints.
    #[test]
    fn a_message_debugs_whole_and_reads_as_a_trace_line_in_the_explorer() {
        let m = Msg::Peer(PeerMsg::Prepare {
            ballot: Ballot::new(1, 0),
            height: Height(1),
        });
        assert_eq!(
            format!("{m:?}"),
            format!(
                "Peer({:?})",
                PeerMsg::Prepare {
                    ballot: Ballot::new(1, 0),
                    height: Height(1)
                }
            )
        );
        assert!(format!("{m:?}").starts_with("Peer(Prepare { ballot: Ballot {"));
        assert_eq!(format!("{m:#?}"), "PREPARE ballot 1.A for #1");
        assert_eq!(format!("{m:#?}"), m.to_string());
    }

    #[test]
    fn messages_of_blocks_are_bounded_by_count_and_by_transfers() {
        // The largest transfers a client sends: every number at its widest, and an Ed25519
        // signature (128 hex digits in JSON).
        let key = ed25519_zebra::SigningKey::from([3u8; 32]);
        let big = |n: usize| {
            let t = |i: usize| {
                let id = TxId {
                    client: Account(25),
                    session: crate::ids::Session(255),
                    seq: u32::MAX - i as u32,
                };
                let t =
                    crate::ledger::Transfer::model_signed(id, Account(25), Account(24), u64::MAX);
                crate::signature::sign(t, &key)
            };
            Arc::new(Block::new(
                Height(1),
                Ballot::ZERO,
                crate::chain::Digest::default(),
                (0..n).map(t).collect(),
            ))
        };
        assert_eq!(
            fits_in_one_message(&vec![big(0); 40]),
            MAX_BLOCKS_PER_MESSAGE
        );
        assert_eq!(fits_in_one_message(&vec![big(100); 5]), 2);
        assert_eq!(
            fits_in_one_message(&vec![big(2_000); 3]),
            1,
            "a huge block goes alone"
        );
        assert_eq!(fits_in_one_message::<Arc<Block>>(&[]), 0);
        // Both messages a person's client reads, at their fullest, fit a datagram as JSON.
        let chain = ApiMsg::Chain {
            from: Height(1),
            blocks: vec![big(MAX_TRANSFERS_PER_MESSAGE)],
            more: true,
        };
        let log = ApiMsg::Log {
            transfers: big(MAX_TRANSFERS_PER_MESSAGE).transfers.clone(),
            total: usize::MAX,
        };
        for m in [chain, log] {
            let bytes = serde_json::to_vec(&Msg::Api(m)).unwrap().len();
            assert!(bytes < 60_000, "{bytes} bytes");
        }
        let blocks = vec![big(100); 2];
        let one = PeerMsg::CatchUp {
            blocks,
            more: false,
            promised: Ballot::ZERO,
        };
        assert!(serde_json::to_vec(&Msg::Peer(one)).unwrap().len() < 60_000);
    }

    #[test]
    fn a_person_can_type_a_transfer() {
        // As `paxchain sign` prints one: the fields, and the owner's signature in hex.
        let signature = "ab".repeat(64);
        let text = format!(
            r#"{{"Api":{{"Submit":{{"transfer":
            {{"id":{{"client":"A","seq":1}},"from":"A","to":"B","amount":4,
              "signature":{{"Ed25519":"{signature}"}}}}}}}}}}"#
        );
        let m: Msg = serde_json::from_str(&text).unwrap();
        assert!(matches!(m, Msg::Api(ApiMsg::Submit { transfer }) if transfer.amount == 4));
        let unsigned = r#"{"Api":{"Submit":{"transfer":
            {"id":{"client":"A","seq":1},"from":"A","to":"B","amount":4}}}}"#;
        let e = serde_json::from_str::<Msg>(unsigned).unwrap_err();
        assert!(e.to_string().contains("signature"), "{e}");
    }
}
