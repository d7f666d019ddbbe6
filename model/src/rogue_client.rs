//! A client that breaks the client API's rules: the model's stand-in for a buggy client
//! program and for forged datagrams. Every request it makes must be refused.
//!
//! It talks to its account's server, one request at a time, each after the answer to the
//! previous (so the model does not have to explore every interleaving of five requests):
//!
//! 1. a transfer of zero units;
//! 2. a transfer to an account that does not exist;
//! 3. a transfer *from another* account (a client may move only its own money);
//! 4. a transfer from its account to itself;
//! 5. then it asks the server which id it last answered for the account's own client
//!    (`GetLastAnswered`, part of the API) and, if there is one, sends a *different*
//!    transfer under that id: an id reused, as a forger or a client that lost its counter
//!    would. (It asks first because a forged request that arrives before the real one is
//!    indistinguishable from the real one: UDP is not authenticated.)
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
}

/// How far it has got, and what it was told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RogueClientState {
    /// The request awaiting an answer: 0 to 3 the invalid transfers, 4 the question, 5 the
    /// transfer under a reused id, 6 done.
    pub next: usize,
    /// The answers to its transfers, in order.
    pub answers: Vec<Outcome>,
    /// The reused id, once the server has named one.
    pub reused: Option<TxId>,
}

impl RogueClientState {
    /// Whether all five transfers have their answers, the one under a reused id included.
    pub fn answered_all(&self) -> bool {
        self.reused.is_some() && self.answers.len() == REUSE
    }
}

const QUESTION: usize = 4;
const REUSE: usize = 5;
const DONE: usize = 6;

impl RogueClient {
    fn other(&self) -> Account {
        Account::of_server((self.account.index() + 1) % self.accounts)
    }

    /// Invalid transfer `i` (0 to 3).
    fn invalid(&self, i: usize) -> Transfer {
        let me = self.account;
        let id = TxId::new(me, FIRST_SEQ + i as u32);
        let (from, to, amount) = match i {
            0 => (me, self.other(), 0),
            1 => (me, Account::of_server(self.accounts), 1),
            2 => (self.other(), me, 1),
            _ => (me, me, 1),
        };
        Transfer {
            id,
            from,
            to,
            amount,
        }
    }

    fn reusing(&self, id: TxId) -> Transfer {
        Transfer {
            id,
            from: self.account,
            to: self.other(),
            amount: REUSED_ID_AMOUNT,
        }
    }

    /// The transfer request `st.next` is, if it is one.
    fn current(&self, st: &RogueClientState) -> Option<Transfer> {
        match st.next {
            i if i < QUESTION => Some(self.invalid(i)),
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
        let st = RogueClientState::default();
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
