//! The paper's nouns as newtypes: accounts, ballots, chain heights and transfer ids.
//!
//! Each is a small `Copy` value with a total order, so the model checker can keep them in
//! `BTreeMap`/`BTreeSet` and sort the actions that carry them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest number of accounts (and so servers): accounts are named `A` to `Z`.
pub const MAX_ACCOUNTS: usize = 26;

/// An account, named by a capital letter. Account `A` is owned by client `A` and served by
/// server 0, `B` by server 1, and so on: the server index and the account are the same number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(pub u8);

impl Account {
    /// The account's position: its server's index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The account of server `index`.
    pub fn of_server(index: usize) -> Account {
        Account(u8::try_from(index).expect("server indices are validated to be below 26"))
    }

    /// Parses `A`, `b`, ... (one letter, either case).
    pub fn parse(text: &str) -> Result<Account, ParseAccountError> {
        let mut chars = text.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_alphabetic() => {
                Ok(Account(c.to_ascii_uppercase() as u8 - b'A'))
            }
            _ => Err(ParseAccountError(text.to_string())),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", char::from(b'A' + self.0))
    }
}

/// A string that is not an account letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an account: accounts are single letters A to Z")]
pub struct ParseAccountError(pub String);

// On the wire an account is its letter, so a person can type `"from": "A"` into a datagram.
impl Serialize for Account {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Account {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Account, D::Error> {
        let text = String::deserialize(d)?;
        let account = Account::parse(&text).map_err(serde::de::Error::custom)?;
        if account.index() >= MAX_ACCOUNTS {
            return Err(serde::de::Error::custom(ParseAccountError(text)));
        }
        Ok(account)
    }
}

/// A Paxos ballot: a round number made unique by the index of the server that leads it.
///
/// Ballots order by round, then by `waited`, then by leader, so two servers never start the
/// same ballot. Among candidates that start the same round at once (after every commit,
/// each server still waiting starts `promised.round + 1`), the one whose client has waited
/// longest wins; only among equal waits does the higher index win. Any total order keeps
/// Paxos safe; this one keeps it fair: with the index alone, the highest-indexed busy server
/// won every contested height and the others starved (spec/protocol.md, "Fairness").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// Incremented by a server each time it starts an election.
    pub round: u32,
    /// How many ballot rounds went by while the leader's waiting transfer waited, when the
    /// leader started this ballot: the tie-break among equal rounds.
    pub waited: u32,
    /// The index of the server leading this ballot.
    pub leader: u8,
}

impl Ballot {
    /// The ballot nobody leads; every server has promised at least this one.
    pub const ZERO: Ballot = Ballot {
        round: 0,
        waited: 0,
        leader: 0,
    };

    /// Ballot `round` of server `leader`, which has not waited.
    pub fn new(round: u32, leader: u8) -> Ballot {
        Ballot {
            round,
            waited: 0,
            leader,
        }
    }
}

/// `3.B`: round 3, led by B; `3.B+2`: the same, B's client having waited two rounds.
impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, Account(self.leader))?;
        if self.waited > 0 {
            write!(f, "+{}", self.waited)?;
        }
        Ok(())
    }
}

/// The position of a block in the chain; the genesis block has height 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Height(pub u32);

impl Height {
    /// The height after this one.
    pub fn next(self) -> Height {
        Height(self.0.checked_add(1).expect("a chain of 4 billion blocks"))
    }

    /// The height as an index into the chain's blocks.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One of an account's client sessions. Each session sends one request at a time, under its
/// own sequence numbers, so the course's exactly-once rule holds per session unchanged;
/// several sessions give one account many requests in flight (spec/protocol.md, "Sessions").
/// The course's client is session 0. At most 256 sessions per account, so what a server
/// keeps per session is bounded.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Session(pub u8);

impl Session {
    /// The course's one client of an account.
    pub const FIRST: Session = Session(0);

