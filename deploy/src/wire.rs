//! The datagram codec: what a deployed server reads and writes on its socket.
//!
//! A datagram is JSON. Almost all of them are protocol messages ([`Msg`], the client API
//! and the peer protocol), encoded exactly as the message itself, so clients and peers
//! never see the other kinds. The other two kinds exist for the conformance harness:
//! [`HarnessRequest`]s, which only a server in conformance mode obeys, and the
//! [`HarnessReply`]s it answers with (see [`crate::conformance`]). Their JSON keys
//! (`Harness`, `HarnessReply`) are not keys of [`Msg`], so no datagram means two things.

use crate::conformance::{HarnessReply, HarnessRequest};
use paxchain::Msg;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Any datagram of the deployment.
#[derive(Clone, Debug, PartialEq, Hash, Eq)]
pub enum Datagram {
    /// A message of the protocol (client API or peer protocol).
    Protocol(Msg),
    /// A command of the conformance harness.
    Harness(HarnessRequest),
    /// A server's answer to the harness.
    HarnessReply(HarnessReply),
}

/// The harness's datagrams as they are encoded.
#[derive(Serialize, Deserialize)]
enum HarnessDatagram {
    Harness(HarnessRequest),
    HarnessReply(HarnessReply),
}

/// The datagram's bytes.
pub fn encode(d: &Datagram) -> Result<Vec<u8>, serde_json::Error> {
    match d {
        Datagram::Protocol(m) => serde_json::to_vec(m),
        Datagram::Harness(r) => serde_json::to_vec(&HarnessDatagram::Harness(r.clone())),
        Datagram::HarnessReply(r) => serde_json::to_vec(&HarnessDatagram::HarnessReply(r.clone())),
    }
}

/// Parses a datagram; the error is the protocol parser's, the one a person needs.
pub fn parse(b: &[u8]) -> Result<Datagram, serde_json::Error> {
    match serde_json::from_slice::<Msg>(b) {
        Ok(m) => Ok(Datagram::Protocol(m)),
        Err(e) => match serde_json::from_slice::<HarnessDatagram>(b) {
            Ok(HarnessDatagram::Harness(r)) => Ok(Datagram::Harness(r)),
            Ok(HarnessDatagram::HarnessReply(r)) => Ok(Datagram::HarnessReply(r)),
            Err(_) => Err(e),
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
pub fn decode(b: &[u8]) -> Result<Datagram, serde_json::Error> {
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

/// A protocol message's bytes.
pub fn encode_msg(m: &Msg) -> Vec<u8> {
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
        assert!(malformed_datagrams() >= before + 2);
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
