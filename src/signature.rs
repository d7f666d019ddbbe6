//! Who may move money: every transfer carries its owner's signature, and a server executes
//! nothing whose signature does not verify against the sender account's key.
//!
//! # What is signed
//! [`signed_bytes`]: a domain tag, then every field of the transfer (its id with the session,
//! the sender, the receiver, the amount). The signature travels with the transfer into the
//! log and the chain, and a block's hash covers it, so anyone holding the chain and the
//! accounts' public keys can check every transfer without trusting a server
//! (`paxchain audit`).
//!
//! # Two kinds of signature, one rule
//! Deployed, a signature is Ed25519 under the ZIP215 validation rules (the `ed25519-zebra`
//! crate): single and batch verification accept exactly the same signatures, so two servers
//! can never disagree about one. In the model it is abstract: [`Signature::Model`] names its
//! signer and a digest of the bytes signed. The model's clients make their own; the rogue
//! client, which knows no key, can only copy one it has seen or write a wrong one. The rule
//! is the same for both: the signature must be the sender account's, over this transfer's
//! bytes. A server runs one of the two, as its configuration says ([`AccountKeys`]): Ed25519
//! keys from the cluster file, or the model's rule, which only the model and a server in
//! conformance mode (`paxchain server --conformance`, for replaying model traces) use.

use crate::ids::{Account, TxId};
use crate::ledger::Transfer;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// A transfer's signature by its sender account's owner.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Signature {
    /// The model's: who signed, and a digest of the bytes signed ([`model_digest`]).
    Model { signer: Account, digest: u64 },
    /// The deployment's: Ed25519 over [`signed_bytes`].
    Ed25519(Ed25519Bytes),
}

/// The 64 bytes of an Ed25519 signature (shared, so a transfer copies cheaply). In JSON a
/// hex string; in binary encodings the 64 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ed25519Bytes(pub Arc<[u8; 64]>);

/// The bytes a signature covers. `leave_out_amount` is a seeded bug's (the zoo's
/// `signature-leaves-out-amount`): the amount is then not signed, and a copied signature
/// passes for any amount.
pub fn signed_bytes(t: &Transfer, leave_out_amount: bool) -> Vec<u8> {
    let Transfer {
        id: TxId {
            client,
            session,
            seq,
        },
        from,
        to,
        amount,
        signature: _,
    } = t;
    let mut b = Vec::with_capacity(48);
    b.extend_from_slice(b"paxchain-transfer-v1");
    b.extend_from_slice(&[client.0, session.0]);
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[from.0, to.0]);
    if !leave_out_amount {
        b.extend_from_slice(&amount.to_be_bytes());
    }
    b
}

/// The model's digest of signed bytes: FNV-1a, cheap and deterministic. (It need not resist
/// forgery: the model's adversary never computes one, it only copies.)
pub fn model_digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The model's signature of `t` by its sender's owner, as the model's clients sign.
pub fn model_signature(t: &Transfer, leave_out_amount: bool) -> Signature {
    Signature::Model {
        signer: t.from,
        digest: model_digest(&signed_bytes(t, leave_out_amount)),
    }
}

/// `t`, signed with `key` (a deployed client's): Ed25519 over [`signed_bytes`].
pub fn sign(mut t: Transfer, key: &ed25519_zebra::SigningKey) -> Transfer {
    let sig: [u8; 64] = key.sign(&signed_bytes(&t, false)).into();
    t.signature = Signature::Ed25519(Ed25519Bytes(Arc::new(sig)));
    t
}

/// The rule by which a server verifies transfers: the accounts' Ed25519 keys, or the model's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AccountKeys {
    /// The model's abstract signatures (the model, and a server in conformance mode).
    #[default]
    Model,
    /// Each account's Ed25519 verification key, by account index.
    Ed25519(Vec<ed25519_zebra::VerificationKey>),
}