    fn is_first(&self) -> bool {
        *self == Session::FIRST
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A transfer's identity: the client that asked for it (an account and one of its
/// sessions) and that session's sequence number (1, 2, 3, ... in the order it submits).
/// Retries reuse the id, so servers can execute each transfer exactly once.
///
/// In JSON a session-0 id is `{"client":"A","seq":3}`, as the course's client writes it;
/// another session adds `"session":2`. Binary encodings always carry all three fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId {
    /// The client, named by the account it owns.
    pub client: Account,
    /// Which of the account's sessions.
    pub session: Session,
    /// The session's sequence number, from 1.
    pub seq: u32,
}

impl TxId {
    /// Transfer `seq` of `client`'s first session (the course's one client).
    pub fn new(client: Account, seq: u32) -> TxId {
        TxId {
            client,
            session: Session::FIRST,
            seq,
        }
    }

    /// The session this id belongs to, with its account.
    pub fn sender(&self) -> (Account, Session) {
        (self.client, self.session)
    }
}

/// `A3`: transfer 3 of A's first session; `A/2:3`: transfer 3 of A's session 2.
impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.session.is_first() {
            true => write!(f, "{}{}", self.client, self.seq),
            false => write!(f, "{}/{}:{}", self.client, self.session, self.seq),
        }
    }
}

/// The JSON form, in which the first session is left out.
#[derive(Serialize, Deserialize)]
struct TxIdText {
    client: Account,
    #[serde(default, skip_serializing_if = "Session::is_first")]
    session: Session,
    seq: u32,
}

impl Serialize for TxId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let TxId {
            client,
            session,
            seq,
        } = *self;
        if s.is_human_readable() {
            TxIdText {
                client,
                session,
                seq,
            }
            .serialize(s)
        } else {
            (client, session, seq).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for TxId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TxId, D::Error> {
        let (client, session, seq) = if d.is_human_readable() {
            let t = TxIdText::deserialize(d)?;
            (t.client, t.session, t.seq)
        } else {
            <(Account, Session, u32)>::deserialize(d)?
        };
        Ok(TxId {
            client,
            session,
            seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_parse_and_print_as_letters() {
        assert_eq!(Account::parse("c"), Ok(Account(2)));
        assert_eq!(Account(2).to_string(), "C");
        assert!(Account::parse("AB").is_err());
        assert!(Account::parse("1").is_err());
        assert!(Account::parse("").is_err());
    }

    #[test]
    fn accounts_travel_as_letters() {
        assert_eq!(serde_json::to_string(&Account(1)).unwrap(), "\"B\"");
        assert_eq!(
            serde_json::from_str::<Account>("\"e\"").unwrap(),
            Account(4)
        );
        assert!(serde_json::from_str::<Account>("\"?\"").is_err());
    }

    #[test]
    fn a_first_session_id_reads_and_travels_as_the_courses() {
        let first = TxId::new(Account(0), 3);
        assert_eq!(first.to_string(), "A3");
        let json = serde_json::to_string(&first).unwrap();
        assert_eq!(json, r#"{"client":"A","seq":3}"#);
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), first);
        let other = TxId {
            session: Session(2),
            ..first
        };
        assert_eq!(other.to_string(), "A/2:3");
        let json = serde_json::to_string(&other).unwrap();
        assert_eq!(json, r#"{"client":"A","session":2,"seq":3}"#);
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), other);
        assert!(first < other, "ids order by account, session, then number");
        assert!(serde_json::from_str::<TxId>(r#"{"client":"A","session":256,"seq":3}"#).is_err());
    }

    #[test]
    fn ballots_order_by_round_then_wait_then_leader() {
        let b = |round, waited, leader| Ballot {
            round,
            waited,
            leader,
        };
        assert!(b(1, 5, 2) < b(2, 0, 0), "the round comes first");
        assert!(b(2, 0, 4) < b(2, 1, 0), "then the longer wait");
        assert!(b(2, 1, 0) < b(2, 1, 1), "then the index");
        assert_eq!(b(3, 0, 1).to_string(), "3.B");
        assert_eq!(b(3, 2, 1).to_string(), "3.B+2");
        assert_eq!(Ballot::new(3, 1), b(3, 0, 1));
    }
}
