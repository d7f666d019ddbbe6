//! The model type: stateright's `ActorModel` of servers and scripted clients, with the sound
//! reductions applied to every new state.
//!
//! A reduction maps a state to a canonical one that no rule and no property can tell apart
//! from it, so the checker merges states that have the same future. spec/properties.md
//! ("Reductions") says why each one hides no behaviour; `ModelConfig::reduce` turns them off,
//! and model/tests/reductions.rs checks that both ways give the same verdicts.
//!
//! 1. **The duplicating network's last delivery.** stateright's `UnorderedDuplicating`
//!    network remembers the last envelope delivered, so that a redelivery which only re-sends
//!    what is already in flight still makes a new state. No rule reads it (what can be
//!    delivered is the set alone) and no property does: it is cleared.
//! 2. **A crashed server's volatile state.** A crashed actor receives no event, its timers are
//!    gone, and it restarts from its storage alone. The round it led and the transfer it was
//!    waiting on are never read again (the properties read only its chain, log and
//!    instrumentation, which equal its last save): they are cleared at once.
//! 3. **Loss on an unordered network** is left out where the model is built
//!    (`ModelConfig::explores_loss`): a dropped message reaches what a never-delivered one
//!    reaches.
//! 4. **Messages ignored forever.** A message its receiver will ignore in every state it
//!    can reach (`ServerActor::ignores_forever`, `ScriptedClient::ignores_forever`) is taken
//!    out of the network: delivering it could only ever be a no-op. Its argument reads the
//!    correct protocol's rules, so it is off when the model runs a seeded bug.
//! 5. **Symmetry** among the servers no client talks to, in paxchain's search (either
//!    order) and stateright's DFS: see [`crate::symmetry`].
//! 6. **No crash of a server whose whole state is durable.** A server no client talks to
//!    never leads, waits or sets a timer, and saves every change in the step that makes it,
//!    so its memory always equals its storage. Its crash and recovery then change nothing
//!    but its restart mark, and messages to it wait in the network meanwhile: a pause, which
//!    the network's delays already cover, and one that would only use up the crash budget.
//!    So such servers do not crash (`ModelConfig::durable_servers`); the others still do.
//!    model/tests/passive_servers.rs checks the premise in both variants; a seeded bug (an accepted
//!    block not saved) can break it, so this is off with one.
//! 7. **Lazy loss on FIFO links.** Dropping the only message of a flow reaches what leaving
//!    it in flight for ever reaches, except the network, which no property reads; a drop
//!    matters only when it lets a later message of the flow through. So only a message with
//!    another queued behind it may be dropped, and a path that drops earlier is matched by
//!    one that drops just before the later message is delivered.
//! 8. **Steps back to the same state** are left out (a redelivered request on the
//!    duplicating network, answered with a reply already in flight): they reach nothing
//!    new, and leaving them out only saves fingerprinting a state already seen. On the
//!    duplicating network, half of all actions are such steps; [`crate::delta`] finds
//!    them before building the successor at all.

use crate::config::ModelConfig;
use crate::delta;
use crate::fingerprint::{self, Parts};
use crate::history::History;
use crate::memo::StepMemo;
use crate::node::{Node, NodeState};
use crate::search::{Expand, Offer, SearchOptions};
use paxchain::{Msg, ServerState, Timer};
use stateright::actor::{ActorModel, ActorModelAction, ActorModelState, Envelope, Id, Network};
use stateright::{CheckerBuilder, Model, Path, Property};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One state of [`BankModel`].
pub type BankState = ActorModelState<Node, History>;
/// One action of [`BankModel`].
pub type Action = ActorModelAction<Msg, Timer, ()>;

/// The model every subcommand, test and benchmark checks (built by [`crate::build`]).
#[derive(Clone)]
pub struct BankModel {
    /// The actors, network and bounds; `cfg` is the [`ModelConfig`] it was built from.
    pub inner: ActorModel<Node, ModelConfig, History>,
    /// Every property, in report order.
    pub properties: Vec<Property<BankModel>>,
    /// Set by [`BankModel::stop`]; shared by every clone of the model.
    pub stop: Arc<AtomicBool>,
    /// The servers reduction 6 keeps from crashing (`ModelConfig::durable_servers`).
    pub durable: u32,
    /// The handlers' outcomes so far ([`crate::memo`]); every clone of the model shares them.
    pub steps: StepMemo,
}