impl AccountKeys {
    /// Whether `t` carries its sender account's signature over its own bytes.
    pub fn verify(&self, t: &Transfer, leave_out_amount: bool) -> bool {
        match (self, &t.signature) {
            (AccountKeys::Model, Signature::Model { signer, digest }) => {
                *signer == t.from && *digest == model_digest(&signed_bytes(t, leave_out_amount))
            }
            (AccountKeys::Ed25519(keys), Signature::Ed25519(sig)) => {
                let Some(key) = keys.get(t.from.index()) else {
                    return false;
                };
                let sig = ed25519_zebra::Signature::from(*sig.0);
                key.verify(&sig, &signed_bytes(t, leave_out_amount)).is_ok()
            }
            // A signature of the other kind is no signature.
            _ => false,
        }
    }
}

impl fmt::Debug for Ed25519Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex(&self.0[..4]))
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex, if that is what `text` is.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl Serialize for Ed25519Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return s.serialize_str(&hex(&self.0[..]));
        }
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(64)?;
        self.0.iter().try_for_each(|b| t.serialize_element(b))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Ed25519Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ed25519Bytes, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            let bytes = unhex(&text).and_then(|b| <[u8; 64]>::try_from(b).ok());
            let bytes = bytes.ok_or_else(|| de::Error::custom("a signature is 128 hex digits"))?;
            return Ok(Ed25519Bytes(Arc::new(bytes)));
        }
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = [u8; 64];
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("64 bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 64], A::Error> {
                let mut out = [0u8; 64];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(64, Bytes)
            .map(|b| Ed25519Bytes(Arc::new(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Session;

    fn transfer(amount: u64) -> Transfer {
        Transfer {
            id: TxId {
                client: Account(0),
                session: Session(2),
                seq: 7,
            },
            from: Account(0),
            to: Account(1),
            amount,
            signature: Signature::Model {
                signer: Account(0),
                digest: 0,
            },
        }
    }

    #[test]
    fn a_model_signature_binds_every_field_and_its_signer() {
        let keys = AccountKeys::Model;
        let mut t = transfer(5);
        assert!(!keys.verify(&t, false), "an unsigned transfer");
        t.signature = model_signature(&t, false);
        assert!(keys.verify(&t, false));
        let altered = |f: &dyn Fn(&mut Transfer)| {
            let mut u = t.clone();
            f(&mut u);
            keys.verify(&u, false)
        };
        assert!(!altered(&|u| u.amount = 6));
        assert!(!altered(&|u| u.to = Account(2)));
        assert!(!altered(&|u| u.id.seq = 8));
        assert!(!altered(&|u| u.id.session = Session(3)));
        assert!(!altered(&|u| u.from = Account(1)), "another sender's name");
        // With the amount left out of the signed bytes, a copied signature passes for any.
        let mut weak = transfer(5);
        weak.signature = model_signature(&weak, true);
        weak.amount = 500;
        assert!(keys.verify(&weak, true));
        assert!(!keys.verify(&weak, false));
    }

    #[test]
    fn an_ed25519_signature_verifies_against_the_senders_key_only() {
        let a = ed25519_zebra::SigningKey::from([1u8; 32]);
        let b = ed25519_zebra::SigningKey::from([2u8; 32]);
        let keys = AccountKeys::Ed25519(vec![(&a).into(), (&b).into()]);
        let t = sign(transfer(5), &a);
        assert!(keys.verify(&t, false));
        assert!(
            !keys.verify(&sign(transfer(5), &b), false),
            "B's key, A's money"
        );
        let mut altered = t.clone();
        altered.amount = 6;
        assert!(!keys.verify(&altered, false));
        assert!(!AccountKeys::Model.verify(&t, false), "the other kind");
        assert!(!keys.verify(&transfer(5), false), "a model signature");
        let json = serde_json::to_string(&t.signature).unwrap();
        assert!(json.len() > 128, "{json}");
        assert_eq!(
            serde_json::from_str::<Signature>(&json).unwrap(),
            t.signature
        );
        assert!(serde_json::from_str::<Signature>(r#"{"Ed25519":"00ff"}"#).is_err());
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("ÿÿ"), None);
    }
}
