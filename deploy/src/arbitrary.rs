//! Random values of everything the deployment encodes, every field populated, for the codec
//! round-trip tests (quickcheck's `Gen` drives the choices).

use paxchain::chain::Digest;
use paxchain::msg::AcceptedBlock;
use paxchain::server::Answered;
use paxchain::signature::{Ed25519Bytes, Signature};
use paxchain::{
    Account, ApiMsg, Ballot, Block, Chain, Height, Log, Msg, Outcome, PeerMsg, Rejection, Seal,
    Session, Storage, Transfer, TxId,
};
use quickcheck::{Arbitrary, Gen};
use std::sync::Arc;

fn below(g: &mut Gen, n: usize) -> usize {
    usize::arbitrary(g) % n
}

pub fn account(g: &mut Gen) -> Account {
    Account::of_server(below(g, paxchain::ids::MAX_ACCOUNTS))
}

/// A session: the first one half the time (its JSON leaves the session out).
pub fn session(g: &mut Gen) -> Session {
    match bool::arbitrary(g) {
        true => Session::FIRST,
        false => Session(u8::arbitrary(g)),
    }
}

pub fn id(g: &mut Gen) -> TxId {
    TxId {
        client: account(g),
        session: session(g),
        seq: u32::arbitrary(g),
    }
}

pub fn transfer(g: &mut Gen) -> Transfer {
    Transfer {
        id: id(g),
        from: account(g),
        to: account(g),
        amount: u64::arbitrary(g),
        signature: signature(g),
    }
}

/// Either kind of signature, with any bytes.
pub fn signature(g: &mut Gen) -> Signature {
    match bool::arbitrary(g) {
        true => Signature::Model {
            signer: account(g),
            digest: u64::arbitrary(g),
        },
        false => {
            let mut bytes = [0u8; 64];
            bytes.iter_mut().for_each(|b| *b = u8::arbitrary(g));
            Signature::Ed25519(Ed25519Bytes(Arc::new(bytes)))
        }
    }
}

/// One to four transfers: never empty, so a lost list would show.
pub fn transfers(g: &mut Gen) -> Vec<Transfer> {
    (0..1 + below(g, 4)).map(|_| transfer(g)).collect()
}

pub fn ballot(g: &mut Gen) -> Ballot {
    Ballot {
        round: u32::arbitrary(g),
        waited: u32::arbitrary(g),
        leader: u8::arbitrary(g),
    }
}

pub fn height(g: &mut Gen) -> Height {
    Height(u32::arbitrary(g))
}

/// A block with any fields (it need not link anywhere).
pub fn block(g: &mut Gen) -> Arc<Block> {
    let mut prev = [0u8; 32];
    prev.iter_mut().for_each(|b| *b = u8::arbitrary(g));
    Arc::new(Block::new(height(g), ballot(g), Digest(prev), transfers(g)))
}

/// A chain of one to four blocks after genesis, each linked to the one before.
pub fn chain(g: &mut Gen) -> Chain {
    let mut chain = Chain::new();
    for _ in 0..1 + below(g, 4) {
        let tip = chain.tip();
        let block = Block::new(tip.height.next(), ballot(g), tip.hash, transfers(g));
        chain.append(Arc::new(block)).expect("built on the tip");
    }
    chain
}

pub fn rejection(g: &mut Gen) -> Rejection {
    match below(g, 7) {
        0 => Rejection::NotOwner {
            client: account(g),
            from: account(g),
        },
        1 => Rejection::UnknownAccount {
            account: account(g),
        },
        2 => Rejection::SameAccount {
            account: account(g),
        },
        3 => Rejection::ZeroAmount,
        4 => Rejection::InsufficientFunds {
            balance: u64::arbitrary(g),
            amount: u64::arbitrary(g),
        },
        5 => Rejection::IdInUse { id: id(g) },
        _ => Rejection::NoQuorum,
    }
}

pub fn outcome(g: &mut Gen) -> Outcome {
    match below(g, 3) {
        0 => Outcome::Executed,
        1 => Outcome::ExecutedAfterConsensus,
        _ => Outcome::Rejected {
            reason: rejection(g),
        },
    }
}

/// A storage with every field set: a promise, an accepted block, a chain, a log and one to
/// three sessions' outcomes.
pub fn storage(g: &mut Gen) -> Storage {
    Storage {
        promised: ballot(g),
        accepted: Some(AcceptedBlock {
            ballot: ballot(g),
            block: block(g),
        }),
        chain: Arc::new(chain(g)),
        log: Arc::new(Log::from(transfers(g))),
        last_outcomes: (0..1 + below(g, 3))
            .map(|_| {
                let answered = Answered {
                    transfer: transfer(g),
                    outcome: outcome(g),
                };
                (session(g), answered)
            })
            .collect(),
    }
}

/// How many kinds of message [`msg`] makes; [`kind`] numbers them.
pub const MESSAGE_KINDS: usize = 23;

