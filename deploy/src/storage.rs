//! Durable storage for the deployed server, atomic where the runtime's is not.
//!
//! stateright's `spawn` saves an actor's storage by truncating `<addr>.storage` and writing
//! it again, without fsync or rename. A SIGKILL between the truncate and the write leaves an
//! empty file, which the runtime then treats as "no storage": the server restarts empty and
//! forgets promises, accepted blocks and acknowledged transfers. (The kill test in
//! tests/deploy.rs found exactly that.)
//!
//! The runtime calls our codec on every save and every restart, so the codec keeps the real
//! copy: [`encode`] writes `paxchain.storage` in the data directory atomically (temporary
//! file, fsync, rename, fsync of the directory) *before* the runtime's own write, and
//! [`decode`] restores from it, whatever state the runtime's file is in. A copy that exists
//! but cannot be read stops the server: starting empty would break the promise it made.

use paxchain::chain::ChainError;
use paxchain::Storage;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// The atomically replaced copy, in the server's working (data) directory.
pub const FILE: &str = "paxchain.storage";

/// Writes `bytes` to `path` so that a crash at any moment leaves the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("storage.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

/// The runtime's storage encoder: saves the durable copy first, then hands the runtime its
/// bytes. A server that cannot save must not go on (its next message would promise what it
/// did not keep), so a failed save ends the process.
pub fn encode(s: &Storage) -> Result<Vec<u8>, serde_json::Error> {
    encode_in(Path::new("."), s)
}

fn encode_in(dir: &Path, s: &Storage) -> Result<Vec<u8>, serde_json::Error> {
    let bytes = serde_json::to_vec(s)?;
    if let Err(e) = write_atomically(&dir.join(FILE), &bytes) {
        eprintln!("paxchain server: cannot save {FILE}: {e}; stopping");
        std::process::exit(3);
    }
    Ok(bytes)
}

/// Why a server refuses to start from what is on its disk: starting empty, or from a
/// damaged history, would break the promises it made before the crash.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{FILE} is unreadable ({0}); refusing to start empty")]
    Unreadable(serde_json::Error),
    #[error("the stored chain is damaged ({0}); refusing to start")]
    DamagedChain(ChainError),
}

/// What a server in `dir` restarts from: the durable copy when there is one (the runtime's
/// own file may be torn), else the runtime's bytes; `None` when neither holds a save.
/// A stored chain that does not link (a file edited or damaged on disk) is refused.
pub fn restore(dir: &Path, runtime_bytes: &[u8]) -> Result<Option<Storage>, RestoreError> {
    let storage = match fs::read(dir.join(FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(RestoreError::Unreadable)?,
        Err(_) => match serde_json::from_slice::<Storage>(runtime_bytes) {
            Ok(storage) => storage,
            Err(_) => return Ok(None),
        },
    };
    storage
        .chain
        .check_links()
        .map_err(RestoreError::DamagedChain)?;
    Ok(Some(storage))
}

/// The runtime's storage decoder ([`restore`]). An error here makes the runtime start the
/// server empty, so a refusal ends the process instead.
pub fn decode(runtime_bytes: &[u8]) -> Result<Storage, serde_json::Error> {
    decode_in(Path::new("."), runtime_bytes)
}

fn decode_in(dir: &Path, runtime_bytes: &[u8]) -> Result<Storage, serde_json::Error> {
    match restore(dir, runtime_bytes) {
        Ok(Some(storage)) => Ok(storage),
        // Nothing was ever saved: the runtime's own verdict, a fresh start.
        Ok(None) => serde_json::from_slice(runtime_bytes),
        Err(e) => {
            eprintln!("paxchain server: {e}");
            std::process::exit(3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    quickcheck::quickcheck! {
        /// Every durable field, populated, comes back through the storage codec: both the
        /// durable copy and the runtime's own bytes.
        fn every_storage_round_trips_through_the_codec(seed: u64) -> bool {
            let mut g = quickcheck::Gen::new(32 + (seed % 32) as usize);
            let saved = crate::arbitrary::storage(&mut g);
            let dir = std::env::temp_dir()
                .join(format!("paxchain-roundtrip-{}-{seed}", std::process::id()));
            fs::create_dir_all(&dir).expect("a temporary directory");
            let bytes = encode_in(&dir, &saved).expect("a storage encodes");
            let from_copy = decode_in(&dir, b"").expect("the copy decodes");
            fs::remove_dir_all(&dir).expect("cleaned up");
            let from_runtime = decode_in(&dir, &bytes).expect("the runtime's bytes decode");
            from_copy == saved && from_runtime == saved
        }
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("paxchain-storage-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.storage");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        assert!(
            !dir.join("x.storage.tmp").exists(),
            "no temporary file is left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_runtime_file_still_restores_the_last_save() {
        let dir = std::env::temp_dir().join(format!("paxchain-torn-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let saved = Storage {
            promised: paxchain::Ballot::new(3, 1),
            ..Storage::default()
        };
        let runtime_bytes = encode_in(&dir, &saved).unwrap();
        // The runtime's own file, truncated by a kill, or cut short: the copy wins.
        assert_eq!(decode_in(&dir, b"").unwrap(), saved);
        let half = &runtime_bytes[..runtime_bytes.len() / 2];
        assert_eq!(decode_in(&dir, half).unwrap(), saved);
        fs::remove_dir_all(&dir).unwrap();
        // Without a copy (a server that never saved through this codec), the runtime's bytes.
        assert_eq!(decode_in(&dir, &runtime_bytes).unwrap(), saved);
        assert!(
            matches!(restore(&dir, b""), Ok(None)),
            "nothing saved: a fresh start"
        );
    }

    #[test]
    fn an_unreadable_copy_or_a_damaged_chain_is_refused() {
        let dir = std::env::temp_dir().join(format!("paxchain-damaged-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(FILE), b"{\"promised\": garbage").unwrap();
        assert!(matches!(
            restore(&dir, b""),
            Err(RestoreError::Unreadable(_))
        ));
        // A block that does not link to genesis: it parses, but it is not a history.
        let mut chain = paxchain::Chain::new();
        let stray = paxchain::Block::new(
            paxchain::Height(1),
            paxchain::Ballot::ZERO,
            paxchain::chain::Digest([7; 32]),
            vec![],
        );
        chain.append_unchecked(std::sync::Arc::new(stray));
        let damaged = Storage {
            chain: std::sync::Arc::new(chain),
            ..Storage::default()
        };
        fs::write(dir.join(FILE), serde_json::to_vec(&damaged).unwrap()).unwrap();
        let e = restore(&dir, b"").unwrap_err();
        assert!(matches!(e, RestoreError::DamagedChain(_)), "{e}");
        assert!(e.to_string().contains("damaged"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
