//! The datagram codec: what a deployed server reads and writes on its socket.
//!
//! Almost all datagrams are protocol messages ([`Msg`]), in two encodings:
//! - the **client API** is JSON, encoded exactly as the message itself, so a person can
//!   talk to a server with any UDP tool;
//! - the **peer protocol** is binary: the byte [`PEER_TAG`], then the [`PeerMsg`] in
//!   postcard, a compact serde format (varints, no field names): a third to a tenth of the
//!   JSON's bytes, and no text to parse. No JSON text starts with that byte. A peer message
//!   in JSON is still understood (a person may type one), but servers never send one.
//!
//! The other kinds exist only between servers and the harness, so clients and peers never
//! see them. The other two kinds exist for the conformance harness:
//! [`HarnessRequest`]s, which only a server in conformance mode obeys, and the
//! [`HarnessReply`]s it answers with (see [`crate::conformance`]). Their JSON keys
//! (`Harness`, `HarnessReply`) are not keys of [`Msg`], so no datagram means two things.

use crate::conformance::{HarnessReply, HarnessRequest};
use crate::peers::Sealed;
use paxchain::{Msg, PeerMsg};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Any datagram of the deployment.
#[derive(Clone, Debug, PartialEq, Hash, Eq)]
pub enum Datagram {
    /// A message of the protocol (client API or peer protocol).
    Protocol(Msg),
    /// A peer message sealed with its pair's MAC (crate::peers): what servers with keys send
    /// each other. The payload is the peer message's postcard bytes.
    Sealed(Sealed),
    /// A command of the conformance harness.
    Harness(HarnessRequest),
    /// A server's answer to the harness.
    HarnessReply(HarnessReply),
    /// Anyone to a server: how many datagrams it has dropped, and why.
    Monitor,
    /// A server's answer: datagrams that did not parse, and peer datagrams that were not
    /// authentic (no seal where keys are set, a seal that does not open), since it started.
    Dropped {
        malformed: u64,
        unauthenticated: u64,
    },
}

/// The JSON-encoded datagrams that are not protocol messages.
#[derive(Serialize, Deserialize)]
enum HarnessDatagram {
    Harness(HarnessRequest),
    HarnessReply(HarnessReply),
    Monitor,
    Dropped {
        malformed: u64,
        unauthenticated: u64,
    },
}

/// The first byte of a binary peer datagram. JSON text starts with whitespace or one of
/// `{["tfn-0123456789`, never with this.
pub const PEER_TAG: u8 = 0xB1;

/// The first byte of a sealed peer datagram: then sender, receiver, 32 bytes of MAC, and
/// the peer message's postcard bytes.
pub const SEALED_TAG: u8 = 0xB2;

/// Why a datagram could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("a binary peer message that does not decode ({0})")]
    Binary(#[from] postcard::Error),
    #[error("{0} bytes: longer than any message ({MAX_DATAGRAM}), refused unread")]
    TooLong(usize),
    #[error("a sealed peer datagram of {0} bytes: shorter than its seal")]
    Short(usize),
}

/// The datagram's bytes.
pub fn encode(d: &Datagram) -> Result<Vec<u8>, WireError> {
    Ok(match d {
        Datagram::Protocol(m) => encode_msg(m),
        Datagram::Sealed(s) => {
            let mut b = Vec::with_capacity(35 + s.payload.len());
            b.extend_from_slice(&[SEALED_TAG, s.from, s.to]);
            b.extend_from_slice(&s.mac);
            b.extend_from_slice(&s.payload);
            b
        }
        Datagram::Harness(r) => serde_json::to_vec(&HarnessDatagram::Harness(r.clone()))?,
        Datagram::HarnessReply(r) => serde_json::to_vec(&HarnessDatagram::HarnessReply(r.clone()))?,
        Datagram::Monitor => serde_json::to_vec(&HarnessDatagram::Monitor)?,
        &Datagram::Dropped {
            malformed,
            unauthenticated,
        } => serde_json::to_vec(&HarnessDatagram::Dropped {
            malformed,
            unauthenticated,
        })?,
    })
}

/// The longest datagram parsed: every message a server or client sends fits well below it
/// (src/msg.rs tests the fullest), so a longer one is refused before any parsing.
pub const MAX_DATAGRAM: usize = 60_000;

/// Parses a datagram; for text, the error is the protocol parser's, the one a person needs.
pub fn parse(b: &[u8]) -> Result<Datagram, WireError> {
    if b.len() > MAX_DATAGRAM {
        return Err(WireError::TooLong(b.len()));
    }
    if let Some((&PEER_TAG, rest)) = b.split_first() {
        let m = postcard::from_bytes::<PeerMsg>(rest)?;
        return Ok(Datagram::Protocol(Msg::Peer(m)));
    }
    if let [SEALED_TAG, from, to, rest @ ..] = b {
        let (mac, payload) = rest.split_at_checked(32).ok_or(WireError::Short(b.len()))?;
        return Ok(Datagram::Sealed(Sealed {
            from: *from,
            to: *to,
            mac: mac.try_into().expect("32 bytes"),
            payload: payload.to_vec(),
        }));
    }
    match serde_json::from_slice::<Msg>(b) {
        Ok(m) => Ok(Datagram::Protocol(m)),
        Err(e) => match serde_json::from_slice::<HarnessDatagram>(b) {
            Ok(HarnessDatagram::Harness(r)) => Ok(Datagram::Harness(r)),
            Ok(HarnessDatagram::HarnessReply(r)) => Ok(Datagram::HarnessReply(r)),
            Ok(HarnessDatagram::Monitor) => Ok(Datagram::Monitor),
            Ok(HarnessDatagram::Dropped {
                malformed,
                unauthenticated,
            }) => Ok(Datagram::Dropped {
                malformed,
                unauthenticated,
            }),
            Err(_) => Err(e.into()),
        },
    }
}