impl BankModel {
    /// Ends every search of this model early: from now on no new state is within bounds, so
    /// the checker's threads drain what they hold and finish. (stateright 0.31 has no way to
    /// stop a search, and ignores its own timeout with one thread.)
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Reduction 6: whether a server whose whole state is durable is down.
    fn durable_crashed(&self, s: &BankState) -> bool {
        let durable = self.durable;
        durable != 0 && (0..self.cfg.servers).any(|i| durable & (1 << i) != 0 && s.crashed[i])
    }

    /// How paxchain's own search ([`crate::search`]) checks this model: on one thread, with
    /// the fingerprint that tells every state apart ([`crate::fingerprint`]). Where the
    /// servers no client talks to make a symmetry (reduction 5), a state is merged by its
    /// representative's fingerprint, computed without building the representative
    /// ([`crate::symmetry::representative_fingerprint`]). Where there is none, deliveries
    /// and timeouts are fingerprinted before they are built (`expand` below).
    pub fn search_options(&self) -> SearchOptions<BankModel> {
        match self.cfg.symmetric_fingerprint() {
            Some(print) => SearchOptions {
                fingerprint: Some(print),
                ..SearchOptions::default()
            },
            None => SearchOptions {
                fingerprint: Some(fingerprint::fingerprint),
                expand: Some(expand as Expand<BankModel>),
                ..SearchOptions::default()
            },
        }
    }

    /// stateright's checker for this model, with the symmetry of the servers no client
    /// talks to where there is one (reduction 5; stateright applies it in DFS only).
    pub fn checker_builder(&self) -> CheckerBuilder<BankModel> {
        let builder = self.clone().checker();
        match self.cfg.symmetry() {
            Some(representative) => builder.symmetry_fn(representative),
            None => builder,
        }
    }
}

impl std::ops::Deref for BankModel {
    type Target = ActorModel<Node, ModelConfig, History>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

/// The next states of `s` for the search (`search::Expand`). A step that has a
/// [`delta::Delta`] (deliveries and timeouts, with the reductions on) is
/// fingerprinted from `s`'s parts and the delta, and built only if the search has not seen
/// that fingerprint; on the default scenario three in four next states have been seen.
/// Every other step is built and fingerprinted whole.
fn expand(model: &BankModel, s: &BankState, offer: &mut Offer<BankModel>) {
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    let mut parts = None;
    for (index, action) in actions.into_iter().enumerate() {
        match delta::of(model, s, action) {
            Ok(None) => {}
            Ok(Some(delta)) => {
                let key = parts.get_or_insert_with(|| Parts::of(s)).with(s, &delta);
                let mut delta = Some(delta);
                offer(index, key, &mut || {
                    delta.take().expect("built once").apply(s)
                });
            }
            Err(action) => {
                if let Some(next) = model.next_state(s, action) {
                    let key = fingerprint::fingerprint(&next);
                    let mut next = Some(next);
                    offer(index, key, &mut || next.take().expect("built once"));
                }
            }
        }
    }
}

/// Rewrites `s` to its canonical form (see the module comment).
pub fn canonicalize(model: &ActorModel<Node, ModelConfig, History>, s: &mut BankState) {
    let cfg = &model.cfg;
    if let Network::UnorderedDuplicating(_, last) = &mut s.network {
        *last = None;
    }
    clear_crashed(cfg, s);
    if cfg.bug.is_some() {
        // Reduction 4's argument reads the correct protocol's rules; a seeded bug breaks it.
        return;
    }
    let states = &s.actor_states;
    let ignored = |src: Id, dst: Id, msg: &Msg| {
        dropped_as_ignored(model, &states[usize::from(dst)], src, dst, msg)
    };
    match &mut s.network {
        Network::UnorderedDuplicating(set, _) => set.retain(|e| !ignored(e.src, e.dst, &e.msg)),
        Network::UnorderedNonDuplicating(bag) => bag.retain(|e, _| !ignored(e.src, e.dst, &e.msg)),
        Network::Ordered(flows) => flows.retain(|&(src, dst), flow| {
            flow.retain(|m| !ignored(src, dst, m));
            !flow.is_empty() // stateright's canonical form has no empty flow
        }),
    }
}

/// Reduction 4's test: whether the message from `src` to `dst` leaves the network, its
/// receiver (in state `receiver`) ignoring it for ever. Never with a seeded bug, whose rules
/// the argument does not cover.
pub fn dropped_as_ignored(
    model: &ActorModel<Node, ModelConfig, History>,
    receiver: &NodeState,
    src: Id,
    dst: Id,
    msg: &Msg,
) -> bool {
    model.cfg.bug.is_none() && model.actors[usize::from(dst)].ignores_forever(receiver, src, msg)
}

/// Every message in flight, once per copy. (stateright 0.31's `Network::iter_all` never ends
/// on a FIFO network with a message in flight: it does not advance within a flow.)
pub fn in_flight(net: &Network<Msg>) -> Box<dyn Iterator<Item = Envelope<&Msg>> + '_> {
    fn of(e: &Envelope<Msg>) -> Envelope<&Msg> {
        Envelope {
            src: e.src,
            dst: e.dst,
            msg: &e.msg,
        }
    }
    match net {
        Network::UnorderedDuplicating(set, _) => Box::new(set.iter().map(of)),
        Network::UnorderedNonDuplicating(bag) => {
            Box::new(bag.iter().flat_map(|(e, &n)| std::iter::repeat_n(of(e), n)))
        }
        Network::Ordered(flows) => Box::new(flows.iter().flat_map(|(&(src, dst), flow)| {
            flow.iter().map(move |msg| Envelope { src, dst, msg })
        })),
    }
}

