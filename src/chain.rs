//! Blocks and the hash-linked chain every server keeps.
//!
//! A block holds its height, the ballot that proposed it, the hash of the block before it and
//! its transfers; its own hash (SHA-256) covers all four, so changing any block breaks every
//! link after it and [`Chain::verify`] says where.
//!
//! The chain lives behind an `Arc` in server state and is shared with the durable storage.
//! Its `Hash` and `Eq` use a *running digest*, folded over every block appended, so the model
//! checker hashes 40 bytes however long the chain grows and still tells any two chains apart:
//! the digest covers every block whole, whether or not the blocks link correctly (the
//! `literal` variant appends without checking links, and its broken chains must stay distinct).

use crate::ids::{Account, Ballot, Height, Session, TxId};
use crate::ledger::{Balances, Flows, LedgerError, Transfer};
use crate::signature::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A SHA-256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The first bytes in hex, enough for people to tell blocks apart.
    pub fn short(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.short())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// One block of transfers, agreed on by a quorum.
///
/// `Hash` feeds only `hash`, the SHA-256 of every other field: the model checker hashes each
/// block in every message of every state, and 32 bytes stand for the whole block. `Eq` still
/// compares every field, so a block whose `hash` field lies (only a forged one can) is
/// never equal to an honest one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Block {
    /// Position in the chain; genesis is 0.
    pub height: Height,
    /// The ballot under which the block was first proposed.
    pub ballot: Ballot,
    /// The hash of the block at `height - 1` (zero for genesis).
    pub prev: Digest,
    /// The transfers, in the order they are applied.
    pub transfers: Vec<Transfer>,
    /// SHA-256 over the four fields above.
    pub hash: Digest,
}

impl Block {
    /// Builds a block and computes its hash.
    pub fn new(height: Height, ballot: Ballot, prev: Digest, transfers: Vec<Transfer>) -> Block {
        let hash = Block::digest_of(height, ballot, &prev, &transfers);
        Block {
            height,
            ballot,
            prev,
            transfers,
            hash,
        }
    }

    /// The block every chain starts with.
    pub fn genesis() -> Block {
        Block::new(Height(0), Ballot::ZERO, Digest::default(), Vec::new())
    }

    /// Whether `hash` matches the other fields.
    pub fn hash_is_valid(&self) -> bool {
        self.hash == Block::digest_of(self.height, self.ballot, &self.prev, &self.transfers)
    }

    /// Whether the block carries the transfer with this id.
    pub fn contains(&self, id: TxId) -> bool {
        self.transfers.iter().any(|t| t.id == id)
    }

    /// SHA-256 over every field but `hash`. Each value is taken apart by a pattern that names
    /// all its fields, so a field added to a block, a ballot or a transfer does not compile
    /// here until it is hashed: a block digest that skipped `Ballot::waited` made two
    /// different blocks equal, and with them the chains, the states and the model checker's
    /// memo of steps (issue 20).
    fn digest_of(height: Height, ballot: Ballot, prev: &Digest, transfers: &[Transfer]) -> Digest {
        let Ballot {
            round,
            waited,
            leader,
        } = ballot;
        let mut h = Sha256::new();
        h.update(height.0.to_be_bytes());
        h.update(round.to_be_bytes());
        h.update(waited.to_be_bytes());
        h.update([leader]);
        h.update(prev.0);
        h.update((transfers.len() as u64).to_be_bytes());
        for Transfer {
            id:
                TxId {
                    client,
                    session,
                    seq,
                },
            from,
            to,
            amount,
            signature,
        } in transfers
        {
            h.update([client.0, session.0]);
            h.update(seq.to_be_bytes());
            h.update([from.0, to.0]);
            h.update(amount.to_be_bytes());
            match signature {
                Signature::Model { signer, digest } => {
                    h.update([0, signer.0]);
                    h.update(digest.to_be_bytes());
                }
                Signature::Ed25519(bytes) => {
                    h.update([1]);
                    h.update(&bytes.0[..]);
                }
            }
        }
        Digest(h.finalize().into())
    }
}

impl Hash for Block {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state);
    }
}

