//! One actor type for the model: a server, a scripted client, or the rogue client.
//!
//! stateright's `ActorModel` holds actors of a single type, so `Node` wraps the three and
//! delegates every event to the one it holds; no actor knows about the wrapper, and the
//! deployed server runs [`ServerActor`] itself. The wrapper is also where the network's
//! attacker (`crate::attacker`) watches a server: it relays the server's peer messages and
//! notes when the server acts on a relay.

use crate::attacker;
use crate::hashed::Hashed;
use crate::rogue_client::{RogueClient, RogueClientState};
use crate::scripted_client::{ScriptedClient, ScriptedClientState};
use paxchain::{Msg, ServerActor, ServerState, Storage, Timer};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;

/// A server, a scripted client or the rogue client.
#[derive(Clone, Debug)]
pub enum Node {
    /// A server; `watched`: the network's attacker relays its peer messages.
    Server {
        actor: ServerActor,
        watched: bool,
    },
    Client(ScriptedClient),
    Rogue(RogueClient),
}

/// The state of a [`Node`].
// Not boxed: stateright already keeps each actor state behind an `Arc`, and a box would add
// an allocation to every step of the search.
#[allow(clippy::large_enum_variant)]
/// Its `Debug` is in `crate::readable`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum NodeState {
    Server(Hashed<ServerState>),
    Client(Hashed<ScriptedClientState>),
    Rogue(Hashed<RogueClientState>),
}

impl From<ServerState> for NodeState {
    fn from(s: ServerState) -> Self {
        NodeState::Server(Hashed::new(s))
    }
}

impl From<ScriptedClientState> for NodeState {
    fn from(s: ScriptedClientState) -> Self {
        NodeState::Client(Hashed::new(s))
    }
}

impl From<RogueClientState> for NodeState {
    fn from(s: RogueClientState) -> Self {
        NodeState::Rogue(Hashed::new(s))
    }
}

impl NodeState {
    /// The server state, if this is a server.
    pub fn server(&self) -> Option<&ServerState> {
        match self {
            NodeState::Server(s) => Some(s),
            _ => None,
        }
    }

    /// The client state, if this is a client.
    pub fn client(&self) -> Option<&ScriptedClientState> {
        match self {
            NodeState::Client(c) => Some(c),
            _ => None,
        }
    }

    /// The rogue client's state, if this is the rogue client.
    pub fn rogue(&self) -> Option<&RogueClientState> {
        match self {
            NodeState::Rogue(r) => Some(r),
            _ => None,
        }
    }
}

/// Runs `f` on the inner actor and state, rewrapping the state only if `f` changed it (so
/// stateright still sees unchanged states as no-ops).
fn delegate<A, W>(
    state: &mut Cow<NodeState>,
    inner: impl Fn(&NodeState) -> &A::State,
    wrap: W,
    o: &mut Out<Node>,
    f: impl FnOnce(&mut Cow<A::State>, &mut Out<A>),
) where
    A: Actor<Msg = Msg, Timer = Timer, Random = (), Storage = Storage>,
    W: Fn(A::State) -> NodeState,
{
    let mut inner_out = Out::new();
    let mut inner_state = Cow::Borrowed(inner(state));
    f(&mut inner_state, &mut inner_out);
    if let Cow::Owned(s) = inner_state {
        *state = Cow::Owned(wrap(s));
    }
    o.append(&mut inner_out);
}

/// Sets the server's note that it acted on a relay not sealed for it (the property "a
/// server acts only on peer messages sealed for it" reads it).
fn note_acted_on_relay(state: &mut Cow<NodeState>) {
    let mut s = as_server(state).clone();
    s.instrumentation.acted_on_relay = true;
    *state = Cow::Owned(NodeState::from(s));
}

