//! Durable storage for the deployed server: an append-only, checksummed log of changes.
//!
//! The protocol's step emits one `Save` of its whole [`Storage`] per step that changed it,
//! before the sends that depend on it. [`Store`] is where that save lands:
//!
//! 1. **A save costs what changed.** [`Store::save`] compares the storage with the last one
//!    saved ([`change::diff`]), appends one record of the changes ([`frame`]) and fsyncs
//!    once. A new block costs the block, not the chain.
//! 2. **Compaction.** When the log outgrows [`StoreOptions::compact_at`] bytes (and twice
//!    its last snapshot, so a large chain does not compact on every save), the whole
//!    storage is written as a new log's one snapshot, fsynced and renamed over the old
//!    file, and the directory is fsynced: a crash leaves the old log or the new one.
//! 3. **Restart.** [`Store::open`] replays the log. A torn last record (a crash mid-save) is
//!    cut off: that save never completed, so nothing depending on it was sent. A damaged
//!    record before the tail, a file that is not a log, or a chain that does not link stop
//!    the server with an error naming the file and the offset: a server never starts empty
//!    or forged over storage it cannot read.
//!
//! stateright's `spawn` has a storage file of its own, rewritten whole (no fsync) on every
//! save; a kill between its truncate and its write left an empty file, and a server that
//! restarted empty. The runtime's host ([`crate::host::Host`]) therefore hands every
//! save to a `Store` and none to the runtime, whose file is never written.
//!
//! Storage is a component with an interface (open, save), owned by the host of one server,
//! so a process could host several: nothing here depends on the working directory.

pub mod change;
pub mod frame;

use paxchain::chain::ChainError;
use paxchain::Storage;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The storage log, in the server's data directory.
pub const FILE: &str = "paxchain.log";

/// The whole-file JSON copy earlier versions kept: refused (see `refuse_legacy`).
pub const LEGACY_FILE: &str = "paxchain.storage";

/// How a [`Store`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Bytes of log after which a save compacts it (if the log is also more than twice its
    /// last snapshot). At least [`StoreOptions::MIN_COMPACT_AT`].
    pub compact_at: u64,
}

impl StoreOptions {
    /// The smallest `compact_at` accepted: below it a server would compact nearly every save.
    pub const MIN_COMPACT_AT: u64 = 4096;

    pub fn validate(&self) -> Result<(), StoreError> {
        if self.compact_at < Self::MIN_COMPACT_AT {
            return Err(StoreError::Options(format!(
                "compact_at is {} bytes; at least {} are needed",
                self.compact_at,
                Self::MIN_COMPACT_AT
            )));
        }
        Ok(())
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            compact_at: 64 << 20,
        }
    }
}

/// Why storage could not be read or written. Every one stops the server.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}; refusing to start over storage it cannot read")]
    Unreadable { path: PathBuf, why: String },
    #[error("{path}: the stored chain is damaged ({source}); refusing to start")]
    DamagedChain { path: PathBuf, source: ChainError },
    #[error("storage options: {0}")]
    Options(String),
}

/// The storage log of one server.
pub struct Store {
    path: PathBuf,
    /// Open for appending; `None` until the first save creates the log.
    file: Option<File>,
    /// What the log holds: the last save, as much of it as a diff needs.
    last: change::Saved,
    /// The log's length in bytes, and its snapshot's.
    len: u64,
    snapshot_len: u64,
    options: StoreOptions,
}

impl Store {
    /// Opens the log in `dir` and returns what it holds: `None` if nothing was ever saved
    /// (the log is then created by the first save). A torn tail is cut off on disk.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<(Store, Option<Storage>), StoreError> {
        options.validate()?;
        let path = dir.join(FILE);
        let found = match read_log(&path)? {
            Some(log) => Some(log),
            None => {
                refuse_legacy(dir)?;
                None
            }
        };
        let mut store = Store {
            path,
            file: None,
            last: change::Saved::default(),
            len: 0,
            snapshot_len: 0,
            options,
        };
        let Some((storage, len, snapshot_len, torn)) = found else {
            return Ok((store, None));
        };
        let damaged = |source| StoreError::DamagedChain {
            path: store.path.clone(),
            source,
        };
        storage.chain.check_links().map_err(damaged)?;
        if torn {
            cut(&store.path, len)?;
        }
        store.file = Some(append_to(&store.path)?);
        (store.last, store.len, store.snapshot_len) =
            (change::Saved::of(&storage), len, snapshot_len);
        Ok((store, Some(storage)))
    }

    /// Makes `storage` durable: one record of what changed since the last save, one fsync
    /// (none if nothing changed; the first save writes the log whole). Compacts when the log
    /// has grown past its options.
    pub fn save(&mut self, storage: &Storage) -> Result<(), StoreError> {
        let Some(file) = &mut self.file else {
            return self.compact(storage);
        };
        let changes = change::diff(&self.last, storage);
        if changes.is_empty() {
            return Ok(());
        }
        let record = frame::frame(&encode(&changes));
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        file.write_all(&record).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.len += record.len() as u64;
        self.last = change::Saved::of(storage);
        if self.len > self.options.compact_at && self.len > 2 * self.snapshot_len {
            self.compact(storage)?;
        }
        Ok(())
    }

    /// Replaces the log by one snapshot of `storage`, the last save.
    fn compact(&mut self, storage: &Storage) -> Result<(), StoreError> {
        let n = rewrite(&self.path, storage)?;
        self.last = change::Saved::of(storage);
        self.file = Some(append_to(&self.path)?);
        (self.len, self.snapshot_len) = (n, n);
        Ok(())
    }

    /// The log's length in bytes.
    pub fn log_bytes(&self) -> u64 {
        self.len
    }
}

