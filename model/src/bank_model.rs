//! The model type: stateright's `ActorModel` of servers and scripted clients, with the sound
//! reductions applied to every new state.
//!
//! A reduction maps a state to a canonical one that no rule and no property can tell apart
//! from it, so the checker merges states that have the same future. spec/properties.md
//! ("Reductions") says why each one hides no behaviour, and of which kind each is: true of
//! any handlers, or decided by the real handlers as the search goes ([`crate::premises`]).
//! `ModelConfig::reduce` turns them off, and model/tests/reductions.rs checks that both ways
//! give the same verdicts.
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
//! 4. **Messages ignored for good.** A message its receiver will ignore in every state it
//!    can reach (`ServerActor::ignores_forever`, `ScriptedClient::ignores_forever`) is taken
//!    out of the network, if the real handler agrees that it does nothing with it now
//!    ([`dropped_as_ignored`]); that it stays so is checked on every step the search takes
//!    ([`crate::premises`]).
//! 5. **Symmetry** among the servers no client talks to, in paxchain's search (either
//!    order) and stateright's DFS: see [`crate::symmetry`]. That the handlers treat them
//!    alike is checked on every distinct step ([`crate::premises`]).
//! 6. **No crash of a server whose whole state is durable.** A server no client talks to
//!    never leads, waits or sets a timer, and saves every change in the step that makes it,
//!    so its memory equals its storage. Its crash and recovery then change nothing but its
//!    restart mark, and messages to it wait in the network meanwhile: a pause, which the
//!    network's delays already cover, and one that would only use up the crash budget. So
//!    such a server's crash is left out of a state's actions where the real `on_start`
//!    shows it to be a pause there (`premises::crash_is_a_pause`), and kept elsewhere: a
//!    server that forgot to save crashes where it matters.
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
use crate::premises::{self, Premises};
use crate::search::{Asleep, Confirm, Expand, Offer, SearchOptions, Transition};
use paxchain::{Msg, ServerState, Timer};
use stateright::actor::{
    Actor, ActorModel, ActorModelAction, ActorModelState, Envelope, Id, Network,
};
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
    /// The servers reduction 6 may keep from crashing (`ModelConfig::durable_servers`), in
    /// the states where the real handlers make their crash a pause.
    pub durable: u32,
    /// The passive servers reduction 5 renames, if there are two or more; else 0.
    pub symmetric: u32,
    /// The handlers' outcomes so far ([`crate::memo`]); every clone of the model shares them.
    pub steps: StepMemo,
    /// The checks of the reductions' premises about the handlers ([`crate::premises`]).
    pub premises: Premises,
    /// How many distinct steps fired each rule of the protocol ([`crate::rules`]).
    pub coverage: crate::rules::Coverage,
    /// Every transfer the clients' scripts ask for, signed as asked, by id: what the
    /// properties compare the bank's transfers with, computed once.
    pub scripted: Arc<std::collections::BTreeMap<paxchain::TxId, paxchain::Transfer>>,
}

impl BankModel {
    /// Ends every search of this model early: from now on no new state is within bounds, so
    /// the checker's threads drain what they hold and finish. (stateright 0.31 has no way to
    /// stop a search, and ignores its own timeout with one thread.)
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Reduction 6: whether a crash of server `i` in `s` can be left out, its crash and
    /// recovery being a pause there ([`premises::crash_is_a_pause`]).
    fn crash_left_out(&self, s: &BankState, i: usize) -> bool {
        self.durable & (1 << i) != 0
            && premises::crash_is_a_pause(
                &self.actors[i],
                i,
                &s.actor_states[i],
                &s.actor_storages[i],
                s.timers_set[i].iter().next().is_none(),
            )
    }

