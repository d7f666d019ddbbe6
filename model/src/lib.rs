//! The stateright model of paxchain: one constructor turns a [`ModelConfig`] into the
//! [`BankModel`] every subcommand, test and benchmark checks.
//!
//! - [`config`]: the configuration and its validation.
//! - [`scenarios`]: the named presets.
//! - [`history`]: what the properties remember of the past.
//! - [`properties`]: every property, documented.
//! - [`trace`]: counterexamples as replayable, printable step lists.

pub mod config;
pub mod history;
pub mod properties;
pub mod scenarios;
pub mod trace;

pub use config::{ConfigError, ModelConfig, NetworkKind};
pub use properties::{BankModel, BankState};

use paxchain::{ClientActor, ClientConfig, Node, ServerActor, ServerConfig};
use stateright::actor::{model_timeout, ActorModel, Id, LossyNetwork, Network};

/// Builds the model of a configuration (validate it first).
pub fn build(cfg: &ModelConfig) -> BankModel {
    let n = cfg.servers;
    let servers: Vec<Id> = (0..n).map(Id::from).collect();
    let mut model = ActorModel::new(cfg.clone(), history::History::default());
    for index in 0..n {
        model = model.actor(Node::Server(ServerActor::new(ServerConfig {
            index,
            servers: servers.clone(),
            initial_balance: cfg.initial_balance,
            variant: cfg.variant,
            max_round: cfg.max_round,
            round_timeout: model_timeout(),
            gather_timeout: model_timeout(),
        })));
    }
    for index in (0..n).filter(|&i| !cfg.script(i).is_empty()) {
        model = model.actor(Node::Client(ClientActor::new(ClientConfig {
            account: paxchain::Account::of_server(index),
            server: servers[index],
            script: cfg.script(index).to_vec(),
            max_retries: cfg.client_retries,
            retry_timeout: model_timeout(),
        })));
    }
    let network = match cfg.network {
        NetworkKind::Ordered => Network::new_ordered([]),
        NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
    };
    let mut model = model
        .init_network(network)
        .lossy_network(if cfg.lossy {
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
    model.properties = properties::properties(cfg);
    model
}
