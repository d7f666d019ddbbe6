//! The model's scripted client: one outstanding transfer at a time. (The deployed bank's
//! client is `paxchain_deploy::UdpClient`; this one exists only in the model.)
//!
//! A client is one session of one account and talks only to that account's server; an
//! account may have several, each with a script of its own, sending at the same time. It submits its script
//! in order, each transfer with the next sequence number, and sends the next one only after
//! the server's outcome for the current one arrives. If no outcome comes (UDP loses requests
//! and replies; servers crash), the `Retry` timer resends the *same* transfer with the *same*
//! id, at most `max_retries` times; the server's dedup makes the retries safe. After that it
//! waits without a timer: in the model a timer may fire at any moment, so a client that gave
//! up on a timer would abandon requests that were merely slow. (The deployed client, which
//! does have a clock, reports an unreachable server after its retries.)
//!
//! The deployed client speaks the same [`ApiMsg`] vocabulary.

use paxchain::bugs::Bug;
use paxchain::{signature, Account, ApiMsg, Msg, Session, Storage, Timer, Transfer, TxId};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// A client's fixed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedClientConfig {
    /// The account this client owns.
    pub account: Account,
    /// Which of the account's sessions it is.
    pub session: Session,
    /// Its server.
    pub server: Id,
    /// Transfers to submit, in order: (receiver, amount in units).
    pub script: Vec<(Account, u64)>,
    /// Resends per transfer before giving up on it.
    pub max_retries: u32,
    /// How long to wait for an outcome before resending (ignored by the model checker).
    pub retry_timeout: Range<Duration>,
    /// A seeded bug (only `retry-new-id` concerns the client).
    pub bug: Option<Bug>,
}

/// With the `retry-new-id` bug, resend `k` of a transfer goes out under its sequence number
/// plus `k` times this.
const RETRY_ID_STRIDE: u32 = 100;

/// The transfer a session's script step `index` (from 0) becomes: from the client's own
/// account, with sequence number `index + 1` in that session, signed by the account's owner
/// (over the bytes a seeded bug may cut short: `signature-leaves-out-amount`).
pub fn script_transfer(
    client: Account,
    session: Session,
    index: usize,
    (to, amount): (Account, u64),
    bug: Option<Bug>,
) -> Transfer {
    let id = TxId {
        client,
        session,
        seq: u32::try_from(index + 1).expect("scripts are short"),
    };
    let mut t = Transfer::model_signed(id, client, to, amount);
    t.signature = signature::model_signature(&t, leaves_out_amount(bug));
    t
}

/// Whether `bug` is the one that leaves the amount out of what is signed.
#[cfg(feature = "bug-zoo")]
fn leaves_out_amount(bug: Option<Bug>) -> bool {
    bug == Some(Bug::SignatureLeavesOutAmount)
}

/// Never, without the bug zoo.
#[cfg(not(feature = "bug-zoo"))]
fn leaves_out_amount(_: Option<Bug>) -> bool {
    false
}

/// The scripted client actor.
#[derive(Clone, Debug)]
pub struct ScriptedClient {
    pub cfg: Arc<ScriptedClientConfig>,
}

/// Where the client is in its script.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScriptedClientState {
    /// Index of the transfer awaiting an outcome (= the script's length when done).
    pub next: usize,
    /// Resends of that transfer so far.
    pub retries: u32,
    /// Outcomes that arrived only after at least one resend.
    pub answered_after_retry: u32,
}

impl ScriptedClient {
    /// A client with this configuration.
    pub fn new(cfg: ScriptedClientConfig) -> ScriptedClient {
        ScriptedClient { cfg: Arc::new(cfg) }
    }

    /// The transfer at `index` in the script.
    pub fn transfer(&self, index: usize) -> Transfer {
        script_transfer(
            self.cfg.account,
            self.cfg.session,
            index,
            self.cfg.script[index],
            self.cfg.bug,
        )
    }

    /// Whether every transfer of the script has an outcome.
    pub fn is_done(&self, st: &ScriptedClientState) -> bool {
        st.next >= self.cfg.script.len()
    }

    /// Whether delivering `msg` from `src` changes nothing, now and forever: anything but
    /// an outcome from its server for a transfer it has not moved past (`next` only grows).
    pub fn ignores_forever(&self, st: &ScriptedClientState, src: Id, msg: &Msg) -> bool {
        match msg {
            Msg::Api(ApiMsg::Outcome { id, .. }) => {
                src != self.cfg.server
                    || self.is_done(st)
                    || id.sender() != (self.cfg.account, self.cfg.session)
                    || id.seq < self.transfer(st.next).id.seq
            }
            _ => true,
        }
    }

    /// The id of attempt `retries` (0: the first send) at the transfer at `index`: the
    /// script's id every time, or with the `retry-new-id` bug a fresh one per resend.
    fn attempt_id(&self, index: usize, retries: u32) -> TxId {
        let id = self.transfer(index).id;
        if paxchain::bug!(self.cfg, RetryNewId) {
            return TxId {
                seq: id.seq + RETRY_ID_STRIDE * retries,
                ..id
            };
        }
        id
    }

    /// Whether `id` answers the transfer at `st.next`: one of the ids it was sent under.
    fn answers_current(&self, st: &ScriptedClientState, id: TxId) -> bool {
        (0..=st.retries).any(|k| self.attempt_id(st.next, k) == id)
    }

    fn submit(&self, index: usize, retries: u32, o: &mut Out<Self>) {
        if index < self.cfg.script.len() {
            // The client holds its key: a transfer under another id is signed anew.
            let mut transfer = Transfer {
                id: self.attempt_id(index, retries),
                ..self.transfer(index)
            };
            transfer.signature =
                signature::model_signature(&transfer, leaves_out_amount(self.cfg.bug));
            o.send(self.cfg.server, ApiMsg::Submit { transfer }.into());
            if self.cfg.max_retries > 0 {
                o.set_timer(Timer::Retry, self.cfg.retry_timeout.clone());
            }
        } else if self.cfg.max_retries > 0 {
            o.cancel_timer(Timer::Retry);
        }
    }
}

impl Actor for ScriptedClient {
    type Msg = Msg;
    type State = ScriptedClientState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(
        &self,
        _id: Id,
        _storage: &Option<Storage>,
        o: &mut Out<Self>,
    ) -> ScriptedClientState {
        self.submit(0, 0, o);
        ScriptedClientState::default()
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<ScriptedClientState>,
        src: Id,
        msg: Msg,
        o: &mut Out<Self>,
    ) {
        let Msg::Api(ApiMsg::Outcome { id, .. }) = msg else {
            return;
        };
        // Only the outcome of the current transfer moves the script on; late duplicates of
        // earlier outcomes are ignored.
        if src != self.cfg.server || self.is_done(state) || !self.answers_current(state, id) {
            return;
        }
        let st = state.to_mut();
        if st.retries > 0 {
            st.answered_after_retry += 1;
        }
        st.next += 1;
        st.retries = 0;
        self.submit(st.next, 0, o);
    }

    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<ScriptedClientState>,
        timer: &Timer,
        o: &mut Out<Self>,
    ) {
        if *timer != Timer::Retry || self.is_done(state) || state.retries >= self.cfg.max_retries {
            return;
        }
        let st = state.to_mut();
        st.retries += 1;
        self.submit(st.next, st.retries, o);
    }

    fn name(&self) -> String {
        match self.cfg.session {
            Session::FIRST => format!("client {}", self.cfg.account),
            s => format!("client {}/{s}", self.cfg.account),
        }
    }
}
