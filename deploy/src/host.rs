//! The actor the runtime runs for one server: the checked [`ServerActor`], and around it only
//! what a real process needs and the model does not.
//!
//! It hands protocol datagrams to the server unchanged, and the server's commands back to the
//! runtime unchanged, so the protocol runs exactly as the model checker runs it, except:
//! 1. **a save goes to the host's [`Store`]** (the storage log, crate::storage), not to the
//!    runtime, whose own file is rewritten whole and unsynced;
//! 2. **peer datagrams are sealed and opened** with the server's keys (crate::peers): a peer
//!    message leaves sealed for its receiver and is taken only through a seal that opens
//!    here; the rest is dropped and counted;
//! 3. **the harness's requests** (crate::conformance) are obeyed in conformance mode, refused
//!    otherwise, and **a monitor** may ask how many datagrams were dropped, and why.

use crate::conformance::{HarnessReply, HarnessRequest, Mode, REFUSED};
use crate::peers::{PeerKeys, Sealed};
use crate::storage::Store;
use crate::wire::Datagram;
use paxchain::{Msg, ServerActor, ServerState, Storage, Timer};
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The server actor as the runtime hosts it.
#[derive(Clone)]
pub struct Host {
    pub server: ServerActor,
    pub mode: Mode,
    /// What a report counts (conformance mode only). Outside the protocol's state: the
    /// checked actor never sees it.
    counts: Arc<Counts>,
    /// Where saves go, and what the server restarts from. Without one (unit tests), saves
    /// are handed to the runtime as commands.
    storage: Option<HostStorage>,
    /// The keys this server shares with each peer: with them every peer datagram leaves
    /// sealed and must arrive sealed (crate::peers). Without (conformance mode), peers are
    /// known by their addresses alone, as the model knows them.
    peers: Option<Arc<PeerKeys>>,
}

/// A host's durable storage: the log, and what it held when the server started.
#[derive(Clone)]
struct HostStorage {
    store: Arc<Mutex<Store>>,
    restored: Option<Storage>,
}

/// Since the process started: the protocol datagrams and fired timers handled, the protocol
/// datagrams sent, and the peer datagrams dropped as not authentic.
#[derive(Default)]
struct Counts {
    handled: AtomicU64,
    sent: AtomicU64,
    unauthenticated: AtomicU64,
}

impl Host {
    pub fn new(server: ServerActor, mode: Mode) -> Host {
        Host {
            server,
            mode,
            counts: Arc::default(),
            storage: None,
            peers: None,
        }
    }

    /// The host, sealing and opening peer datagrams with `keys`.
    pub fn with_peers(self, keys: PeerKeys) -> Host {
        Host {
            peers: Some(Arc::new(keys)),
            ..self
        }
    }

    /// A host whose saves go to `store`, restarting from `restored` (what `store` held when
    /// it was opened), whatever the runtime's own file says.
    pub fn with_store(
        server: ServerActor,
        mode: Mode,
        store: Store,
        restored: Option<Storage>,
    ) -> Host {
        let store = Arc::new(Mutex::new(store));
        Host {
            storage: Some(HostStorage { store, restored }),
            ..Host::new(server, mode)
        }
    }

    /// Makes `storage` durable before the commands after it run. A server that cannot save
    /// must not go on: its next message would promise what it did not keep.
    fn save(&self, storage: Storage, o: &mut Out<Host>) {
        let Some(host) = &self.storage else {
            return o.save(storage);
        };
        let mut store = host
            .store
            .lock()
            .expect("no save panicked while holding the store");
        if let Err(e) = store.save(&storage) {
            eprintln!("paxchain server: cannot save: {e}; stopping");
            std::process::exit(3);
        }
    }

    /// The server's commands, in their order (a save stays before the sends that depend
    /// on it), each send counted.
    fn forward(&self, out: Out<ServerActor>, o: &mut Out<Host>) {
        for c in out {
            match c {
                Command::Send(dst, msg) => {
                    self.counts.sent.fetch_add(1, Ordering::Relaxed);
                    o.send(dst, self.outgoing(dst, msg))
                }
                Command::SetTimer(timer, range) => o.set_timer(timer, range),
                Command::CancelTimer(timer) => o.cancel_timer(timer),
                Command::Save(storage) => self.save(storage, o),
                Command::ChooseRandom(key, choices) => o.choose_random(key, choices),
            }
        }
    }
}

