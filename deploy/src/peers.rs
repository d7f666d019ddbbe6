//! Authenticated peers: every datagram between servers is sealed with a MAC that binds its
//! sender, its receiver and its bytes.
//!
//! # Keys
//! Each server has an X25519 key pair: the secret half in its key file (`paxchain keygen
//! --server`, `paxchain server --key-file`), the public half as `server_key` in the cluster
//! file. Two servers derive the key of their pair without ever sending it: SHA-256 over a
//! domain tag, the two indices and their Diffie-Hellman secret. Nothing secret is in the
//! cluster file, and a server's key authenticates it to each peer separately.
//!
//! # Why a MAC per pair and not signatures
//! A MAC (HMAC-SHA256) costs about a quarter of a microsecond a datagram, a signature 15 µs
//! to make and 36 µs to check; a round is some ten peer datagrams, and the servers are the
//! only parties that need to check them, pairwise. Signatures would add what only a third
//! party needs (proof to someone else of who sent it), which no one here asks for: blocks
//! carry their transfers' owners' signatures for auditors already.
//!
//! # What the seal binds
//! `(from, to, payload)`: a datagram captured on its way from A to B cannot be sent to C as
//! A's (C checks `to`), nor its bytes changed, nor claimed by another sender. Sent again to
//! B it is accepted: it is an authentic duplicate, and the model checks the protocol on a
//! network that duplicates and reorders every message (spec/security.md).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// A peer datagram as it travels: who sent it to whom, the MAC, and the peer message's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sealed {
    pub from: u8,
    pub to: u8,
    pub mac: [u8; 32],
    pub payload: Vec<u8>,
}

impl Sealed {
    /// The peer message inside, read without checking the MAC: by the host once the seal
    /// has opened, and by the conformance harness, which only compares what servers send.
    pub fn message(&self) -> Result<paxchain::PeerMsg, postcard::Error> {
        postcard::from_bytes(&self.payload)
    }
}

/// Why a sealed datagram was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    #[error("it is addressed to server {0}, not this one")]
    NotForMe(u8),
    #[error("it names sender {0}, which is no peer")]
    NoSuchPeer(u8),
    #[error("its MAC does not verify")]
    BadMac,
}

/// One server's keys with each of its peers.
#[derive(Clone)]
pub struct PeerKeys {
    me: u8,
    /// By peer index; `None` for this server itself.
    pairs: Vec<Option<[u8; 32]>>,
}

impl PeerKeys {
    /// The keys of server `me`, whose secret is `secret`, with every server in `publics`.
    pub fn derive(me: usize, secret: &StaticSecret, publics: &[PublicKey]) -> PeerKeys {
        let pairs = (publics.iter().enumerate())
            .map(|(i, public)| {
                (i != me).then(|| {
                    let shared = secret.diffie_hellman(public);
                    let mut h = Sha256::new();
                    h.update(b"paxchain-peer-key-v1");
                    h.update([me.min(i) as u8, me.max(i) as u8]);
                    h.update(shared.as_bytes());
                    h.finalize().into()
                })
            })
            .collect();
        PeerKeys {
            me: u8::try_from(me).expect("at most 26 servers"),
            pairs,
        }
    }

    /// `payload`, sealed for peer `to`.
    pub fn seal(&self, to: usize, payload: Vec<u8>) -> Sealed {
        let to = u8::try_from(to).expect("at most 26 servers");
        let key = self.pairs[usize::from(to)].expect("a peer, not this server");
        let mac = mac(&key, self.me, to, &payload);
        Sealed {
            from: self.me,
            to,
            mac,
            payload,
        }
    }

    /// The sender of `sealed`, if it is authentic and for this server.
    pub fn open(&self, sealed: &Sealed) -> Result<usize, Unsealed> {
        if sealed.to != self.me {
            return Err(Unsealed::NotForMe(sealed.to));
        }
        let Some(Some(key)) = self.pairs.get(usize::from(sealed.from)) else {
            return Err(Unsealed::NoSuchPeer(sealed.from));
        };
        use hmac::Mac as _;
        let check = hmac_of(key, sealed.from, sealed.to, &sealed.payload);
        // Compared in constant time by the hmac crate.
        check
            .verify_slice(&sealed.mac)
            .map_err(|_| Unsealed::BadMac)?;
        Ok(usize::from(sealed.from))
    }
}

fn hmac_of(key: &[u8; 32], from: u8, to: u8, payload: &[u8]) -> hmac::Hmac<Sha256> {
    use hmac::{KeyInit, Mac};
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(b"paxchain-peer-v1");
    m.update(&[from, to]);
    m.update(payload);
    m
}

fn mac(key: &[u8; 32], from: u8, to: u8, payload: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    hmac_of(key, from, to, payload)
        .finalize()
        .into_bytes()
        .into()
}

/// A server's secret key from a key file's seed.
pub fn secret(seed: [u8; 32]) -> StaticSecret {
    StaticSecret::from(seed)
}

/// The public half of a server's secret key.
pub fn public(secret: &StaticSecret) -> PublicKey {
    PublicKey::from(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Vec<PeerKeys> {
        let secrets: Vec<StaticSecret> = (1..=3u8).map(|i| secret([i; 32])).collect();
        let publics: Vec<PublicKey> = secrets.iter().map(public).collect();
        (0..3)
            .map(|i| PeerKeys::derive(i, &secrets[i], &publics))
            .collect()
    }

    #[test]
    fn a_sealed_datagram_opens_only_at_its_receiver_unchanged() {
        let keys = three();
        let sealed = keys[0].seal(1, b"PREPARE".to_vec());
        assert_eq!(keys[1].open(&sealed), Ok(0), "B opens A's datagram to B");
        assert_eq!(
            keys[1].open(&sealed),
            Ok(0),
            "again: an authentic duplicate"
        );
        assert_eq!(
            keys[2].open(&sealed),
            Err(Unsealed::NotForMe(1)),
            "replayed to C"
        );
        let mut altered = sealed.clone();
        altered.payload[0] ^= 1;
        assert_eq!(keys[1].open(&altered), Err(Unsealed::BadMac));
        let mut claimed = sealed.clone();
        claimed.from = 2;
        assert_eq!(
            keys[1].open(&claimed),
            Err(Unsealed::BadMac),
            "C's name, A's MAC"
        );
        let mut readdressed = sealed.clone();
        readdressed.to = 2;
        assert_eq!(
            keys[2].open(&readdressed),
            Err(Unsealed::BadMac),
            "sent on to C"
        );
        let mut stranger = sealed;
        stranger.from = 9;
        assert_eq!(keys[1].open(&stranger), Err(Unsealed::NoSuchPeer(9)));
    }

    #[test]
    fn an_outsiders_key_seals_nothing_a_server_accepts() {
        let keys = three();
        let secrets: Vec<StaticSecret> = [1u8, 2, 99].map(|i| secret([i; 32])).into();
        let publics: Vec<PublicKey> = secrets.iter().map(public).collect();
        // The outsider believes itself server C, with a key of its own.
        let outsider = PeerKeys::derive(2, &secrets[2], &publics);
        let forged = outsider.seal(1, b"COMMIT".to_vec());
        assert_eq!(keys[1].open(&forged), Err(Unsealed::BadMac));
    }
}
