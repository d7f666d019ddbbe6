//! Running the checked server actor for real: UDP datagrams of JSON, storage on disk.
//!
//! Nothing here decides anything about the protocol: [`run_server`] hands
//! [`ServerActor`] (inside the [`Host`] that answers the conformance harness) to
//! stateright's `spawn` runtime, which feeds it datagrams and timer events and carries out
//! the commands it returns, exactly as the model checker does.

use crate::cluster::Cluster;
use crate::conformance::{Host, Mode};
use crate::storage;
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
    #[error("server {addr} stopped: {why} (is the address already in use?)")]
    Runtime { addr: String, why: String },
}

/// Runs server `index` of `cluster` until the process is killed. Its durable state lives in
/// `data_dir` (stateright's runtime writes `<addr>.storage` in the working directory).
/// `mode` says whether it obeys the conformance harness.
pub fn run_server(
    cluster: &Cluster,
    index: usize,
    data_dir: &Path,
    mode: Mode,
) -> Result<(), ServerError> {
    let entry = cluster
        .servers
        .get(index)
        .ok_or(ServerError::NoSuchServer {
            id: index,
            last: cluster.servers.len().saturating_sub(1),
        })?;
    let data_err = |source| ServerError::DataDir {
        dir: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(data_err)?;
    std::env::set_current_dir(data_dir).map_err(data_err)?;
    let actor = ServerActor::new(cluster.server_config(index));
    actor
        .cfg
        .validate()
        .expect("a validated cluster gives valid server configurations");
    assert!(
        actor.cfg.bug.is_none(),
        "the deployment never runs a seeded bug (src/bugs.rs)"
    );
    let host = Host::new(actor, mode);
    stateright::actor::spawn(
        wire::encode,
        wire::decode,
        storage::encode,
        storage::decode,
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