impl Actor for Host {
    type Msg = Datagram;
    type State = ServerState;
    type Timer = Timer;
    type Random = ();
    type Storage = Storage;

    fn on_start(&self, id: Id, storage: &Option<Storage>, o: &mut Out<Self>) -> ServerState {
        let mut out = Out::new();
        let storage = match &self.storage {
            Some(host) => &host.restored,
            None => storage,
        };
        let state = self.server.on_start(id, storage, &mut out);
        self.forward(out, o);
        state
    }

    fn on_msg(
        &self,
        id: Id,
        state: &mut Cow<ServerState>,
        src: Id,
        d: Datagram,
        o: &mut Out<Self>,
    ) {
        let (src, msg) = match d {
            Datagram::Protocol(Msg::Peer(_) | Msg::Relayed { .. }) if self.peers.is_some() => {
                return self.drop_unauthentic("a peer message without a MAC");
            }
            Datagram::Protocol(msg) => (src, msg),
            Datagram::Sealed(sealed) => match self.open(&sealed) {
                Ok(opened) => opened,
                Err(why) => return self.drop_unauthentic(&why),
            },
            Datagram::Harness(request) => return self.on_harness(id, state, src, request, o),
            Datagram::Monitor => {
                let dropped = Datagram::Dropped {
                    malformed: crate::wire::malformed_datagrams(),
                    unauthenticated: self.counts.unauthenticated.load(Ordering::Relaxed),
                };
                return o.send(src, dropped);
            }
            // A server asks nothing of the harness or of monitors; their answers are strays.
            Datagram::HarnessReply(_) | Datagram::Dropped { .. } => return,
        };
        self.counts.handled.fetch_add(1, Ordering::Relaxed);
        let mut out = Out::new();
        self.server.on_msg(id, state, src, msg, &mut out);
        self.forward(out, o)
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<ServerState>, timer: &Timer, o: &mut Out<Self>) {
        let mut out = Out::new();
        self.server.on_timeout(id, state, timer, &mut out);
        self.forward(out, o);
    }

    fn name(&self) -> String {
        self.server.name()
    }
}

impl Host {
    /// A harness request: obeyed in conformance mode only.
    fn on_harness(
        &self,
        id: Id,
        state: &mut Cow<ServerState>,
        src: Id,
        request: HarnessRequest,
        o: &mut Out<Host>,
    ) {
        if self.mode != Mode::Conformance {
            eprintln!("paxchain server: refused a harness request: {REFUSED}");
            let reason = REFUSED.to_string();
            return o.send(
                src,
                Datagram::HarnessReply(HarnessReply::Refused { reason }),
            );
        }
        match request {
            HarnessRequest::FireTimer { timer } => {
                self.counts.handled.fetch_add(1, Ordering::Relaxed);
                self.on_timeout(id, state, &timer, o)
            }
            HarnessRequest::ReportState => {
                let state = Box::new(state.as_ref().clone());
                let handled = self.counts.handled.load(Ordering::Relaxed);
                let sent = self.counts.sent.load(Ordering::Relaxed);
                let reply = HarnessReply::State {
                    state,
                    handled,
                    sent,
                };
                o.send(src, Datagram::HarnessReply(reply));
            }
        }
    }

    /// A message as it leaves: a peer message sealed for its receiver when there are keys.
    fn outgoing(&self, dst: Id, msg: Msg) -> Datagram {
        match (&self.peers, msg) {
            (Some(keys), Msg::Peer(p)) => {
                let to = (self.server.cfg.servers.iter())
                    .position(|&s| s == dst)
                    .expect("a peer message goes to a server");
                let payload = postcard::to_allocvec(&p).expect("messages are plain data");
                Datagram::Sealed(keys.seal(to, payload))
            }
            (_, msg) => Datagram::Protocol(msg),
        }
    }