/// Why a block cannot be appended, or where a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("block {got} does not follow the tip: expected height {expected}")]
    WrongHeight { expected: Height, got: Height },
    #[error("block {height} does not link to the block before it")]
    BrokenLink { height: Height },
    #[error("block {height} does not match its hash")]
    BadHash { height: Height },
    #[error("block {height} repeats transfer {id}")]
    Duplicate { height: Height, id: TxId },
    #[error("block {height}: {source}")]
    Ledger { height: Height, source: LedgerError },
    #[error("the chain does not start with the genesis block")]
    BadGenesis,
}

/// Whether `block` may follow `prev`: the next height, linked to `prev`, its hash valid. The
/// one rule behind both [`Chain::append`] and [`Chain::check_links`].
fn check_follows(prev: &Block, block: &Block) -> Result<(), ChainError> {
    let expected = prev.height.next();
    let height = block.height;
    if height != expected {
        return Err(ChainError::WrongHeight {
            expected,
            got: height,
        });
    }
    if block.prev != prev.hash {
        return Err(ChainError::BrokenLink { height });
    }
    if !block.hash_is_valid() {
        return Err(ChainError::BadHash { height });
    }
    Ok(())
}

/// The blockchain: genesis, then blocks in height order.
///
/// Serialized as its list of blocks; the digest is recomputed on the way in, so a stored or
/// received chain can never carry a digest that disagrees with its blocks.
#[derive(Clone)]
pub struct Chain {
    blocks: Vec<Arc<Block>>,
    /// Folded over every appended block's hash and fields; see the module comment.
    digest: Digest,
    /// Every transfer's effect, folded as blocks are appended, so that the balances at the
    /// tip cost no replay ([`Chain::balances`]). Derived from the blocks, like the digest.
    flows: Flows,
    /// Per client session, in order: the highest sequence number of its transfers here, so
    /// that [`Chain::contains`] answers "no" for a newer id without a scan. (A sorted vector:
    /// one allocation to copy, where the model checker copies a chain at every append.)
    highest_seq: Vec<((Account, Session), u32)>,
}

impl Chain {
    /// A chain holding only the genesis block.
    pub fn new() -> Chain {
        let mut chain = Chain {
            blocks: Vec::new(),
            digest: Digest::default(),
            flows: Flows::default(),
            highest_seq: Vec::new(),
        };
        chain.push(Arc::new(Block::genesis()));
        chain
    }

    /// The block at the top.
    pub fn tip(&self) -> &Block {
        self.blocks.last().expect("a chain always holds genesis")
    }

    /// The height the next block will have.
    pub fn next_height(&self) -> Height {
        self.tip().height.next()
    }

    /// Number of blocks, genesis included.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Never: a chain always holds genesis.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// All blocks, genesis first.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// Blocks from `height` on (empty when `height` is past the tip).
    pub fn blocks_from(&self, height: Height) -> &[Arc<Block>] {
        self.blocks.get(height.index()..).unwrap_or(&[])
    }

    /// The running digest over every block.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether any block carries this transfer. An id newer than every one of its session's
    /// here is answered at once; sessions number their requests upwards, so that is nearly
    /// every id a leader asks about. Any other is searched for.
    pub fn contains(&self, id: TxId) -> bool {
        let highest = (self.highest_seq.binary_search_by_key(&id.sender(), |e| e.0))
            .map(|i| self.highest_seq[i].1);
        if !matches!(highest, Ok(seq) if id.seq <= seq) {
            return false;
        }
        self.blocks.iter().any(|b| b.contains(id))
    }

    /// Appends a block that follows the tip: right height, linked, hash valid.
    pub fn append(&mut self, block: Arc<Block>) -> Result<(), ChainError> {
        check_follows(self.tip(), &block)?;
        // The check proved the block's hash equals the digest of its fields.
        let fields = block.hash;
        self.fold(block, fields);
        Ok(())
    }

    /// Whether `block` may follow `prev` (the rule [`Chain::append`] checks).
    pub fn follows(prev: &Block, block: &Block) -> bool {
        check_follows(prev, block).is_ok()
    }

    /// Appends whatever arrives, unchecked. Only the `literal` variant does this: the course
    /// text says a server "appends block B" on COMMIT and nothing more.
    pub fn append_unchecked(&mut self, block: Arc<Block>) {
        self.push(block);
    }

    fn push(&mut self, block: Arc<Block>) {
        let fields = Block::digest_of(block.height, block.ballot, &block.prev, &block.transfers);
        self.fold(block, fields);
    }

