//! The stateright model of paxchain: one constructor turns a [`ModelConfig`] into the
//! [`BankModel`] every subcommand, test and benchmark checks.
//!
//! - [`node`], [`scripted_client`], [`rogue_client`]: the model-only actors: the wrapper
//!   stateright needs to hold servers and clients in one model, the clients that submit a
//!   fixed script, and the client that breaks the API's rules.
//! - [`bank_model`]: the model type, and the reductions it applies to every state;
//!   [`delta`]: a delivery or timeout decided as a change to the state it starts from, before
//!   the next state is built, with each handler's outcome from [`memo`], which runs it once
//!   per actor state and event;
//!   [`symmetry`]: the one applied among servers no client talks to.
//! - [`search`]: the exhaustive search (depth- or breadth-first) that checks the model, and
//!   [`fingerprint`]: the 64-bit hash by which it merges states, which tells apart states
//!   stateright's `Hash` merges.
//! - [`hashed`]: values that carry their own hash, so a fingerprint does not redo it.
//! - [`premises`]: the reductions' premises about the handlers, decided by the handlers and
//!   checked as the search goes; [`reference`]: stateright's own step with the handlers run
//!   afresh, against which every discovery is confirmed.
//! - [`config`]: the configuration and its validation.
//! - [`scenarios`]: the named presets.
//! - [`history`]: what the properties remember of the past.
//! - [`properties`]: every property, documented.
//! - [`trace`]: counterexamples as replayable, printable step lists.
//! - [`walk`], [`swarm`]: seeded random walks, and the swarm search built on them for
//!   configurations too large to exhaust.
//! - `zoo` (feature `bug-zoo`): the preset that catches each seeded bug, and the hunt.

pub mod attacker;
pub mod bank_model;
pub mod config;
pub mod delta;
pub mod explain;
pub mod fingerprint;
pub mod hashed;
pub mod history;
pub mod memo;
pub mod network;
pub mod node;
pub mod premises;
pub mod properties;
pub mod readable;
pub mod reference;
pub mod rogue_client;
pub mod rules;
pub mod scenarios;
pub mod scripted_client;
pub mod search;
pub mod swarm;
pub mod symmetry;
pub mod trace;
mod view;
pub mod walk;
#[cfg(feature = "bug-zoo")]
pub mod zoo;

pub use bank_model::{BankModel, BankState};
pub use config::{parse_sessions, parse_workloads, ConfigError, ModelConfig, NetworkKind};
pub use node::{Node, NodeState};
pub use scripted_client::{ScriptedClient, ScriptedClientConfig, ScriptedClientState};

use memo::StepMemo;
use paxchain::{ServerActor, ServerConfig, Session};
use scripted_client::script_transfer;
use stateright::actor::{ActorModel, Id, LossyNetwork, Network};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The timer range every model actor is given. The checker ignores durations (any armed
/// timer may fire at any moment); the range only has to be one a configuration accepts.
const MODEL_TIMER: Range<Duration> = Duration::ZERO..Duration::from_millis(1);

/// Builds the model of a configuration (validate it first).
pub fn build(cfg: &ModelConfig) -> BankModel {
    let n = cfg.servers;
    let servers: Vec<Id> = (0..n).map(Id::from).collect();
    let mut model = ActorModel::new(cfg.clone(), history::History::default());
    for index in 0..n {
        let server = ServerConfig {
            index,
            servers: servers.clone(),
            initial_balance: cfg.initial_balance,
            variant: cfg.variant,
            max_round: cfg.max_round,
            max_block: cfg.max_block,
            round_timeout: MODEL_TIMER,
            gather_timeout: MODEL_TIMER,
            flush_timeout: MODEL_TIMER,
            keys: Default::default(),
            bug: cfg.bug,
        };
        server
            .validate()
            .expect("a validated model configuration gives valid server configurations");
        model = model.actor(Node::Server {
            actor: ServerActor::new(server),
            watched: cfg.attacker,
        });
    }
    for client in cfg.clients() {
        model = model.actor(Node::Client(ScriptedClient::new(ScriptedClientConfig {
            account: client.account,
            session: client.session,
            server: servers[client.account.index()],
            script: client.script.to_vec(),
            max_retries: cfg.client_retries,
            retry_timeout: MODEL_TIMER,
            bug: cfg.bug,
        })));
    }
    if let Some(account) = cfg.rogue {
        let captured = (cfg.script(account.index()).first())
            .map(|&step| script_transfer(account, Session::FIRST, 0, step, cfg.bug));
        model = model.actor(Node::Rogue(rogue_client::RogueClient {
            account,
            server: servers[account.index()],
            accounts: n,
            captured,
        }));
    }
    let network = match cfg.network {
        NetworkKind::Ordered => Network::new_ordered([]),
        NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
    };
    let model = model
        .init_network(network)
        .lossy_network(if cfg.explores_loss() {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(cfg.max_crashes)
        .record_msg_out(history::record_msg_out)
        .within_boundary(|cfg, s| {
            // 1. Only servers crash: stateright's crash budget counts every actor, and a
            //    crashed scripted client would restart its script and resubmit forever.
            // 2. The literal variant appends duplicate COMMITs without end: bound the chain.
            let limit = cfg.max_height as usize + 1;
            !s.crashed[cfg.servers..].iter().any(|&c| c)
                && s.actor_states[..cfg.servers]
                    .iter()
                    .all(|a| a.server().is_some_and(|st| st.storage.chain.len() <= limit))
        });
    let actors = model.actors.len();
    BankModel {
        inner: model,
        properties: properties::properties(cfg),
        stop: Arc::default(),
        durable: cfg.durable_servers(),
        symmetric: cfg.symmetry().map_or(0, |_| cfg.interchangeable_servers()),
        steps: StepMemo::default(),
        premises: premises::Premises::new(actors),
        coverage: rules::Coverage::new(),
        scripted: Arc::new(scripted_transfers(cfg)),
    }
}

/// Every transfer the clients' scripts ask for, by id, signed as a correct client signs it.
fn scripted_transfers(
    cfg: &ModelConfig,
) -> std::collections::BTreeMap<paxchain::TxId, paxchain::Transfer> {
    (cfg.clients())
        .flat_map(|c| {
            (c.script.iter().enumerate())
                .map(move |(index, &step)| script_transfer(c.account, c.session, index, step, None))
        })
        .map(|t| (t.id, t))
        .collect()
}