/// A message of kind `k` (see [`kind`]) with random, populated fields.
pub fn msg(g: &mut Gen, k: usize) -> Msg {
    let api = |m: ApiMsg| Msg::Api(m);
    let peer = |m: PeerMsg| Msg::Peer(m);
    match k {
        0 => api(ApiMsg::Submit {
            transfer: transfer(g),
        }),
        1 => api(ApiMsg::Outcome {
            id: id(g),
            outcome: outcome(g),
        }),
        2 => api(ApiMsg::GetBalance {
            account: account(g),
        }),
        3 => api(ApiMsg::Balance {
            account: account(g),
            balance: u64::arbitrary(g),
            height: height(g),
        }),
        4 => api(ApiMsg::GetLog),
        5 => api(ApiMsg::Log {
            transfers: transfers(g),
            total: usize::arbitrary(g),
        }),
        6 => api(ApiMsg::GetChain { from: height(g) }),
        7 => api(ApiMsg::Chain {
            from: height(g),
            blocks: vec![block(g), block(g)],
            more: bool::arbitrary(g),
        }),
        8 => api(ApiMsg::GetLastAnswered {
            session: session(g),
        }),
        9 => api(ApiMsg::LastAnswered {
            session: session(g),
            id: Some(id(g)),
        }),
        10 => api(ApiMsg::GetStatus),
        11 => api(ApiMsg::Status {
            promised: ballot(g),
            leading: bool::arbitrary(g),
            tip: height(g),
            pending: usize::arbitrary(g),
        }),
        12 => peer(PeerMsg::Prepare {
            ballot: ballot(g),
            height: height(g),
        }),
        13 => peer(PeerMsg::Promise {
            ballot: ballot(g),
            height: height(g),
            accepted: Some(AcceptedBlock {
                ballot: ballot(g),
                block: block(g),
            }),
            pending: Arc::new(transfers(g)),
            more: bool::arbitrary(g),
        }),
        14 => peer(PeerMsg::Accept {
            ballot: ballot(g),
            block: block(g),
        }),
        15 => peer(PeerMsg::Accepted {
            ballot: ballot(g),
            height: height(g),
        }),
        16 => peer(PeerMsg::LiteralAccept {
            ballot: ballot(g),
            height: height(g),
            pending: Arc::new(transfers(g)),
        }),
        17 => peer(PeerMsg::LiteralAccepted {
            ballot: ballot(g),
            height: height(g),
            pending: Arc::new(transfers(g)),
        }),
        18 => peer(PeerMsg::Commit {
            ballot: ballot(g),
            block: block(g),
        }),
        19 => peer(PeerMsg::CatchUpRequest { from: height(g) }),
        20 => peer(PeerMsg::CatchUp {
            blocks: vec![block(g), block(g)],
            more: bool::arbitrary(g),
            promised: ballot(g),
        }),
        21 => peer(PeerMsg::Outranked {
            promised: ballot(g),
        }),
        _ => {
            let k = 12 + usize::arbitrary(g) % 10;
            let Msg::Peer(peer) = msg(g, k) else {
                unreachable!("kinds 12 to 21 are peer messages")
            };
            let seal = Seal {
                from: u8::arbitrary(g) % 7,
                to: u8::arbitrary(g) % 7,
            };
            Msg::Relayed { seal, peer }
        }
    }
}

/// The kind number of a message: the match is exhaustive, so a new message kind fails to
/// compile here until [`msg`] makes it too.
pub fn kind(m: &Msg) -> usize {
    match m {
        Msg::Api(a) => match a {
            ApiMsg::Submit { .. } => 0,
            ApiMsg::Outcome { .. } => 1,
            ApiMsg::GetBalance { .. } => 2,
            ApiMsg::Balance { .. } => 3,
            ApiMsg::GetLog => 4,
            ApiMsg::Log { .. } => 5,
            ApiMsg::GetChain { .. } => 6,
            ApiMsg::Chain { .. } => 7,
            ApiMsg::GetLastAnswered { .. } => 8,
            ApiMsg::LastAnswered { .. } => 9,
            ApiMsg::GetStatus => 10,
            ApiMsg::Status { .. } => 11,
        },
        Msg::Peer(p) => match p {
            PeerMsg::Prepare { .. } => 12,
            PeerMsg::Promise { .. } => 13,
            PeerMsg::Accept { .. } => 14,
            PeerMsg::Accepted { .. } => 15,
            PeerMsg::LiteralAccept { .. } => 16,
            PeerMsg::LiteralAccepted { .. } => 17,
            PeerMsg::Commit { .. } => 18,
            PeerMsg::CatchUpRequest { .. } => 19,
            PeerMsg::CatchUp { .. } => 20,
            PeerMsg::Outranked { .. } => 21,
        },
        Msg::Relayed { .. } => 22,
    }
}
