//! The network's attacker: it sees every peer message and replays it where it was not sent.
//!
//! Deployed, an attacker who can reach the servers' ports sees their datagrams and can send
//! any of them again, anywhere, any number of times. What it cannot do is make a seal: a
//! peer datagram's MAC is under a key only its two servers hold (deploy/src/peers.rs). So
//! what it can send a server is one of three things:
//!
//! 1. a datagram with no valid MAC: the host drops it before any actor sees it (the model's
//!    stand-in is a peer message from a non-server, which `ServerActor` ignores);
//! 2. an authentic datagram sent again to its own receiver: a duplicate, which the model's
//!    network already delivers at will (spec/security.md, "Replays");
//! 3. an authentic datagram sent to *another* server, or back to its sender: a relay.
//!
//! The third is this module's. With `ModelConfig::attacker`, every peer message a server
//! sends is also relayed, in the same step, to every other server and back to its sender
//! (`Msg::Relayed`, with the seal its sender made for its receiver). The network then
//! delivers each relay whenever it likes, or never, so one copy per receiver covers every
//! time the attacker could have sent it. A server must read none of them
//! (`ServerActor::opens`); the property "a server acts only on peer messages sealed for it"
//! says so, and the model knows when one acts on a relay: it delivered it, and the
//! handler changed its state or sent something ([`acted_on_relay`]).
//!
//! Relays a server ignores cost nothing: reduction 4 takes a message its receiver ignores
//! for good out of the network in the step that sends it. Symmetry is off with the attacker:
//! a seal names servers, which a renaming would have to rewrite.

use paxchain::{Msg, PeerMsg, Seal, Storage, Timer};
use stateright::actor::{Command, Id};

/// What the attacker relays of the commands server `me` gave in one step: each peer message
/// to a server, sealed for it, sent on to every other of the `servers` servers.
pub fn relays(
    me: Id,
    servers: usize,
    commands: &[Command<Msg, Timer, (), Storage>],
) -> Vec<(Id, Msg)> {
    let mut out = Vec::new();
    for c in commands {
        if let Command::Send(dst, Msg::Peer(peer)) = c {
            out.extend(relays_of(me.into(), (*dst).into(), peer, servers));
        }
    }
    out
}

/// The relays of one peer message `peer` from server `from` to actor `to`: sealed for `to`,
/// sent on to every other of the `servers` servers (none if `to` is not a server). The
/// harness's attacker (harness/src/relay.rs) makes the same ones of the real servers'
/// datagrams.
pub fn relays_of(from: usize, to: usize, peer: &PeerMsg, servers: usize) -> Vec<(Id, Msg)> {
    if to >= servers {
        return Vec::new();
    }
    let index = |i: usize| u8::try_from(i).expect("at most 7 servers");
    let seal = Seal {
        from: index(from),
        to: index(to),
    };
    let relayed = |z: usize| {
        let peer = peer.clone();
        (Id::from(z), Msg::Relayed { seal, peer })
    };
    (0..servers).filter(|&z| z != to).map(relayed).collect()
}

/// Whether delivering `msg` to server `me` was acting on a relay not sealed for it: `msg` is
/// a relay whose seal names another receiver, and the step changed the server's state or
/// sent something.
pub fn acted_on_relay(me: Id, msg: &Msg, changed: bool, sent: bool) -> bool {
    matches!(msg, Msg::Relayed { seal, .. } if usize::from(seal.to) != usize::from(me))
        && (changed || sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::{Ballot, Height};

    #[test]
    fn each_peer_message_is_relayed_to_every_server_but_its_receiver() {
        let prepare = PeerMsg::Prepare {
            ballot: Ballot::new(1, 0),
            height: Height(1),
        };
        let commands: Vec<Command<Msg, Timer, (), Storage>> = vec![
            Command::Send(Id::from(1), prepare.clone().into()),
            Command::Send(Id::from(7), prepare.clone().into()), // a client: not a server
            Command::SetTimer(
                Timer::Round,
                std::time::Duration::ZERO..std::time::Duration::ZERO,
            ),
        ];
        let relays = relays(Id::from(0), 3, &commands);
        let seal = Seal { from: 0, to: 1 };
        let expected = |to: usize| {
            (
                Id::from(to),
                Msg::Relayed {
                    seal,
                    peer: prepare.clone(),
                },
            )
        };
        assert_eq!(relays, vec![expected(0), expected(2)]);
        let relay = &relays[1].1;
        assert!(acted_on_relay(Id::from(2), relay, true, false));
        assert!(acted_on_relay(Id::from(2), relay, false, true));
        assert!(!acted_on_relay(Id::from(2), relay, false, false));
        assert!(
            !acted_on_relay(Id::from(1), relay, true, true),
            "its own receiver"
        );
        assert!(!acted_on_relay(Id::from(2), &prepare.into(), true, true));
    }
}
