//! The `forge` fault: an attacker on the network who knows no server's key and no account's
//! key sends each server every well-formed forgery it can make, and the run checks that
//! the server refused each one and counted it.
//!
//! For each server, in turn, from the addresses a real attacker can use:
//! 1. **peer messages without a seal**, from a peer's address: a binary PREPARE with a high
//!    ballot, as servers without keys would send it;
//! 2. **peer messages under a wrong seal**, from a peer's address: a MAC made without the
//!    pair's key, and a seal naming a sender that is no server;
//! 3. **captured authentic datagrams replayed to this server**, from their sender's address,
//!    when they were sealed for another server (the relay keeps the last of each pair);
//! 4. **transfers their owners did not sign**, through the network as a client's: one
//!    signed by an attacker's key under the server's account, one signed by another
//!    account's owner (a real client spending money it does not own).
//!
//! Kinds 1 to 3 must each be dropped and counted as not authentic, and nothing else dropped
//! (the server's monitor count, read before and after, must rise by exactly what was sent);
//! kind 4 must each be answered `Rejected { BadSignature }`. A server is asked until its
//! count is reached or two seconds pass, since the relay may still hold a datagram.
//! Whatever the servers executed anyway, check 3 finds in the chain: these transfers'
//! session is one no client uses.

use super::net::FaultNet;
use crate::demo::Demo;
use crate::peers::Sealed;
use crate::wire::{self, Datagram};
use crate::UdpClient;
use paxchain::{Account, ApiMsg, Ballot, Height, Msg, Outcome, PeerMsg, Rejection};
use paxchain::{Session, Transfer, TxId};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The session of the forged transfers: no client of the run uses it.
pub const FORGED_SESSION: Session = Session(250);

/// What one server was sent by the `forge` fault, and what it did with it.
#[derive(Clone, Debug, Serialize)]
pub struct Forgery {
    pub server: Account,
    /// Peer datagrams sent that are not authentic (kinds 1 to 3).
    pub peer_sent: u64,
    /// How many more it counted as not authentic after them.
    pub peer_counted: u64,
    /// How many more it counted as malformed (none was sent).
    pub malformed_counted: u64,
    /// Whether it answered its monitor before and after (its counts mean nothing if not).
    pub monitor_answered: bool,
    /// Transfers sent that their owners did not sign (kind 4).
    pub transfers_sent: u64,
    /// How many of them were answered `Rejected { BadSignature }`.
    pub transfers_refused: u64,
    /// Any other answer, or none, for each of the others.
    pub other_answers: Vec<String>,
}

impl Forgery {
    /// What is wrong with how the server handled the forgeries, if anything.
    pub fn fault(&self) -> Option<String> {
        let mut wrong = Vec::new();
        if !self.monitor_answered {
            wrong.push("its monitor did not answer".to_string());
        } else if self.peer_counted != self.peer_sent {
            wrong.push(format!(
                "counted {} of {} unauthentic peer datagrams",
                self.peer_counted, self.peer_sent
            ));
        }
        if self.malformed_counted != 0 {
            wrong.push(format!(
                "counted {} malformed where none was sent",
                self.malformed_counted
            ));
        }
        if self.transfers_refused != self.transfers_sent {
            wrong.push(format!(
                "refused {} of {} unsigned transfers: {}",
                self.transfers_refused,
                self.transfers_sent,
                self.other_answers.join("; ")
            ));
        }
        (!wrong.is_empty()).then(|| format!("server {}: {}", self.server, wrong.join(", ")))
    }
}

/// Sends server `to` every kind of forgery, `round` making this fault's transfer ids new.
pub fn forge(demo: &Demo, net: &FaultNet, to: usize, round: u32) -> Forgery {
    let cluster = &demo.cluster;
    let (n, server) = (cluster.servers.len(), Account::of_server(to));
    let from = (to + 1) % n;
    let before = dropped(demo, to);
    let before_counts = before.unwrap_or_default();
    let mut peer_sent = 0;
    for datagram in unauthentic(from, to, round) {
        net.forge(from, to, &datagram);
        peer_sent += 1;
    }
    if net.replay_to(to, round as usize) {
        peer_sent += 1;
    }
    let (transfers_sent, transfers_refused, other_answers) = unsigned_transfers(demo, to, round);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut after = dropped(demo, to);
    let reached = |a: Option<(u64, u64)>| a.is_some_and(|a| a.1 >= before_counts.1 + peer_sent);
    while !reached(after) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        after = dropped(demo, to);
    }
    let after_counts = after.unwrap_or_default();
    Forgery {
        server,
        peer_sent,
        peer_counted: after_counts.1.saturating_sub(before_counts.1),
        malformed_counted: after_counts.0.saturating_sub(before_counts.0),
        monitor_answered: before.is_some() && after.is_some(),
        transfers_sent,
        transfers_refused,
        other_answers,
    }
}