impl Node {
    /// With the attacker watching this server: relays the peer messages among `o`'s commands
    /// from `from` on (those of the step just taken).
    fn relay(&self, id: Id, o: &mut Out<Node>, from: usize) {
        let Node::Server {
            actor,
            watched: true,
        } = self
        else {
            return;
        };
        for (dst, msg) in attacker::relays(id, actor.cfg.servers.len(), &o[from..]) {
            o.send(dst, msg);
        }
    }

    /// Whether this actor, in state `st`, ignores `msg` from `src` now and forever (see
    /// `ServerActor::ignores_forever`).
    pub fn ignores_forever(&self, st: &NodeState, src: Id, msg: &Msg) -> bool {
        match (self, st) {
            (Node::Server { actor, .. }, NodeState::Server(s)) => {
                actor.ignores_forever(s, src, msg)
            }
            (Node::Client(a), NodeState::Client(c)) => a.ignores_forever(c, src, msg),
            // Never taken out of the network: the rogue client is a test of the server.
            (Node::Rogue(_), NodeState::Rogue(_)) => false,
            _ => unreachable!("actor and state kinds always match"),
        }
    }
}

fn as_server(s: &NodeState) -> &ServerState {
    s.server()
        .expect("a server actor always holds server state")
}

fn as_client(s: &NodeState) -> &ScriptedClientState {
    s.client()
        .expect("a client actor always holds client state")
}

fn as_rogue(s: &NodeState) -> &RogueClientState {
    s.rogue()
        .expect("the rogue client always holds rogue client state")
}

impl Actor for Node {
    type Msg = Msg;
    type State = NodeState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(&self, id: Id, storage: &Option<Storage>, o: &mut Out<Self>) -> NodeState {
        match self {
            Node::Server { actor, .. } => {
                let mut inner = Out::new();
                let state = NodeState::from(actor.on_start(id, storage, &mut inner));
                o.append(&mut inner);
                state
            }
            Node::Client(a) => {
                let mut inner = Out::new();
                let state = NodeState::from(a.on_start(id, storage, &mut inner));
                o.append(&mut inner);
                state
            }
            Node::Rogue(a) => {
                let mut inner = Out::new();
                let state = NodeState::from(a.on_start(id, storage, &mut inner));
                o.append(&mut inner);
                state
            }
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match self {
            Node::Server { actor, watched } => {
                // A relay delivered to a watched server: remember what it was, to tell after
                // the step whether the server acted on it.
                let relay = *watched && matches!(msg, Msg::Relayed { .. });
                let noted = relay.then(|| (msg.clone(), NodeState::clone(state)));
                let before = o.len();
                delegate(state, as_server, NodeState::from, o, |s, out| {
                    actor.on_msg(id, s, src, msg, out)
                });
                if let Some((msg, old)) = noted {
                    let (changed, sent) = (**state != old, o.len() > before);
                    if attacker::acted_on_relay(id, &msg, changed, sent) {
                        note_acted_on_relay(state);
                    }
                }
                self.relay(id, o, before);
            }
            Node::Client(a) => {
                delegate(state, as_client, NodeState::from, o, |s, out| {
                    a.on_msg(id, s, src, msg, out)
                });
            }
            Node::Rogue(a) => {
                delegate(state, as_rogue, NodeState::from, o, |s, out| {
                    a.on_msg(id, s, src, msg, out)
                });
            }
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<NodeState>, timer: &Timer, o: &mut Out<Self>) {
        match self {
            Node::Server { actor, .. } => {
                let before = o.len();
                delegate(state, as_server, NodeState::from, o, |s, out| {
                    actor.on_timeout(id, s, timer, out)
                });
                self.relay(id, o, before);
            }
            Node::Client(a) => {
                delegate(state, as_client, NodeState::from, o, |s, out| {
                    a.on_timeout(id, s, timer, out)
                });
            }
            Node::Rogue(_) => {} // it sets no timer
        }
    }

    fn name(&self) -> String {
        match self {
            Node::Server { actor, .. } => actor.name(),
            Node::Client(a) => a.name(),
            Node::Rogue(a) => a.name(),
        }
    }
}
