//! The scripted client used by the model: one outstanding transfer at a time.
//!
//! A client owns one account and talks only to that account's server. It submits its script
//! in order, each transfer with the next sequence number, and sends the next one only after
//! the server's outcome for the current one arrives. If no outcome comes (UDP loses requests
//! and replies; servers crash), the `Retry` timer resends the *same* transfer with the *same*
//! id, at most `max_retries` times; the server's dedup makes the retries safe. After that it
//! waits without a timer: in the model a timer may fire at any moment, so a client that gave
//! up on a timer would abandon requests that were merely slow. (The deployed client, which
//! does have a clock, reports an unreachable server after its retries.)
//!
//! The deployed client (a terminal prompt) speaks the same [`ApiMsg`] vocabulary.

use crate::ids::{Account, TxId};
use crate::ledger::Transfer;
use crate::msg::{ApiMsg, Msg};
use crate::node::Timer;
use crate::server::Storage;
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// A client's fixed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The account this client owns.
    pub account: Account,
    /// Its server.
    pub server: Id,
    /// Transfers to submit, in order: (receiver, amount in units).
    pub script: Vec<(Account, u64)>,
    /// Resends per transfer before giving up on it.
    pub max_retries: u32,
    /// How long to wait for an outcome before resending (ignored by the model checker).
    pub retry_timeout: Range<Duration>,
}

/// The client actor.
#[derive(Clone, Debug)]
pub struct ClientActor {
    pub cfg: Arc<ClientConfig>,
}

/// Where the client is in its script.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientState {
    /// Index of the transfer awaiting an outcome (= the script's length when done).
    pub next: usize,
    /// Resends of that transfer so far.
    pub retries: u32,
    /// Outcomes that arrived only after at least one resend.
    pub answered_after_retry: u32,
}

impl ClientActor {
    /// A client with this configuration.
    pub fn new(cfg: ClientConfig) -> ClientActor {
        ClientActor { cfg: Arc::new(cfg) }
    }

    /// The transfer at `index` in the script.
    pub fn transfer(&self, index: usize) -> Transfer {
        let (to, amount) = self.cfg.script[index];
        Transfer {
            id: TxId {
                client: self.cfg.account,
                seq: u32::try_from(index + 1).expect("scripts are short"),
            },
            from: self.cfg.account,
            to,
            amount,
        }
    }

    /// Whether every transfer of the script has an outcome.
    pub fn is_done(&self, st: &ClientState) -> bool {
        st.next >= self.cfg.script.len()
    }

    fn submit(&self, index: usize, o: &mut Out<Self>) {
        if index < self.cfg.script.len() {
            let transfer = self.transfer(index);
            o.send(self.cfg.server, ApiMsg::Submit { transfer }.into());
            if self.cfg.max_retries > 0 {
                o.set_timer(Timer::Retry, self.cfg.retry_timeout.clone());
            }
        } else if self.cfg.max_retries > 0 {
            o.cancel_timer(Timer::Retry);
        }
    }
}

impl Actor for ClientActor {
    type Msg = Msg;
    type State = ClientState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(&self, _id: Id, _storage: &Option<Storage>, o: &mut Out<Self>) -> ClientState {
        self.submit(0, o);
        ClientState::default()
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ClientState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let Msg::Api(ApiMsg::Outcome { id, .. }) = msg else {
            return;
        };
        // Only the outcome of the current transfer moves the script on; late duplicates of
        // earlier outcomes are ignored.
        if src != self.cfg.server || self.is_done(state) || id != self.transfer(state.next).id {
            return;
        }
        let st = state.to_mut();
        if st.retries > 0 {
            st.answered_after_retry += 1;
        }
        st.next += 1;
        st.retries = 0;
        self.submit(st.next, o);
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ClientState>, timer: &Timer, o: &mut Out<Self>) {
        if *timer != Timer::Retry || self.is_done(state) || state.retries >= self.cfg.max_retries {
            return;
        }
        let st = state.to_mut();
        st.retries += 1;
        self.submit(st.next, o);
    }

    fn name(&self) -> String {
        format!("client {}", self.cfg.account)
    }
}