/// Datagrams that did not parse, since this process started.
static MALFORMED: AtomicU64 = AtomicU64::new(0);

/// How many datagrams this process has dropped because they did not parse.
pub fn malformed_datagrams() -> u64 {
    MALFORMED.load(Ordering::Relaxed)
}

/// The server's decoder: [`parse`], and a datagram that does not parse is counted and
/// reported on stderr (the 1st, 2nd, 4th, 8th, ... so a flood cannot flood the terminal);
/// the runtime then drops it.
pub fn decode(b: &[u8]) -> Result<Datagram, WireError> {
    parse(b).inspect_err(|e| {
        let n = MALFORMED.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!(
                "paxchain server: dropped a malformed datagram of {} bytes ({n} so far): {e}",
                b.len()
            );
        }
    })
}

/// A protocol message's bytes: JSON for the client API, binary for peers.
pub fn encode_msg(m: &Msg) -> Vec<u8> {
    match m {
        // A relayed message (the model's attacker's) only travels in conformance runs.
        Msg::Api(_) | Msg::Relayed { .. } => {
            serde_json::to_vec(m).expect("messages are plain data")
        }
        Msg::Peer(p) => {
            let bytes = vec![PEER_TAG];
            postcard::to_extend(p, bytes).expect("messages are plain data")
        }
    }
}

/// A protocol message in JSON, whatever its kind: what a person would type, and what the
/// bench compares the binary peer encoding with.
pub fn encode_json(m: &Msg) -> Vec<u8> {
    serde_json::to_vec(m).expect("messages are plain data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::{ServerState, Timer};

    #[test]
    fn malformed_datagrams_are_counted_and_good_ones_decode() {
        let before = malformed_datagrams();
        assert!(decode(b"\x00 not json").is_err());
        let e = decode(br#"{"Api":{"Submit":{"transfer":{"id":"#).unwrap_err();
        assert!(
            e.to_string().contains("EOF"),
            "the protocol parser's error: {e}"
        );
        assert!(decode(br#"{"Api":"GetLog"}"#).is_ok());
        let e = decode(&[PEER_TAG, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(e, WireError::Binary(_)), "{e}");
        assert!(decode(&[PEER_TAG]).is_err(), "a tag alone");
        let long = vec![b' '; MAX_DATAGRAM + 1];
        assert!(matches!(decode(&long), Err(WireError::TooLong(n)) if n == MAX_DATAGRAM + 1));
        assert!(malformed_datagrams() >= before + 5);
    }

    /// Every kind of message, every field populated, comes out of the wire codec as it went
    /// in, and a protocol message is encoded exactly as the message alone.
    #[test]
    fn every_message_round_trips_through_the_wire_codec() {
        use crate::arbitrary::{kind, msg, MESSAGE_KINDS};
        let mut g = quickcheck::Gen::new(64);
        for round in 0..50 {
            for k in 0..MESSAGE_KINDS {
                let m = msg(&mut g, k);
                assert_eq!(kind(&m), k, "kind numbers agree");
                let d = Datagram::Protocol(m.clone());
                let bytes = encode(&d).expect("every message encodes");
                assert_eq!(bytes, encode_msg(&m));
                let back = decode(&bytes).expect("what was encoded decodes");
                assert_eq!(back, d, "round {round}, kind {k}");
                // A peer message is binary and smaller; its JSON form is understood too.
                let json = encode_json(&m);
                assert_eq!(bytes[0] == PEER_TAG, matches!(m, Msg::Peer(_)));
                assert_eq!(bytes == json, !matches!(m, Msg::Peer(_)));
                if matches!(m, Msg::Peer(_)) {
                    assert!(
                        bytes.len() < json.len(),
                        "{} vs {}",
                        bytes.len(),
                        json.len()
                    );
                }
                assert_eq!(decode(&json).expect("JSON decodes"), d);
            }
        }
    }

    #[test]
    fn harness_datagrams_round_trip_and_are_not_protocol_messages() {
        let all = [
            Datagram::Harness(HarnessRequest::FireTimer {
                timer: Timer::Gather,
            }),
            Datagram::Harness(HarnessRequest::ReportState),
            Datagram::HarnessReply(HarnessReply::State {
                state: Box::new(ServerState::fresh()),
                handled: 7,
                sent: 5,
            }),
            Datagram::HarnessReply(HarnessReply::Refused {
                reason: "no".into(),
            }),
        ];
        for d in all {
            let bytes = encode(&d).unwrap();
            assert!(serde_json::from_slice::<paxchain::Msg>(&bytes).is_err());
            assert_eq!(parse(&bytes).unwrap(), d);
        }
    }
}
