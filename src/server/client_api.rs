//! The client API, the same in both variants: transfers (the fast path, exactly-once per
//! session, group commit, the wait for consensus), the queries behind PrintBalance, PrintLog
//! and PrintBlockchain, and the final answers after consensus.
//!
//! # Sessions
//! An account's clients are its *sessions*; each sends one request at a time under its own
//! sequence numbers, so every exactly-once rule below is the course client's rule, applied per
//! session. Several sessions give one account many requests in flight.
//!
//! # Group commit
//! A fast-path transfer is executed (its amount counted against the balance) and *staged*:
//! kept in volatile state, sent nowhere, until a flush moves every staged transfer into the
//! log and the outcomes, which the step then saves once, before it answers them all. When to
//! flush:
//! 1. at once, when every session this server has answered before has a request staged or
//!    waiting, or did not come back for the last batch (it is *idle*): nobody else is
//!    expected, so a lone client waits for nothing;
//! 2. otherwise when the `Flush` timer fires, armed when the first transfer is staged. The
//!    sessions still missing then are idle until they submit again.
//!
//! A crash loses what is staged, which nobody was told about: each client resends.

use super::{Answered, Outbox, ServerActor, ServerState, Waiting};
use crate::ids::{Session, TxId};
use crate::ledger::{validate, Rejection, Transfer};
use crate::msg::{blocks_message, ApiMsg, Outcome, Timer, MAX_TRANSFERS_PER_MESSAGE};
use stateright::actor::Id;
use std::borrow::Cow;
use std::sync::Arc;

impl ServerActor {
    pub(super) fn on_submit(
        &self,
        state: &mut Cow<ServerState>,
        client: Id,
        t: Transfer,
        fx: &mut Outbox,
    ) {
        // 1. What can be refused without balances is refused at once (nothing to save): an
        //    invalid transfer, and one its sender's owner did not sign.
        if let Some(reason) = self.refusal(&t) {
            return reply(client, t.id, Outcome::Rejected { reason }, fx);
        }
        // 2. Exactly once: the session's last answered request gets its answer again, but a
        //    different transfer under its id is refused (its answer would be a lie); older
        //    ones are stale copies (a session sends the next only after an answer): dropped.
        if let Some(last) = state.storage.last_outcomes.get(self.outcome_key(t.id)) {
            let id = last.transfer.id;
            if t.id == id && !crate::bug!(self.cfg, RetryExecutedAgain) {
                if t != last.transfer && !crate::bug!(self.cfg, AnsweredIdReused) {
                    return refuse_id_in_use(client, id, fx);
                }
                return reply(client, id, last.outcome.clone(), fx);
            }
            if t.id.seq < id.seq && !crate::bug!(self.cfg, StaleRequestExecuted) {
                return;
            }
        }
        // 3. The session's request already here, staged or waiting for consensus: a retry
        //    changes nothing but where to answer; an older id is stale; a *different*
        //    transfer under its id is refused (one id must never name two transfers).
        if let Some(w) = state.in_flight(t.id.session) {
            if t.id.seq < w.transfer.id.seq {
                return;
            }
            if t.id == w.transfer.id {
                if t != w.transfer {
                    return refuse_id_in_use(client, t.id, fx);
                }
                if w.client != client {
                    let st = state.to_mut();
                    st.in_flight_mut(t.id.session).expect("found above").client = client;
                }
                return;
            }
        }
        let st = state.to_mut();
        // A newer request means the session gave up on the one here, never answered and
        // never saved: it is dropped.
        let session = t.id.session;
        st.waiting.remove(&session);
        st.staged.retain(|w| w.transfer.id.session != session);
        st.idle.remove(&session);
        let w = Waiting {
            client,
            transfer: t,
            since_round: st.storage.promised.round,
        };
        // 4. Fast path: executed, staged, and flushed now or when the timer fires (armed by
        //    the first transfer staged).
        if self.available(st) >= w.transfer.amount {
            if crate::bug!(self.cfg, SlowPathSkipsSignature) && !self.signed(&w.transfer) {
                let reason = unsigned(&w.transfer);
                return reply(client, w.transfer.id, Outcome::Rejected { reason }, fx);
            }
            if crate::bug!(self.cfg, AnsweredBeforeFlush) {
                reply(w.client, w.transfer.id, Outcome::Executed, fx);
            }
            st.staged.push(w);
            let armed = st.staged.len() > 1;
            if self.all_in(st) {
                self.flush(st, armed, fx);
            } else if !armed {
                fx.set_timer(Timer::Flush, self.cfg.flush_timeout.clone());
            }
            return;
        }
        // 5. Slow path: wait for consensus. The flush may have waited for this session.
        st.waiting.insert(session, w);
        if st.round.is_none() {
            self.start_election(st, fx);
        }
        if !st.staged.is_empty() && self.all_in(st) {
            self.flush(st, true, fx);
        }
    }

