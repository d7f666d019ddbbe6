//! `paxchain audit`: a blockchain checked without trusting any server.
//!
//! Given the cluster file (for the accounts' public keys and the initial balance) and a
//! chain (a file of blocks, or a running server's), the audit checks, block by block:
//! 1. genesis first, then every height, hash and link (`Chain::check_links`);
//! 2. every transfer signed by its sender account's owner, over its every field;
//! 3. no transfer twice, and a replay that never overdraws (`Chain::verify`).
//!
//! The first fault is reported with the block it is in. On success, the balances the chain
//! leaves.

use crate::cluster::Cluster;
use paxchain::chain::ChainError;
use paxchain::ledger::Balances;
use paxchain::{AccountKeys, Block, Chain, Height, TxId};
use std::sync::Arc;

/// What is wrong with a chain.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the cluster file gives no account keys: nothing to check signatures against")]
    NoKeys,
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error("block {height}: transfer {id} is not signed by the owner of its account")]
    Unsigned { height: Height, id: TxId },
}

/// What an audit found in a sound chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Audited {
    pub blocks: usize,
    pub transfers: usize,
    pub balances: Balances,
}

/// Audits `blocks` (genesis first) against `cluster`'s keys and initial balance.
pub fn audit(cluster: &Cluster, blocks: Vec<Block>) -> Result<Audited, AuditError> {
    let keys = match cluster.account_keys() {
        Ok(Some(keys)) => AccountKeys::Ed25519(keys),
        _ => return Err(AuditError::NoKeys),
    };
    let mut chain = Chain::new();
    let mut rest = blocks.into_iter();
    match rest.next() {
        Some(genesis) if genesis == Block::genesis() => {}
        _ => return Err(ChainError::BadGenesis.into()),
    }
    for block in rest {
        chain.append_unchecked(Arc::new(block));
    }
    chain.check_links()?;
    for block in chain.blocks() {
        if let Some(t) = block.transfers.iter().find(|t| !keys.verify(t, false)) {
            let (height, id) = (block.height, t.id);
            return Err(AuditError::Unsigned { height, id });
        }
    }
    let balances = chain.verify(cluster.servers.len(), cluster.initial_balance)?;
    Ok(Audited {
        blocks: chain.len(),
        transfers: chain.transfers().count(),
        balances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keyring;
    use paxchain::signature::sign;
    use paxchain::{Account, Ballot, Transfer};

    /// A cluster of two accounts with keys, and a chain of two blocks of signed transfers.
    fn signed_chain() -> (Cluster, Vec<Block>, Keyring) {
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("paxchain-audit-{}-{run}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let mut cluster = Cluster::local(2, 7000, 10);
        let keys = Keyring::create(&dir, &mut cluster).unwrap();
        let (a, b) = (Account(0), Account(1));
        let t = |from: Account, seq, to, amount| {
            let key = keys.get(from).unwrap();
            sign(
                Transfer::model_signed(TxId::new(from, seq), from, to, amount),
                key,
            )
        };
        let mut chain = Chain::new();
        for (h, transfers) in [
            (1, vec![t(a, 1, b, 4)]),
            (2, vec![t(b, 1, a, 7), t(a, 2, b, 1)]),
        ] {
            let tip = chain.tip().clone();
            let block = Block::new(Height(h), Ballot::new(h, 0), tip.hash, transfers);
            chain.append(Arc::new(block)).unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
        let blocks = chain.blocks().iter().map(|b| (**b).clone()).collect();
        (cluster, blocks, keys)
    }

    #[test]
    fn a_sound_chain_passes_with_its_balances() {
        let (cluster, blocks, _) = signed_chain();
        let done = audit(&cluster, blocks).unwrap();
        assert_eq!((done.blocks, done.transfers), (3, 3));
        assert_eq!(done.balances.as_slice(), &[12, 8]);
    }

    #[test]
    fn one_altered_amount_is_found_in_its_block_even_with_the_hashes_redone() {
        let (cluster, mut blocks, _) = signed_chain();
        blocks[2].transfers[1].amount = 2;
        let e = audit(&cluster, blocks.clone()).unwrap_err();
        assert!(
            e.to_string().contains("block #2 does not match its hash"),
            "{e}"
        );
        // A forger who recomputes every hash after the change is caught by the signature.
        let mut relinked = vec![blocks[0].clone()];
        for b in &blocks[1..] {
            let prev = relinked.last().unwrap().hash;
            relinked.push(Block::new(b.height, b.ballot, prev, b.transfers.clone()));
        }
        let e = audit(&cluster, relinked).unwrap_err();
        assert_eq!(
            e.to_string(),
            "block #2: transfer A2 is not signed by the owner of its account"
        );
        // An overdraft signed by its owner is the replay's to find.
        let (cluster, mut blocks, keys) = signed_chain();
        let key = keys.get(Account(0)).unwrap();
        let (a, b) = (Account(0), Account(1));
        let big = sign(Transfer::model_signed(TxId::new(a, 3), a, b, 100), key);
        let tip = blocks.last().unwrap().hash;
        blocks.push(Block::new(Height(3), Ballot::new(3, 0), tip, vec![big]));
        let e = audit(&cluster, blocks).unwrap_err();
        assert!(e.to_string().contains("overdraws"), "{e}");
    }
}