    /// Shows the premise checks the actors' steps from `last` to `next` made by stateright's
    /// own step (crashes, which reduction 2 clears, and recoveries; deliveries and timeouts
    /// come from the memo, in [`crate::delta`]). `recovered`: the actor that recovered.
    fn check_steps(&self, last: &BankState, next: &BankState, recovered: Option<usize>) {
        for i in 0..self.cfg.servers {
            let (before, after) = (&last.actor_states[i], &next.actor_states[i]);
            if Arc::ptr_eq(before, after) {
                continue;
            }
            let new = (self.premises).stepped(&self.actors, Id::from(i), before, after);
            if new {
                let rule = match recovered == Some(i) {
                    true => crate::rules::Rule::Restart,
                    false => crate::rules::Rule::Crash,
                };
                self.coverage.count(&[rule]);
            }
            if recovered == Some(i) && self.symmetric != 0 {
                let storage = &last.actor_storages[i];
                let mut out = stateright::actor::Out::new();
                self.actors[i].on_start(Id::from(i), storage, &mut out);
                let event = premises::Event::Start(storage);
                let seen = premises::Seen {
                    actor: i,
                    before,
                    event: &event,
                    after,
                    out: &out,
                };
                (self.premises).check_symmetry(&self.actors, self.symmetric, &seen);
            }
        }
    }