    /// Appends `block`, whose fields digest to `fields`, and folds both its hash and that
    /// digest into the running digest: the block's own hash covers its fields only if it is
    /// valid, and the chain must tell invalid blocks apart too.
    fn fold(&mut self, block: Arc<Block>, fields: Digest) {
        let mut h = Sha256::new();
        h.update(self.digest.0);
        h.update(block.hash.0);
        h.update(fields.0);
        self.digest = Digest(h.finalize().into());
        for t in &block.transfers {
            self.flows.apply(t);
            match (self.highest_seq).binary_search_by_key(&t.id.sender(), |e| e.0) {
                Ok(i) => self.highest_seq[i].1 = self.highest_seq[i].1.max(t.id.seq),
                Err(i) => self.highest_seq.insert(i, (t.id.sender(), t.id.seq)),
            }
        }
        self.blocks.push(block);
    }

    /// The audit: every height, hash and link ([`Chain::check_links`]), no transfer twice
    /// ([`Chain::first_duplicate`]), and a replay that never overdraws ([`Chain::balances`]).
    /// The first fault is returned; on success, the balances the chain leaves.
    pub fn verify(&self, accounts: usize, initial: u64) -> Result<Balances, ChainError> {
        self.check_links()?;
        if let Some((height, id)) = self.first_duplicate() {
            return Err(ChainError::Duplicate { height, id });
        }
        self.balances(accounts, initial)
            .map_err(|source| ChainError::Ledger {
                height: self
                    .height_of(source.id())
                    .expect("replay fails on a chained transfer"),
                source,
            })
    }

    /// Genesis first, then every block follows the one before it (see [`Chain::append`]).
    pub fn check_links(&self) -> Result<(), ChainError> {
        if *self.blocks[0] != Block::genesis() {
            return Err(ChainError::BadGenesis);
        }
        (self.blocks.windows(2)).try_for_each(|pair| check_follows(&pair[0], &pair[1]))
    }

    /// The first transfer id the chain holds twice, with the height of its second copy.
    pub fn first_duplicate(&self) -> Option<(Height, TxId)> {
        let mut seen = std::collections::BTreeSet::new();
        self.blocks.iter().find_map(|b| {
            (b.transfers.iter())
                .find(|t| !seen.insert(t.id))
                .map(|t| (b.height, t.id))
        })
    }

    /// Every transfer, block after block, in the order they are applied.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.blocks.iter().flat_map(|b| b.transfers.iter())
    }

    /// The height of the first block holding transfer `id`.
    pub fn height_of(&self, id: TxId) -> Option<Height> {
        self.blocks
            .iter()
            .find(|b| b.contains(id))
            .map(|b| b.height)
    }

    /// The balances the transfers alone leave (no link checks) from `initial` each: from the
    /// folded flows, in as many steps as there are accounts; only a chain that cannot be
    /// replayed is replayed, to name the transfer that fails.
    pub fn balances(&self, accounts: usize, initial: u64) -> Result<Balances, LedgerError> {
        match self.flows.balances(accounts, initial) {
            Some(balances) => Ok(balances),
            None => Balances::replay(accounts, initial, self.transfers()),
        }
    }

    /// Whether this chain is a prefix of `other`, block for block.
    pub fn is_prefix_of(&self, other: &Chain) -> bool {
        self.len() <= other.len()
            && self
                .blocks
                .iter()
                .zip(other.blocks.iter())
                .all(|(a, b)| a == b)
    }
}

impl Serialize for Chain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.blocks.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Chain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Chain, D::Error> {
        let blocks = Vec::<Arc<Block>>::deserialize(d)?;
        let mut chain = Chain {
            blocks: Vec::with_capacity(blocks.len()),
            digest: Digest::default(),
            flows: Flows::default(),
            highest_seq: Vec::new(),
        };
        for b in blocks {
            chain.push(b);
        }
        if chain
            .blocks
            .first()
            .map(|b| **b != Block::genesis())
            .unwrap_or(true)
        {
            return Err(serde::de::Error::custom(
                "a chain must start with the genesis block",
            ));
        }
        Ok(chain)
    }
}

impl Default for Chain {
    fn default() -> Chain {
        Chain::new()
    }
}