/// Reduction 2: a crashed server keeps only what its restart will read.
fn clear_crashed(cfg: &ModelConfig, s: &mut BankState) {
    for i in 0..cfg.servers {
        let stale = s.crashed[i]
            && matches!(&*s.actor_states[i], NodeState::Server(st)
                if st.round.is_some() || st.waiting.is_some());
        if stale {
            let st = s.actor_states[i]
                .server()
                .expect("the first actors are servers");
            let cleared = ServerState {
                round: None,
                waiting: None,
                ..st.clone()
            };
            s.actor_states[i] = Arc::new(NodeState::from(cleared));
        }
    }
}

impl Model for BankModel {
    type State = BankState;
    type Action = Action;

    fn init_states(&self) -> Vec<BankState> {
        let mut states = self.inner.init_states();
        if self.cfg.reduce {
            // Every state the search holds is canonical; `delivery` relies on it.
            for s in &mut states {
                canonicalize(&self.inner, s);
            }
        }
        states
    }

    fn actions(&self, state: &BankState, actions: &mut Vec<Action>) {
        self.inner.actions(state, actions);
        if !self.cfg.reduce {
            return;
        }
        // Reduction 7: on FIFO links, drop only a message with another queued behind it.
        if let Network::Ordered(flows) = &state.network {
            actions.retain(|a| match a {
                ActorModelAction::Drop(e) => {
                    flows.get(&(e.src, e.dst)).is_some_and(|f| f.len() > 1)
                }
                _ => true,
            });
        }
    }

    fn next_state(&self, last: &BankState, action: Action) -> Option<BankState> {
        let action = match delta::of(self, last, action) {
            Ok(delta) => return delta.map(|d| d.apply(last)),
            Err(action) => action,
        };
        let mut next = self.inner.next_state(last, action)?;
        if self.cfg.reduce {
            canonicalize(&self.inner, &mut next);
            // Reduction 8: a step back to the same state reaches nothing new.
            if next == *last {
                return None;
            }
        }
        Some(next)
    }

    fn format_action(&self, action: &Action) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, last: &BankState, action: Action) -> Option<String> {
        self.inner.format_step(last, action)
    }

    fn as_svg(&self, path: Path<BankState, Action>) -> Option<String> {
        let actions = path.into_actions();
        let init = self.inner.init_states().into_iter().next()?;
        self.inner
            .as_svg(Path::from_actions(&self.inner, init, actions.iter())?)
    }

    fn properties(&self) -> Vec<Property<BankModel>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &BankState) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && Model::within_boundary(&self.inner, state)
            && !self.durable_crashed(state)
    }
}
