//! Running the checked server actor for real: UDP datagrams of JSON, storage on disk.
//!
//! Nothing here decides anything about the protocol: [`run_server`] hands
//! [`ServerActor`] to stateright's `spawn` runtime, which feeds it datagrams and timer
//! events and carries out the commands it returns, exactly as the model checker does.

use crate::cluster::Cluster;
use crate::storage;
use paxchain::{Msg, ServerActor};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

fn encode_msg(m: &Msg) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(m)
}

/// Datagrams that did not parse, since this process started.
static MALFORMED: AtomicU64 = AtomicU64::new(0);

/// How many datagrams this process has dropped because they did not parse.
pub fn malformed_datagrams() -> u64 {
    MALFORMED.load(Ordering::Relaxed)
}

/// Parses a datagram. One that does not parse is counted and reported on stderr (the 1st,
/// 2nd, 4th, 8th, ... so a flood cannot flood the terminal); the runtime then drops it.
fn decode_msg(b: &[u8]) -> Result<Msg, serde_json::Error> {
    serde_json::from_slice(b).inspect_err(|e| {
        let n = MALFORMED.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!(
                "paxchain server: dropped a malformed datagram of {} bytes ({n} so far): {e}",
                b.len()
            );
        }
    })
}

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
pub fn run_server(cluster: &Cluster, index: usize, data_dir: &Path) -> Result<(), ServerError> {
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
    stateright::actor::spawn(
        encode_msg,
        decode_msg,
        storage::encode,
        storage::decode,
        vec![(entry.addr, actor)],
    )
    .map_err(|panic| ServerError::Runtime {
        addr: entry.addr.to_string(),
        why: panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the runtime panicked".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_datagrams_are_counted_and_good_ones_decode() {
        let before = malformed_datagrams();
        assert!(decode_msg(b"\x00 not json").is_err());
        assert!(decode_msg(br#"{"Api":{"Submit":{"transfer":{"id":"#).is_err());
        assert!(decode_msg(br#"{"Api":"GetLog"}"#).is_ok());
        assert!(malformed_datagrams() >= before + 2);
    }

    /// Every kind of message, every field populated, comes out of the wire codec as it went
    /// in.
    #[test]
    fn every_message_round_trips_through_the_wire_codec() {
        use crate::arbitrary::{kind, msg, MESSAGE_KINDS};
        let mut g = quickcheck::Gen::new(64);
        for round in 0..50 {
            for k in 0..MESSAGE_KINDS {
                let m = msg(&mut g, k);
                assert_eq!(kind(&m), k, "kind numbers agree");
                let bytes = encode_msg(&m).expect("every message encodes");
                let back = decode_msg(&bytes).expect("what was encoded decodes");
                assert_eq!(back, m, "round {round}, kind {k}");
            }
        }
    }
}