// Equality and hashing by length and running digest: equal digests mean equal block sequences
// (up to a SHA-256 collision), and the checker hashes 40 bytes instead of the whole chain.
impl PartialEq for Chain {
    fn eq(&self, other: &Chain) -> bool {
        self.blocks.len() == other.blocks.len() && self.digest == other.digest
    }
}

impl Eq for Chain {}

impl Hash for Chain {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.blocks.len().hash(state);
        self.digest.hash(state);
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for b in &self.blocks[1..] {
            list.entry(&format_args!(
                "{} {} [{}]",
                b.height,
                b.ballot,
                b.transfers
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    use crate::ids::Account;

    fn tx(client: u8, seq: u32, to: u8, amount: u64) -> Transfer {
        Transfer::model_signed(
            TxId::new(Account(client), seq),
            Account(client),
            Account(to),
            amount,
        )
    }

    fn grow(chain: &mut Chain, transfers: Vec<Transfer>) {
        let b = Block::new(
            chain.next_height(),
            Ballot::ZERO,
            chain.tip().hash,
            transfers,
        );
        chain.append(Arc::new(b)).expect("built to follow the tip");
    }

    #[test]
    fn append_checks_height_link_and_hash() {
        let mut c = Chain::new();
        let good = Block::new(Height(1), Ballot::ZERO, c.tip().hash, vec![tx(0, 1, 1, 3)]);
        let mut bad_hash = good.clone();
        bad_hash.transfers[0].amount = 4;
        assert_eq!(
            c.append(Arc::new(bad_hash)),
            Err(ChainError::BadHash { height: Height(1) })
        );
        let unlinked = Block::new(Height(1), Ballot::ZERO, Digest([7; 32]), vec![]);
        assert!(matches!(
            c.append(Arc::new(unlinked)),
            Err(ChainError::BrokenLink { .. })
        ));
        let high = Block::new(Height(2), Ballot::ZERO, c.tip().hash, vec![]);
        assert!(matches!(
            c.append(Arc::new(high)),
            Err(ChainError::WrongHeight { .. })
        ));
        c.append(Arc::new(good)).unwrap();
        assert_eq!(c.next_height(), Height(2));
        assert!(c.contains(TxId::new(Account(0), 1)));
    }

    #[test]
    fn verify_finds_duplicates_and_overdrafts() {
        let mut c = Chain::new();
        grow(&mut c, vec![tx(0, 1, 1, 3)]);
        grow(&mut c, vec![tx(0, 1, 1, 3)]);
        assert_eq!(
            c.verify(2, 10),
            Err(ChainError::Duplicate {
                height: Height(2),
                id: tx(0, 1, 1, 3).id
            })
        );
        let mut c = Chain::new();
        grow(&mut c, vec![]);
        grow(&mut c, vec![tx(0, 1, 1, 11)]);
        assert!(matches!(
            c.verify(2, 10),
            Err(ChainError::Ledger {
                height: Height(2),
                ..
            })
        ));
    }

    #[test]
    fn unchecked_chains_with_equal_tips_stay_distinct() {
        // Two chains whose last blocks are identical but whose earlier blocks differ must not
        // compare or hash equal, or the checker would merge different states.
        let tail = Block::new(Height(2), Ballot::ZERO, Digest([9; 32]), vec![]);
        let mut a = Chain::new();
        let mut b = Chain::new();
        let one = |d| Arc::new(Block::new(Height(1), Ballot::ZERO, Digest([d; 32]), vec![]));
        a.append_unchecked(one(1));
        b.append_unchecked(one(2));
        a.append_unchecked(Arc::new(tail.clone()));
        b.append_unchecked(Arc::new(tail));
        assert_ne!(a, b);
        assert_ne!(a.digest(), b.digest());
    }

    /// A block changed in any one field, `hash` recomputed.
    fn mutants(b: &Block) -> Vec<Block> {
        let remade = |f: &dyn Fn(&mut Block)| {
            let mut m = b.clone();
            f(&mut m);
            Block::new(m.height, m.ballot, m.prev, m.transfers)
        };
        vec![
            remade(&|m| m.height = m.height.next()),
            remade(&|m| m.ballot.round += 1),
            remade(&|m| m.ballot.waited += 1),
            remade(&|m| m.ballot.leader += 1),
            remade(&|m| m.prev.0[31] ^= 1),
            remade(&|m| m.transfers[0].id.client.0 += 1),
            remade(&|m| m.transfers[0].id.seq += 1),
            remade(&|m| m.transfers[0].from.0 += 1),
            remade(&|m| m.transfers[0].to.0 += 1),
            remade(&|m| m.transfers[0].amount += 1),
            remade(&|m| m.transfers.push(m.transfers[0].clone())),
        ]
    }

    /// Every field is in the hash, so a chain that holds a block changed in any one field
    /// is another chain: unequal, and hashed apart. (A digest that left out the ballot's
    /// `waited` let two servers' different chains compare equal, and the model checker
    /// merged their states.)
    #[test]
    fn every_field_of_a_block_is_in_its_hash_and_its_chains_identity() {
        let b = Block::new(
            Height(1),
            Ballot {
                round: 2,
                waited: 0,
                leader: 1,
            },
            Chain::new().tip().hash,
            vec![tx(0, 1, 1, 3)],
        );
        let chain_of = |b: &Block| {
            let mut c = Chain::new();
            c.append_unchecked(Arc::new(b.clone()));
            c
        };
        let h = std::hash::RandomState::new();
        use std::hash::BuildHasher;
        for (i, m) in mutants(&b).iter().enumerate() {
            assert_ne!(m.hash, b.hash, "mutant {i} keeps the hash: {m:?}");
            assert_ne!(
                chain_of(m),
                chain_of(&b),
                "mutant {i}'s chain compares equal"
            );
            assert_ne!(
                h.hash_one(chain_of(m)),
                h.hash_one(chain_of(&b)),
                "mutant {i}"
            );
        }
    }

    quickcheck! {
        /// Appending valid blocks always verifies, the digest is a function of the blocks,
        /// and every prefix is a prefix.
        fn linked_chains_verify(blocks: Vec<Vec<(u8, u8)>>) -> bool {
            let mut c = Chain::new();
            let mut seq = 0;
            let mut prefixes = vec![c.clone()];
            for block in blocks.iter().take(8) {
                let transfers = block.iter().take(4).map(|&(from, to)| {
                    seq += 1;
                    tx(from % 3, seq, (from % 3 + 1 + to % 2) % 3, 1)
                }).collect();
                grow(&mut c, transfers);
                prefixes.push(c.clone());
            }
            let mut again = Chain::new();
            for b in &c.blocks()[1..] { again.append(b.clone()).unwrap(); }
            c.verify(3, 1000).is_ok()
                && again == c
                && prefixes.iter().all(|p| p.is_prefix_of(&c))
                && (c.len() == 1 || !c.is_prefix_of(&prefixes[0]))
        }

        /// `contains` answers what a scan of every block answers, for ids in any order,
        /// old, new or never seen.
        fn contains_agrees_with_a_scan(blocks: Vec<Vec<(u8, u8)>>, asked: Vec<(u8, u8)>) -> bool {
            let mut c = Chain::new();
            for block in blocks.iter().take(8) {
                let transfers = block.iter().take(4)
                    .map(|&(client, seq)| tx(client % 3, u32::from(seq % 16), (client % 3 + 1) % 3, 1))
                    .collect();
                grow(&mut c, transfers);
            }
            asked.iter().all(|&(client, seq)| {
                let id = TxId::new(crate::Account(client % 4), u32::from(seq % 20));
                c.contains(id) == c.blocks().iter().any(|b| b.contains(id))
            })
        }

        /// Changing any transfer of any block is detected by `verify`.
        fn tampering_is_detected(n: u8, which: u8, delta: u64) -> bool {
            let mut c = Chain::new();
            for i in 0..(n % 5 + 1) {
                grow(&mut c, vec![tx(0, u32::from(i) + 1, 1, 1)]);
            }
            let k = 1 + usize::from(which) % (c.len() - 1);
            let mut blocks: Vec<Block> = c.blocks().iter().map(|b| (**b).clone()).collect();
            blocks[k].transfers[0].amount = 2 + delta % 1000; // originally 1
            let mut tampered = Chain::new();
            for b in blocks.into_iter().skip(1) { tampered.append_unchecked(Arc::new(b)); }
            tampered.verify(2, 1000).is_err()
        }
    }
}