    /// The sender (as the protocol knows it: its address in the cluster) and the message of
    /// an authentic sealed datagram; or why it is not one.
    fn open(&self, sealed: &Sealed) -> Result<(Id, Msg), String> {
        let Some(keys) = &self.peers else {
            return Err("a sealed datagram where no keys are set".into());
        };
        let from = keys.open(sealed).map_err(|e| e.to_string())?;
        let p = (sealed.message())
            .map_err(|e| format!("an authentic seal over bytes that do not decode ({e})"))?;
        Ok((self.server.cfg.servers[from], Msg::Peer(p)))
    }

    /// Counts a peer datagram dropped as not authentic, and says so on stderr for the 1st,
    /// 2nd, 4th, 8th, ... (a flood cannot flood the terminal). Nothing is answered.
    fn drop_unauthentic(&self, why: &str) {
        let n = self.counts.unauthenticated.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            eprintln!("paxchain server: dropped a peer datagram that is not authentic ({n} so far): {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::HarnessRequest;
    use paxchain::msg::ApiMsg;
    use paxchain::{Msg, ServerConfig};

    fn host(mode: Mode) -> Host {
        Host::new(ServerActor::new(ServerConfig::default()), mode)
    }

    fn deliver(h: &Host, d: Datagram) -> (ServerState, Vec<Command<Datagram, Timer, (), Storage>>) {
        let mut o = Out::new();
        let init = h.on_start(Id::from(0), &None, &mut o);
        let mut state = Cow::Owned(init);
        let mut o = Out::new();
        h.on_msg(Id::from(0), &mut state, Id::from(9), d, &mut o);
        (state.into_owned(), o.into_iter().collect())
    }

    #[test]
    fn a_normal_server_refuses_harness_requests_and_changes_nothing() {
        for request in [
            HarnessRequest::ReportState,
            HarnessRequest::FireTimer {
                timer: Timer::Round,
            },
        ] {
            let (state, cmds) = deliver(&host(Mode::Normal), Datagram::Harness(request));
            assert_eq!(state, ServerState::fresh());
            assert!(matches!(
                cmds.as_slice(),
                [Command::Send(dst, Datagram::HarnessReply(HarnessReply::Refused { reason }))]
                    if *dst == Id::from(9) && reason == REFUSED
            ));
        }
    }

    #[test]
    fn a_conformance_server_reports_its_state() {
        let (_, cmds) = deliver(
            &host(Mode::Conformance),
            Datagram::Harness(HarnessRequest::ReportState),
        );
        assert!(matches!(
            cmds.as_slice(),
            [Command::Send(_, Datagram::HarnessReply(HarnessReply::State { state, handled: 0, sent: 0 }))]
                if **state == ServerState::fresh()
        ));
    }

    /// The report counts protocol datagrams and fired timers, not the reports themselves.
    #[test]
    fn a_report_counts_what_can_change_the_state() {
        let h = host(Mode::Conformance);
        let mut o = Out::new();
        let mut state = Cow::Owned(h.on_start(Id::from(0), &None, &mut o));
        for d in [
            Datagram::Protocol(Msg::Api(ApiMsg::GetLog)),
            Datagram::Harness(HarnessRequest::ReportState),
            Datagram::Harness(HarnessRequest::FireTimer {
                timer: Timer::Round,
            }),
            Datagram::Protocol(Msg::Api(ApiMsg::GetLog)),
        ] {
            h.on_msg(Id::from(0), &mut state, Id::from(9), d, &mut Out::new());
        }
        let mut o = Out::new();
        let report = Datagram::Harness(HarnessRequest::ReportState);
        h.on_msg(Id::from(0), &mut state, Id::from(9), report, &mut o);
        assert!(matches!(
            o.into_iter().collect::<Vec<_>>().as_slice(),
            [Command::Send(
                _,
                Datagram::HarnessReply(HarnessReply::State {
                    handled: 3,
                    sent: 2,
                    ..
                })
            )]
        ));
    }

    #[test]
    fn protocol_datagrams_reach_the_server_unchanged() {
        let (_, cmds) = deliver(
            &host(Mode::Normal),
            Datagram::Protocol(Msg::Api(ApiMsg::GetLog)),
        );
        assert!(matches!(
            cmds.as_slice(),
            [Command::Send(dst, Datagram::Protocol(Msg::Api(_)))] if *dst == Id::from(9)
        ));
    }
}
