//! The client API, the same in both variants: transfers (the fast path, exactly-once, the
//! wait for consensus), the queries behind PrintBalance, PrintLog and PrintBlockchain, and
//! the final answer a waiting transfer gets after consensus.

use super::{Answered, Outbox, ServerActor, ServerState, Waiting};
use crate::ids::TxId;
use crate::ledger::{validate, Rejection, Transfer};
use crate::msg::{blocks_message, ApiMsg, Outcome};
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
        // 1. What can be refused without balances is refused at once (nothing to save).
        if let Err(reason) = validate(&t, self.cfg.account(), self.n()) {
            return reply(client, t.id, Outcome::Rejected { reason }, fx);
        }
        // 2. Exactly once: the last answered request gets its answer again, but a different
        //    transfer under its id is refused (its answer would be a lie); older ones are
        //    stale copies (the client only sends the next after an answer) and are dropped.
        if let Some(last) = &state.storage.last_outcome {
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
        // 3. The transfer waiting for consensus: a retry changes nothing but where to answer;
        //    an older id is stale; a *different* transfer under its id is refused (UDP is not
        //    authenticated, and one id must never name two transfers).
        if let Some(w) = &state.waiting {
            if t.id.seq < w.transfer.id.seq {
                return;
            }
            if t.id == w.transfer.id {
                if t != w.transfer {
                    return refuse_id_in_use(client, t.id, fx);
                }
                if w.client != client {
                    state.to_mut().waiting.as_mut().expect("checked").client = client;
                }
                return;
            }
        }
        let st = state.to_mut();
        // A newer request means the client gave up on the waiting one: it is dropped.
        st.waiting = None;
        let w = Waiting {
            client,
            transfer: t,
            since_round: st.storage.promised.round,
        };
        // 4. Fast path.
        if self.available(&st.storage) >= w.transfer.amount {
            return self.finish(st, w, Outcome::Executed, fx);
        }
        // 5. Slow path: wait for consensus.
        st.waiting = Some(w);
        if st.round.is_none() {
            self.start_election(st, fx);
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
                id: TxId {
                    client: account,
                    seq: 0,
                },
                outcome: Outcome::Rejected {
                    reason: Rejection::UnknownAccount { account },
                },
            },
            ApiMsg::GetLog => ApiMsg::Log {
                transfers: st.log.to_vec(),
            },
            ApiMsg::GetChain { from } => {
                let (blocks, more) = blocks_message(&st.chain, from);
                ApiMsg::Chain { from, blocks, more }
            }
            ApiMsg::GetLastAnswered => ApiMsg::LastAnswered {
                id: st.last_outcome.as_ref().map(|last| last.transfer.id),
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

    /// Gives the own client a final outcome, recorded in storage so a retry gets the same
    /// answer (the step saves it before the reply leaves).
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
        st.storage.last_outcome = Some(Answered {
            transfer: w.transfer.clone(),
            outcome: outcome.clone(),
        });
        reply(w.client, w.transfer.id, outcome, fx);
    }

    /// After a decision: execute the waiting transfer if now covered; otherwise answer
    /// `InsufficientFunds` if this server's own fresh block was decided (everyone it heard
    /// from has contributed), else try another instance.
    pub(super) fn conclude(&self, st: &mut ServerState, fresh: bool, fx: &mut Outbox) {
        let Some(w) = st.waiting.clone() else {
            return;
        };
        let balance = self.available(&st.storage);
        if balance >= w.transfer.amount {
            st.waiting = None;
            self.finish(st, w, Outcome::ExecutedAfterConsensus, fx);
        } else if fresh {
            st.waiting = None;
            let amount = w.transfer.amount;
            let reason = Rejection::InsufficientFunds { balance, amount };
            self.finish(st, w, Outcome::Rejected { reason }, fx);
        } else {
            self.start_election(st, fx);
        }
    }
}

fn reply(client: Id, id: TxId, outcome: Outcome, fx: &mut Outbox) {
    fx.send(client, ApiMsg::Outcome { id, outcome });
}

/// One id never names two transfers: a second, different one under it is refused.
fn refuse_id_in_use(client: Id, id: TxId, fx: &mut Outbox) {
    let reason = Rejection::IdInUse { id };
    reply(client, id, Outcome::Rejected { reason }, fx);
}
