//! A client that breaks the client API's rules: the model's stand-in for a forger on the
//! network, who knows no key, and for a buggy client program of the account's owner, who
//! does. Every request it makes must be refused.
//!
//! It talks to its account's server, one request at a time, each after the answer to the
//! previous (so the model does not have to explore every interleaving of six requests):
//!
//! 0. the forger's: the account's client's first transfer, as captured on the network, sent
//!    again with one unit more and the captured signature. Its signature does not cover it,
//!    so it must be refused however its amount would be executed (at once, or after a round);
//!    a server that checks less than every signed field, or checks only on the fast path,
//!    executes it. It races the real one: a forged request that arrives first is the one
//!    that matters.
//! 1. a transfer of zero units;
//! 2. a transfer to an account that does not exist;
//! 3. a transfer *from another* account (a client may move only its own money);
//! 4. a transfer from its account to itself;
//! 5. then it asks the server which id it last answered for the account's own client
//!    (`GetLastAnswered`, part of the API) and, if there is one, sends a *different*
//!    transfer under that id, signed: an id reused, as the owner's client would if it lost
//!    its counter.
//!
//! Requests 1 to 5 carry the owner's signature (a forger's would be refused for that
//! alone, before the rule each tests).
//!
//! It records every answer. The property "bad requests are refused" says each is a
//! rejection; none of these transfers may appear in a chain or a log ("validity").

use paxchain::{Account, ApiMsg, Msg, Outcome, Session, Storage, Timer, Transfer, TxId};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;

/// Sequence numbers of the invalid requests: far above any script's.
const FIRST_SEQ: u32 = 900;

/// The units of the id-reusing transfer: more than any script moves, so it always
/// differs from the transfer that id first named.
pub const REUSED_ID_AMOUNT: u64 = 1_000;

/// The rogue client of `account`'s server, in a bank of `accounts` accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RogueClient {
    pub account: Account,
    pub server: Id,
    pub accounts: usize,
    /// The account's client's first transfer, as a forger captures it (none if the account
    /// has no client).
    pub captured: Option<Transfer>,
}

/// How far it has got, and what it was told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RogueClientState {
    /// The request awaiting an answer: 0 the altered copy, 1 to 4 the invalid transfers, 5
    /// the question, 6 the transfer under a reused id, 7 done.
    pub next: usize,
    /// The answers to its transfers, in order.
    pub answers: Vec<Outcome>,
    /// The reused id, once the server has named one.
    pub reused: Option<TxId>,
}

impl RogueClientState {
    /// Whether every transfer has its answer, the one under a reused id included.
    pub fn answered_all(&self) -> bool {
        self.reused.is_some() && self.next == DONE
    }
}

const COPY: usize = 0;
const QUESTION: usize = 5;
const REUSE: usize = 6;
const DONE: usize = 7;

impl RogueClient {
    fn other(&self) -> Account {
        Account::of_server((self.account.index() + 1) % self.accounts)
    }

    /// The captured transfer with one unit more, and the captured signature.
    fn altered_copy(&self) -> Option<Transfer> {
        let captured = self.captured.clone()?;
        Some(Transfer {
            amount: captured.amount + 1,
            ..captured
        })
    }

    /// Invalid transfer `i` (0 to 3), signed.
    fn invalid(&self, i: usize) -> Transfer {
        let me = self.account;
        let id = TxId::new(me, FIRST_SEQ + i as u32);
        let (from, to, amount) = match i {
            0 => (me, self.other(), 0),
            1 => (me, Account::of_server(self.accounts), 1),
            2 => (self.other(), me, 1),
            _ => (me, me, 1),
        };
        Transfer::model_signed(id, from, to, amount)
    }

    fn reusing(&self, id: TxId) -> Transfer {
        Transfer::model_signed(id, self.account, self.other(), REUSED_ID_AMOUNT)
    }

    /// The transfer request `st.next` is, if it is one.
    fn current(&self, st: &RogueClientState) -> Option<Transfer> {
        match st.next {
            COPY => self.altered_copy(),
            i if i < QUESTION => Some(self.invalid(i - 1)),
            REUSE => st.reused.map(|id| self.reusing(id)),
            _ => None,
        }
    }

    fn send(&self, st: &RogueClientState, o: &mut Out<Self>) {
        let msg = match (st.next, self.current(st)) {
            (QUESTION, _) => ApiMsg::GetLastAnswered {
                session: Session::FIRST,
            },
            (_, Some(transfer)) => ApiMsg::Submit { transfer },
            (_, None) => return,
        };
        o.send(self.server, msg.into());
    }

    /// Whether every request has its answer.
    pub fn is_done(&self, st: &RogueClientState) -> bool {
        st.next >= DONE
    }
}

impl Actor for RogueClient {
    type Msg = Msg;
    type State = RogueClientState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(&self, _id: Id, _s: &Option<Storage>, o: &mut Out<Self>) -> RogueClientState {
        // Without a captured transfer there is nothing to alter: the invalid ones come first.
        let st = RogueClientState {
            next: if self.captured.is_some() {
                COPY
            } else {
                COPY + 1
            },
            ..RogueClientState::default()
        };
        self.send(&st, o);
        st
    }

    fn on_msg(
        &self,
        _id: Id,
        state: &mut Cow<RogueClientState>,
        src: Id,
        msg: Msg,
        o: &mut Out<Self>,
    ) {
        if src != self.server {
            return;
        }
        let st = state.as_ref();
        match msg {
            Msg::Api(ApiMsg::LastAnswered { id, .. }) if st.next == QUESTION => {
                let st = state.to_mut();
                st.reused = id;
                st.next = if id.is_some() { REUSE } else { DONE };
            }
            Msg::Api(ApiMsg::Outcome { id, outcome })
                if self.current(st).is_some_and(|t| t.id == id) =>
            {
                let st = state.to_mut();
                st.answers.push(outcome);
                st.next += 1;
            }
            _ => return,
        }
        self.send(state, o);
    }

    fn name(&self) -> String {
        format!("rogue client of {}", self.account)
    }
}