    /// How paxchain's own search ([`crate::search`]) checks this model: on one thread, with
    /// the fingerprint that tells every state apart ([`crate::fingerprint`]). Where the
    /// servers no client talks to make a symmetry (reduction 5), a state is merged by its
    /// representative's fingerprint, computed without building the representative
    /// ([`crate::symmetry::representative_fingerprint`]). Where there is none, deliveries
    /// and timeouts are fingerprinted before they are built (`expand` below). Every
    /// discovery is replayed through stateright's own step before it is accepted
    /// ([`crate::reference::confirm`]).
    pub fn search_options(&self) -> SearchOptions<BankModel> {
        let confirm = Some(crate::reference::confirm as Confirm<BankModel>);
        SearchOptions {
            fingerprint: Some(
                self.cfg
                    .symmetric_fingerprint()
                    .unwrap_or(fingerprint::fingerprint),
            ),
            expand: Some(expand as Expand<BankModel>),
            confirm,
            // Where a symmetry makes each examination costly: there they halve the time
            // (spec/properties.md, "Sleep sets"); elsewhere they save as much as they cost,
            // and hold several times the memory.
            sleep_sets: self.symmetric != 0,
            ..SearchOptions::default()
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
/// [`delta::Delta`] (deliveries and timeouts, with the reductions on) is fingerprinted
/// from `s` and the delta, and built only if the search has not seen that fingerprint; on
/// the default scenario three in four next states have been seen. Without a symmetry the
/// fingerprint comes from `s`'s parts (`fingerprint::Parts`); with one, it is the
/// representative's, read through the delta on FIFO links
/// (`symmetry::representative_fingerprint_of_delta`). Every other step is built and
/// fingerprinted whole.
fn expand(model: &BankModel, s: &BankState, asleep: &Asleep, offer: &mut Offer<BankModel>) {
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    let mask = model.symmetric;
    let ordered = matches!(s.network, Network::Ordered(_));
    let whole = |next: &BankState| match mask {
        0 => (fingerprint::fingerprint(next), None),
        _ => crate::symmetry::representative_fingerprint_and_renaming(mask, next),
    };
    let mut parts = None;
    let mut parent = None;
    for (index, action) in actions.into_iter().enumerate() {
        let t = transition(&action, ordered);
        if asleep(&t) {
            continue;
        }
        let next = match delta::of(model, s, action) {
            Ok(None) => continue,
            Ok(Some(delta)) => {
                let key = match mask {
                    0 => Some((
                        parts.get_or_insert_with(|| Parts::of(s)).with(s, &delta),
                        None,
                    )),
                    _ => {
                        let parent =
                            parent.get_or_insert_with(|| crate::symmetry::Parent::of(mask, s));
                        crate::symmetry::representative_fingerprint_of_next(mask, s, parent, &delta)
                    }
                };
                if let Some((key, renamed)) = key {
                    let mut delta = Some(delta);
                    offer(index, t, key, renamed.as_deref(), &mut || {
                        delta.take().expect("built once").apply(s)
                    });
                    continue;
                }
                delta.apply(s)
            }
            Err(action) => match model.next_state(s, action) {
                Some(next) => next,
                None => continue,
            },
        };
        let (key, renamed) = whole(&next);
        let mut next = Some(next);
        offer(index, t, key, renamed.as_deref(), &mut || {
            next.take().expect("built once")
        });
    }
}

/// The step `action` as the search's sleep sets see it (`search::sleep`): the action's
/// hash, and the one actor it touches, the receiver or the one whose timer fires, that
/// crashes, recovers or loses a message. Two steps of different actors commute in this
/// model, and neither disables the other:
/// 1. each changes its actor's state, timers and storage, takes its message out of a flow
///    into that actor (or one copy out of the bag; on the duplicating network none), and adds
///    what the actor sends, which only ever enables; on FIFO links the other step's message
///    stays at the head of its own flow;
/// 2. the history records sets and flags that only grow, in either order the same
///    (`history::record_msg_out`);
/// 3. the reductions look at one actor at a time: reduction 4 drops a message to an actor
///    its own state ignores for good (that it stays ignored is the premise checked on every
///    step), 6 leaves out an actor's crash by its own state, 7 lets a message go only with
///    another behind it in its flow, which a step of another actor only makes true, and
///    2 clears a crashed actor's volatile state;
/// 4. crashes share a budget: one crash can disable another, so every crash also touches
///    a bit of its own that all crashes share. A recovery only frees the budget.
///
/// model/tests/sleep_sets.rs checks the promise on the reachable states of several presets:
/// for every two enabled steps of different actors, both orders reach one state.
pub fn transition(action: &Action, ordered: bool) -> Transition {
    const CRASHES: u64 = 1 << 63;
    // On FIFO links a delivery takes the head of its flow, which only its receiver's steps
    // change: the flow names it. Elsewhere the message does.
    use crate::fingerprint::word_of as word;
    let (what, actor, peer) = match action {
        ActorModelAction::Deliver { src, dst, msg } => match ordered {
            true => (word(&0u8), *dst, Some(*src)),
            false => (word(&(0u8, msg)), *dst, Some(*src)),
        },
        ActorModelAction::Drop(env) => (word(&(1u8, &env.msg)), env.dst, Some(env.src)),
        ActorModelAction::Timeout(id, timer) => (word(&(2u8, timer)), *id, None),
        ActorModelAction::Crash(id) => (word(&3u8), *id, None),
        ActorModelAction::Recover(id) => (word(&4u8), *id, None),
        ActorModelAction::SelectRandom { actor, key, .. } => (word(&(5u8, key)), *actor, None),
    };
    let index = |id: Id| {
        let i = usize::from(id);
        assert!(i < 63, "the model has at most 63 actors");
        i as u8
    };
    let crash = matches!(action, ActorModelAction::Crash(_));
    Transition {
        what,
        actor: index(actor),
        peer: peer.map_or(Transition::NOBODY, index),
        touches: 1 << index(actor) | if crash { CRASHES } else { 0 },
    }
}

/// Rewrites `s` to its canonical form (see the module comment).
pub fn canonicalize(model: &BankModel, s: &mut BankState) {
    canonicalize_with(model, s, dropped_as_ignored);
}

/// [`canonicalize`], with reduction 4 decided by `drop` ([`dropped_as_ignored`], or
/// `crate::reference`'s, which runs the handler itself).
pub fn canonicalize_with(model: &BankModel, s: &mut BankState, drop: Dropped) {
    let cfg = &model.cfg;
    if let Network::UnorderedDuplicating(_, last) = &mut s.network {
        *last = None;
    }
    clear_crashed(cfg, s);
    let states = &s.actor_states;
    let ignored =
        |src: Id, dst: Id, msg: &Msg| drop(model, &states[usize::from(dst)], src, dst, msg);
    match &mut s.network {
        Network::UnorderedDuplicating(set, _) => set.retain(|e| !ignored(e.src, e.dst, &e.msg)),
        Network::UnorderedNonDuplicating(bag) => bag.retain(|e, _| !ignored(e.src, e.dst, &e.msg)),
        Network::Ordered(flows) => flows.retain(|&(src, dst), flow| {
            flow.retain(|m| !ignored(src, dst, m));
            !flow.is_empty() // stateright's canonical form has no empty flow
        }),
    }
}

/// Reduction 4's test of one message: the model, the receiver's state, source, destination,
/// message.
pub type Dropped = fn(&BankModel, &Arc<NodeState>, Id, Id, &Msg) -> bool;

/// Reduction 4's test: whether the message from `src` to `dst` leaves the network, its
/// receiver (in state `receiver`) ignoring it for good. The rule says so, and the real
/// handler agrees: it does nothing with the message in this state. Where the handler acts,
/// the message stays, and the disagreement is counted. A message taken out is recorded, so
/// that every later step of its receiver is checked to keep ignoring it
/// ([`crate::premises`]).
pub fn dropped_as_ignored(
    model: &BankModel,
    receiver: &Arc<NodeState>,
    src: Id,
    dst: Id,
    msg: &Msg,
) -> bool {
    let i = usize::from(dst);
    let actor = &model.actors[i];
    if !(model.premises.rule)(actor, receiver, src, msg) {
        return false;
    }
    let step = model.steps.delivery(actor, dst, receiver, src, msg);
    let first = !step.registered.swap(true, Ordering::Relaxed);
    if step.state.is_some() || !step.out.is_empty() {
        if first {
            model.premises.record_kept(|| {
                format!(
                    "{} acts on {msg:?} from {src:?} in {receiver:?}",
                    actor.name()
                )
            });
        }
        return false;
    }
    if first {
        model.premises.removed(&model.actors, dst, src, msg);
    }
    true
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
                if st.round.is_some() || !st.waiting.is_empty() || !st.staged.is_empty()
                    || !st.idle.is_empty());
        if stale {
            let st = s.actor_states[i]
                .server()
                .expect("the first actors are servers");
            let cleared = ServerState {
                round: None,
                waiting: Default::default(),
                staged: Vec::new(),
                idle: Default::default(),
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
                canonicalize(self, s);
            }
        }
        states
    }

    fn actions(&self, state: &BankState, actions: &mut Vec<Action>) {
        self.inner.actions(state, actions);
        // Only servers crash: a crashed client is outside the model's bounds, so its crash
        // leads nowhere, and the explorer should not offer it.
        let servers = self.cfg.servers;
        actions
            .retain(|a| !matches!(a, ActorModelAction::Crash(id) if usize::from(*id) >= servers));
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
        // Reduction 6, where the handlers make the crash a pause.
        if self.durable != 0 {
            actions.retain(|a| match a {
                ActorModelAction::Crash(id) => !self.crash_left_out(state, usize::from(*id)),
                _ => true,
            });
        }
    }

    fn next_state(&self, last: &BankState, action: Action) -> Option<BankState> {
        let action = match delta::of(self, last, action) {
            Ok(delta) => return delta.map(|d| d.apply(last)),
            Err(action) => action,
        };
        let recovered = match &action {
            ActorModelAction::Recover(id) => Some(usize::from(*id)),
            _ => None,
        };
        let mut next = self.inner.next_state(last, action)?;
        if self.cfg.reduce {
            canonicalize(self, &mut next);
            // Reduction 8: a step back to the same state reaches nothing new.
            if next == *last {
                return None;
            }
            self.check_steps(last, &next, recovered);
        }
        Some(next)
    }

    /// The step as a trace prints it: `client A → server A: SUBMIT A1 (A, B, 1)`.
    fn format_action(&self, action: &Action) -> String {
        crate::trace::Step::from_action(action).describe(self)
    }

    /// What the step changed, for the explorer ([`crate::readable::step`]).
    fn format_step(&self, last: &BankState, action: Action) -> Option<String> {
        crate::readable::step(self, last, action)
    }

    /// stateright's sequence diagram, its message labels as a trace prints them.
    fn as_svg(&self, path: Path<BankState, Action>) -> Option<String> {
        let actions = path.into_actions();
        let init = self.inner.init_states().into_iter().next()?;
        let mut svg = self
            .inner
            .as_svg(Path::from_actions(&self.inner, init, actions.iter())?)?;
        for a in &actions {
            if let ActorModelAction::Deliver { msg, .. } = a {
                let raw = format!(">{msg:?}</text>");
                let text = msg.to_string();
                let text = text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                svg = svg.replace(&raw, &format!(">{text}</text>"));
            }
        }
        Some(svg)
    }

    fn properties(&self) -> Vec<Property<BankModel>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &BankState) -> bool {
        !self.stop.load(Ordering::Relaxed) && Model::within_boundary(&self.inner, state)
    }
}
