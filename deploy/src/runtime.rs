//! Running the checked server actor for real: UDP datagrams of JSON, storage on disk.
//!
//! Nothing here decides anything about the protocol: [`run_server`] hands
//! [`ServerActor`] (inside the [`Host`] that answers the conformance harness) to
//! stateright's `spawn` runtime, which feeds it datagrams and timer events and carries out
//! the commands it returns, exactly as the model checker does.

use crate::cluster::Cluster;
use crate::conformance::Mode;
use crate::host::Host;
use crate::peers::PeerKeys;
use crate::storage::{Store, StoreError, StoreOptions};
use crate::wire;
use paxchain::ServerActor;
use std::path::Path;

/// Why a server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("--id {id}: the cluster has servers 0 to {last}")]
    NoSuchServer { id: usize, last: usize },
    #[error("data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    #[error("server {addr} stopped: {why} (is the address already in use?)")]
    Runtime { addr: String, why: String },
    #[error("the cluster file gives no account keys, and a server without them would execute anyone's transfers: add each account's `account_key` (`paxchain keygen` makes them); only `--conformance`, for replaying model traces, runs without")]
    NoKeys,
    #[error("the cluster file gives no server keys, and a server without them would believe any datagram from a peer's address: add each server's `server_key` (`paxchain keygen --server`) and start each with `--key-file`; only `--conformance` runs without")]
    NoServerKeys,
    #[error(
        "the cluster file gives server keys: start the server with `--key-file` (its secret key)"
    )]
    NoKeyFile,
    #[error("{0}")]
    Key(#[from] crate::keys::KeyError),
}

/// Runs server `index` of `cluster` until the process is killed. Its durable state is the
/// storage log in `data_dir` (crate::storage); the runtime's own storage file is never
/// written, because every save goes to the log.
/// `mode` says whether it obeys the conformance harness.
pub fn run_server(
    cluster: &Cluster,
    index: usize,
    data_dir: &Path,
    key_file: Option<&Path>,
    mode: Mode,
) -> Result<(), ServerError> {
    let entry = cluster
        .servers
        .get(index)
        .ok_or(ServerError::NoSuchServer {
            id: index,
            last: cluster.servers.len().saturating_sub(1),
        })?;
    if mode == Mode::Normal && cluster.account_keys().ok().flatten().is_none() {
        return Err(ServerError::NoKeys);
    }
    let peers = peer_keys(cluster, index, key_file, mode)?;
    let data_err = |source| ServerError::DataDir {
        dir: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_err)?;
    let (store, restored) = Store::open(data_dir, StoreOptions::default())?;
    let actor = ServerActor::new(cluster.server_config(index));
    actor
        .cfg
        .validate()
        .expect("a validated cluster gives valid server configurations");
    assert!(
        actor.cfg.bug.is_none(),
        "the deployment never runs a seeded bug (src/bugs.rs)"
    );
    let mut host = Host::with_store(actor, mode, store, restored);
    if let Some(keys) = peers {
        host = host.with_peers(keys);
    }
    stateright::actor::spawn(
        wire::encode,
        wire::decode,
        runtime_storage_unused,
        runtime_storage_unused_decode,
        vec![(entry.listen_addr(), host)],
    )
    .map_err(|panic| ServerError::Runtime {
        addr: entry.listen_addr().to_string(),
        why: panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the runtime panicked".into()),
    })
}

/// Server `index`'s keys with its peers, from its key file and the cluster file's server
/// keys; none only in conformance mode, with a cluster file that gives none.
fn peer_keys(
    cluster: &Cluster,
    index: usize,
    key_file: Option<&Path>,
    mode: Mode,
) -> Result<Option<PeerKeys>, ServerError> {
    let publics = cluster.server_keys().expect("a validated cluster");
    match (publics, key_file) {
        (None, _) if mode == Mode::Conformance => Ok(None),
        (None, _) => Err(ServerError::NoServerKeys),
        (Some(_), None) => Err(ServerError::NoKeyFile),
        (Some(publics), Some(path)) => {
            let secret = crate::keys::read_server(path, cluster, index)?;
            Ok(Some(PeerKeys::derive(index, &secret, &publics)))
        }
    }
}

/// The runtime's storage encoder, never called: the host saves through its [`Store`] and
/// hands the runtime no save. Were one to reach it, the server stops rather than trust a
/// file that is rewritten unsynced.
fn runtime_storage_unused(_: &paxchain::Storage) -> Result<Vec<u8>, wire::WireError> {
    panic!("a save reached the runtime; saves go to the storage log")
}

/// The runtime's storage decoder: whatever the runtime's file holds (an earlier version's
/// file, or none), the host restarts from its [`Store`] instead.
fn runtime_storage_unused_decode(_: &[u8]) -> Result<paxchain::Storage, wire::WireError> {
    Err(wire::WireError::Json(serde::de::Error::custom(
        "the storage log is the server's storage",
    )))
}