/// Kinds 1 and 2, as if from server `from` to server `to`.
fn unauthentic(from: usize, to: usize, round: u32) -> Vec<Vec<u8>> {
    let prepare = PeerMsg::Prepare {
        ballot: Ballot::new(round.saturating_add(1_000), 0),
        height: Height(1),
    };
    let payload = postcard::to_allocvec(&prepare).expect("messages are plain data");
    let index = |i: usize| u8::try_from(i).expect("at most 7 servers");
    let sealed = |from: u8| {
        let seal = Sealed {
            from,
            to: index(to),
            mac: [0x5a; 32],
            payload: payload.clone(),
        };
        wire::encode(&Datagram::Sealed(seal)).expect("a plain datagram")
    };
    let unsealed = wire::encode_msg(&Msg::Peer(prepare.clone()));
    vec![unsealed, sealed(index(from)), sealed(200)]
}

/// Kind 4: (sent, refused as unsigned, what else came back).
fn unsigned_transfers(demo: &Demo, to: usize, round: u32) -> (u64, u64, Vec<String>) {
    let cluster = &demo.cluster;
    let (n, owner) = (cluster.servers.len(), Account::of_server(to));
    let other = Account::of_server((to + 1) % n);
    let attacker = crate::keys::generate();
    let not_owners = [attacker, *demo.keys.get(other).expect("a key per account")];
    let (mut refused, mut other_answers) = (0, Vec::new());
    for (k, key) in not_owners.iter().enumerate() {
        let id = TxId {
            client: owner,
            session: FORGED_SESSION,
            seq: round.saturating_mul(2).saturating_add(k as u32 + 1),
        };
        let transfer = Transfer::model_signed(id, owner, other, 1);
        let transfer = paxchain::signature::sign(transfer, key);
        let answer = UdpClient::new(cluster, owner).and_then(|c| {
            let addr = c.server(owner)?;
            c.request(
                addr,
                ApiMsg::Submit { transfer },
                |m| matches!(m, ApiMsg::Outcome { id: i, .. } if *i == id),
            )
        });
        match answer {
            Ok(ApiMsg::Outcome {
                outcome:
                    Outcome::Rejected {
                        reason: Rejection::BadSignature { .. },
                    },
                ..
            }) => refused += 1,
            Ok(a) => other_answers.push(format!("{id}: {a:?}")),
            Err(e) => other_answers.push(format!("{id}: {e}")),
        }
    }
    (not_owners.len() as u64, refused, other_answers)
}

/// Server `i`'s counts of dropped datagrams since it started: (malformed, not authentic);
/// `None` if it does not answer.
fn dropped(demo: &Demo, i: usize) -> Option<(u64, u64)> {
    let me = Account::of_server(i);
    (UdpClient::new(&demo.cluster, me).and_then(|c| c.dropped(me))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handled_well() -> Forgery {
        Forgery {
            server: Account::of_server(1),
            peer_sent: 4,
            peer_counted: 4,
            malformed_counted: 0,
            monitor_answered: true,
            transfers_sent: 2,
            transfers_refused: 2,
            other_answers: Vec::new(),
        }
    }

    #[test]
    fn a_forgery_not_refused_or_not_counted_is_named() {
        assert_eq!(handled_well().fault(), None);
        let uncounted = Forgery {
            peer_counted: 3,
            ..handled_well()
        };
        assert_eq!(
            uncounted.fault().as_deref(),
            Some("server B: counted 3 of 4 unauthentic peer datagrams")
        );
        let executed = Forgery {
            transfers_refused: 1,
            other_answers: vec!["B/250:2: Outcome Executed".into()],
            malformed_counted: 1,
            ..handled_well()
        };
        let said = executed.fault().expect("a fault");
        assert!(
            said.contains("counted 1 malformed where none was sent"),
            "{said}"
        );
        assert!(
            said.contains("refused 1 of 2 unsigned transfers: B/250:2"),
            "{said}"
        );
        let silent = Forgery {
            monitor_answered: false,
            peer_counted: 0,
            ..handled_well()
        };
        assert_eq!(
            silent.fault().as_deref(),
            Some("server B: its monitor did not answer")
        );
    }

    #[test]
    fn the_peer_forgeries_are_each_a_kind_a_server_drops_as_not_authentic() {
        let sent = unauthentic(0, 1, 3);
        assert_eq!(sent.len(), 3);
        assert!(matches!(
            wire::parse(&sent[0]),
            Ok(Datagram::Protocol(Msg::Peer(_)))
        ));
        let seals: Vec<(u8, u8)> = (sent[1..].iter())
            .map(|b| match wire::parse(b) {
                Ok(Datagram::Sealed(s)) => (s.from, s.to),
                other => panic!("not sealed: {other:?}"),
            })
            .collect();
        assert_eq!(seals, vec![(0, 1), (200, 1)]);
    }
}