    /// Why a transfer is refused before anything else is looked at: it is invalid, or its
    /// sender's owner did not sign it. (`ignores_forever` asks the same.)
    pub(super) fn refusal(&self, t: &Transfer) -> Option<Rejection> {
        if let Err(reason) = validate(t, self.cfg.account(), self.n()) {
            return Some(reason);
        }
        if !crate::bug!(self.cfg, SlowPathSkipsSignature) && !self.signed(t) {
            return Some(unsigned(t));
        }
        None
    }

    /// Whether `t` carries its sender's owner's signature over its content (a seeded bug
    /// leaves the amount out of what is signed).
    fn signed(&self, t: &Transfer) -> bool {
        let leave_out_amount = crate::bug!(self.cfg, SignatureLeavesOutAmount);
        self.cfg.keys.verify(t, leave_out_amount)
    }

    /// Where a session's last outcome is kept: under its own session (a seeded bug keeps one
    /// per account, as when each account had one client).
    pub(super) fn outcome_key(&self, id: TxId) -> Session {
        if crate::bug!(self.cfg, SessionsShareOutcome) {
            return Session::FIRST;
        }
        id.session
    }

    /// Whether every session a flush waits for has a request here: each session answered
    /// before, unless it is idle (see the module comment). In as many steps as there are
    /// sessions.
    fn all_in(&self, st: &ServerState) -> bool {
        let mut here = [false; 256];
        let sessions = st.staged.iter().map(|w| w.transfer.id.session);
        for s in sessions.chain(st.waiting.keys().copied()) {
            here[usize::from(s.0)] = true;
        }
        let mut expected = st.storage.last_outcomes.sessions();
        expected.all(|s| here[usize::from(s.0)] || st.idle.contains(&s))
    }

    /// The `Flush` timer: the sessions that have not come back are idle; save and answer
    /// what is staged.
    pub(super) fn on_flush_timer(&self, state: &mut Cow<ServerState>, fx: &mut Outbox) {
        if state.staged.is_empty() {
            return;
        }
        let st = state.to_mut();
        let missing: Vec<Session> = (st.storage.last_outcomes.sessions())
            .filter(|&s| st.in_flight(s).is_none())
            .collect();
        st.idle.extend(missing);
        self.flush(st, false, fx);
    }

    /// Moves every staged transfer into the log and the outcomes, and answers each; the step
    /// saves them before the answers leave. `armed`: the `Flush` timer is set, and is
    /// cancelled.
    fn flush(&self, st: &mut ServerState, armed: bool, fx: &mut Outbox) {
        if armed {
            fx.cancel_timer(Timer::Flush);
        }
        if st.staged.len() >= 2 {
            st.instrumentation.batched = true;
        }
        for w in std::mem::take(&mut st.staged) {
            self.finish(st, w, Outcome::Executed, fx);
        }
    }