/// What the log in `dir` holds, read without repairing or checking anything: for a harness
/// looking at a stopped or running server's disk. `None` if there is no log.
pub fn read(dir: &Path) -> Result<Option<Storage>, StoreError> {
    Ok(read_log(&dir.join(FILE))?.map(|found| found.0))
}

/// Replaces the log in `dir` by one holding exactly `storage` (for a harness damaging a
/// stopped server's disk, and for tests).
pub fn overwrite(dir: &Path, storage: &Storage) -> Result<(), StoreError> {
    rewrite(&dir.join(FILE), storage).map(|_| ())
}

/// The log at `path` replayed: the storage, the length of its whole records, its first
/// record's length, and whether a torn record followed them.
fn read_log(path: &Path) -> Result<Option<(Storage, u64, u64, bool)>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.into(),
                source,
            })
        }
    };
    parse_log(&bytes)
        .map(Some)
        .map_err(|why| StoreError::Unreadable {
            path: path.into(),
            why,
        })
}

/// A log's bytes replayed: the storage, the length of its whole records, its first record's
/// length, and whether a torn record followed them; or why they are no log.
fn parse_log(bytes: &[u8]) -> Result<(Storage, u64, u64, bool), String> {
    let scan = frame::scan(bytes).map_err(|e| e.to_string())?;
    let mut storage = Storage::default();
    let mut snapshot_len = frame::MAGIC.len() as u64;
    for (i, (offset, payload)) in scan.records.iter().enumerate() {
        let changes = decode_record(payload).map_err(|e| {
            format!("the record at byte {offset} passes its checksum but does not decode ({e})")
        })?;
        if i == 0 {
            snapshot_len += (frame::HEADER + payload.len()) as u64;
        }
        change::apply(&mut storage, changes);
    }
    Ok((storage, scan.end, snapshot_len, scan.torn))
}

/// One record's bytes (before framing).
pub fn encode_record(changes: &[change::Change]) -> Vec<u8> {
    encode(changes)
}

/// One record's changes.
pub fn decode_record(payload: &[u8]) -> Result<Vec<change::Change>, postcard::Error> {
    postcard::from_bytes(payload)
}

/// What a log's bytes hold, checked as a server starting from them checks them (its chain
/// must link); the error says why not. For tools and the fuzzer: nothing is read or written.
pub fn decode(bytes: &[u8]) -> Result<Storage, String> {
    let (storage, ..) = parse_log(bytes)?;
    storage.chain.check_links().map_err(|e| e.to_string())?;
    Ok(storage)
}

/// An earlier version's whole-file JSON copy, if one is there: refused, since its transfers
/// carry no signatures (that version predates them, and the storage log) and a server must
/// not start from storage it cannot vouch for.
fn refuse_legacy(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(LEGACY_FILE);
    match fs::metadata(&path) {
        Ok(_) => Err(StoreError::Unreadable {
            path,
            why: "a storage copy of a version before signed transfers and the storage log; \
                  this build cannot use it (start from an empty data directory)"
                .into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io { path, source }),
    }
}

fn encode(changes: &[change::Change]) -> Vec<u8> {
    postcard::to_allocvec(changes).expect("storage is plain data")
}

/// Writes a log holding one snapshot of `storage` at `path`, atomically: a crash leaves the
/// old file or the new one. Returns the new log's length.
fn rewrite(path: &Path, storage: &Storage) -> Result<u64, StoreError> {
    let snapshot = [change::Change::Snapshot {
        storage: storage.clone(),
    }];
    let mut bytes = frame::MAGIC.to_vec();
    bytes.extend(frame::frame(&encode(&snapshot)));
    write_atomically(path, &bytes).map_err(|source| StoreError::Io {
        path: path.into(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

fn append_to(path: &Path) -> Result<File, StoreError> {
    let io = |source| StoreError::Io {
        path: path.into(),
        source,
    };
    OpenOptions::new().append(true).open(path).map_err(io)
}

/// Cuts the log at `path` back to `len` bytes and makes the cut durable.
fn cut(path: &Path, len: u64) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.into(),
        source,
    };
    let f = OpenOptions::new().write(true).open(path).map_err(io)?;
    f.set_len(len).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Writes `bytes` to `path` so that a crash at any moment leaves the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

#[cfg(test)]
mod tests;