    pub(super) fn on_query(&self, state: &ServerState, client: Id, q: ApiMsg, fx: &mut Outbox) {
        let st = &state.storage;
        let answer = match q {
            ApiMsg::GetBalance { account } if account.index() < self.n() => ApiMsg::Balance {
                account,
                balance: self.known_balances(st).map_or(0, |b| b.of(account)),
                height: st.chain.tip().height,
            },
            ApiMsg::GetBalance { account } => ApiMsg::Outcome {
                id: TxId::new(account, 0),
                outcome: Outcome::Rejected {
                    reason: Rejection::UnknownAccount { account },
                },
            },
            ApiMsg::GetLog => ApiMsg::Log {
                transfers: st.log.oldest(MAX_TRANSFERS_PER_MESSAGE).0,
                total: st.log.len(),
            },
            ApiMsg::GetChain { from } => {
                let (blocks, more) = blocks_message(&st.chain, from);
                ApiMsg::Chain { from, blocks, more }
            }
            ApiMsg::GetLastAnswered { session } => ApiMsg::LastAnswered {
                session,
                id: (st.last_outcomes.get(session)).map(|last| last.transfer.id),
            },
            ApiMsg::GetStatus => ApiMsg::Status {
                promised: st.promised,
                leading: state.round.is_some(),
                tip: st.chain.tip().height,
                pending: st.log.len(),
            },
            _ => return, // answers are for clients; a server ignores them
        };
        fx.send(client, answer);
    }

    /// Gives a session a final outcome, recorded in storage so a retry gets the same answer
    /// (the step saves it before the reply leaves).
    pub(super) fn finish(
        &self,
        st: &mut ServerState,
        w: Waiting,
        outcome: Outcome,
        fx: &mut Outbox,
    ) {
        if outcome.is_executed() {
            Arc::make_mut(&mut st.storage.log).push(w.transfer.clone());
        }
        let key = self.outcome_key(w.transfer.id);
        let answered = Answered {
            transfer: w.transfer.clone(),
            outcome: outcome.clone(),
        };
        st.storage.last_outcomes.insert(key, answered);
        reply(w.client, w.transfer.id, outcome, fx);
    }

    /// After a decision, for each waiting transfer in session order: execute it if now
    /// covered; otherwise answer `InsufficientFunds` if this server's own fresh block was
    /// decided (everyone it heard from has contributed), else keep it waiting for another
    /// instance.
    pub(super) fn conclude(&self, st: &mut ServerState, fresh: bool, fx: &mut Outbox) {
        if st.waiting.is_empty() {
            return;
        }
        for (session, w) in std::mem::take(&mut st.waiting) {
            let balance = self.available(st);
            let amount = w.transfer.amount;
            if balance >= amount {
                self.finish(st, w, Outcome::ExecutedAfterConsensus, fx);
            } else if fresh {
                let reason = Rejection::InsufficientFunds { balance, amount };
                self.finish(st, w, Outcome::Rejected { reason }, fx);
            } else {
                st.waiting.insert(session, w);
            }
        }
        if !st.waiting.is_empty() {
            self.start_election(st, fx);
        }
    }
}

impl ServerState {
    /// The session's request here, staged for the next flush or waiting for consensus.
    pub fn in_flight(&self, session: Session) -> Option<&Waiting> {
        (self.staged.iter())
            .find(|w| w.transfer.id.session == session)
            .or_else(|| self.waiting.get(&session))
    }

    fn in_flight_mut(&mut self, session: Session) -> Option<&mut Waiting> {
        (self.staged.iter_mut())
            .find(|w| w.transfer.id.session == session)
            .or_else(|| self.waiting.get_mut(&session))
    }
}

fn reply(client: Id, id: TxId, outcome: Outcome, fx: &mut Outbox) {
    fx.send(client, ApiMsg::Outcome { id, outcome });
}

/// Why a transfer its sender's owner did not sign is refused (nothing else is done: an
/// attacker learns no more than that).
fn unsigned(t: &Transfer) -> Rejection {
    Rejection::BadSignature {
        id: t.id,
        from: t.from,
    }
}

/// One id never names two transfers: a second, different one under it is refused.
fn refuse_id_in_use(client: Id, id: TxId, fx: &mut Outbox) {
    let reason = Rejection::IdInUse { id };
    reply(client, id, Outcome::Rejected { reason }, fx);
}
