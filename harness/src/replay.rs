//! Replaying a model trace on real servers, step by step.
//!
//! A [`Session`] starts one `paxchain server --conformance` process per server of a model
//! configuration, each in its own data directory, behind the harness's [`Relay`]. It then
//! walks the trace alongside the model:
//!
//! 1. The model takes the step (a step it cannot take is a broken trace, not a difference).
//! 2. The harness does the same to the real cluster: a delivery sends the held datagram on
//!    (and keeps it, on a duplicating network); a loss forgets it; a server's timer is fired
//!    by a harness request; a crash is a SIGKILL; a recovery restarts the process on its
//!    data directory. A client's step needs nothing real: the clients are the model's
//!    scripted clients, whose requests the harness sends as the model says.
//! 3. Every running server reports its state. A server handles datagrams one at a time and
//!    in arrival order, so its report comes after the step's datagram is handled and after
//!    everything that step sent is on its way; on loopback, sent means arrived. The harness
//!    then collects what arrived. No fixed sleep is needed anywhere.
//!    Arrival order is not send order, though, when the two come from different sockets and
//!    the machine is loaded: loopback queues a datagram on the sending CPU, and the
//!    harness's thread can move to another between the delivery and the request. So a
//!    report says how many deliveries and fired timers the server has handled, and the
//!    harness asks again until that is all it sent. The same holds the other way, for what
//!    a server sends before its report: the report says how many it sent, and the harness
//!    collects until they have all arrived.
//! 4. Each running server's state is compared with the model's, then the datagrams in
//!    flight with the model's network ([`crate::compare`]). The first difference ends the
//!    replay.
//!
//! The model is built without its reductions ([`model`]): reduction 4 takes out of the
//! network messages that will only ever be ignored, which real datagrams cannot imitate.
//! So a trace of the reduced model may, on FIFO links, deliver a message that waits here
//! behind one of those: the replay then delivers the ignored one first, as a step of its
//! own, which changes nothing on either side (`Session::ignored_ahead`).

use crate::compare::{self, Difference, Links};
use crate::relay::Relay;
use crate::HarnessError;
use paxchain::{Account, ServerState, Storage};
use paxchain_deploy::cluster::Cluster;
use paxchain_deploy::conformance::{HarnessReply, HarnessRequest};
use paxchain_deploy::demo::Demo;
use paxchain_deploy::storage;
use paxchain_model::trace::Step;
use paxchain_model::{BankModel, BankState, ModelConfig, NetworkKind, NodeState};
use stateright::actor::{Actor as _, Id, Network};
use stateright::{Expectation, Model};
use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timer durations for the servers: long enough never to fire during a replay.
const NEVER_MS: u64 = 1_000_000_000;

/// The model a replay follows: `cfg` without reductions.
pub fn model(cfg: &ModelConfig) -> BankModel {
    paxchain_model::build(&ModelConfig {
        reduce: false,
        ..cfg.clone()
    })
}

/// How long to wait for a server to start or answer, unless told otherwise.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// How to run the real servers.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The `paxchain` binary.
    pub exe: PathBuf,
    /// Each session's cluster file and data directories go in a directory under this one.
    pub dir: PathBuf,
    /// How long to wait for a server to start or to answer.
    pub patience: Duration,
}

impl Replay {
    /// Servers from `exe`, their files under `dir`, waited on for [`PATIENCE`].
    pub fn new(exe: PathBuf, dir: PathBuf) -> Replay {
        Replay {
            exe,
            dir,
            patience: PATIENCE,
        }
    }
}

/// What a replayed trace showed.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Steps replayed (up to and including the one that showed a difference).
    pub steps: usize,
    /// The first difference, if any.
    pub difference: Option<Difference>,
    /// Per `always` property, the first step after which the model's states break it.
    pub model_breaks: BTreeMap<&'static str, usize>,
    /// The same, evaluated on the states read back from the real servers.
    pub real_breaks: BTreeMap<&'static str, usize>,
    /// Wall time of the steps (not of starting the servers).
    pub elapsed: Duration,
    /// The slowest step's wall time.
    pub slowest: Duration,
}

/// Whether server `s`'s count of `what` has reached `want` (`got`); an error if it went past,
/// or is still short at `deadline`.
fn count_reached(
    s: usize,
    got: u64,
    want: u64,
    deadline: Instant,
    what: &str,
) -> Result<bool, HarnessError> {
    if got == want {
        return Ok(true);
    }
    if got > want || Instant::now() >= deadline {
        return Err(HarnessError::Server {
            server: Account::of_server(s).to_string(),
            why: format!("{what}: {got}, where {want} were sent"),
        });
    }
    Ok(false)
}

/// A server's answer to `ReportState`: its state, how many datagrams and fired timers it
/// has handled and how many datagrams it has sent, since it started.
struct Report {
    state: ServerState,
    handled: u64,
    sent: u64,
}

/// A running cluster and the model state it must match.
pub struct Session {
    model: BankModel,
    relay: Relay,
    procs: Demo,
    patience: Duration,
    /// The model's state after the steps so far.
    state: BankState,
    /// Each server's state as it last reported it (model ids); `None` while it is down.
    real: Vec<Option<ServerState>>,
    /// What each server's disk holds (`None`: nothing saved yet), and
    /// the log's inode and length when it was read: a save appends, a compaction replaces.
    disk: Vec<Option<Storage>>,
    disk_key: Vec<Option<(u64, u64)>>,
    /// Steps taken so far.
    taken: usize,
}

impl Session {
    /// Starts the servers of `model` (see [`model`]) under `how.dir/name`, and checks that
    /// they start where the model does. A server that cannot bind its port (another process
    /// took it between choosing and binding) is retried on new ports.
    pub fn start(
        model: &BankModel,
        how: &Replay,
        name: &str,
    ) -> Result<(Session, Option<Difference>), HarnessError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Session::launch(model, how, name) {
                Err(HarnessError::Exited { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e),
                Ok(mut session) => {
                    let first = session.observe(0, "the initial state")?;
                    return Ok((session, first));
                }
            }
        }
    }

    fn launch(model: &BankModel, how: &Replay, name: &str) -> Result<Session, HarnessError> {
        let cfg = &model.cfg;
        let mut relay = Relay::new(model.actors.len(), cfg.servers)?;
        relay.attacker = cfg.attacker;
        let mut cluster = Cluster::local(cfg.servers, 0, cfg.initial_balance);
        cluster.round_timeout_ms = NEVER_MS;
        cluster.gather_timeout_ms = NEVER_MS;
        cluster.flush_timeout_us = NEVER_MS * 1_000;
        cluster.variant = cfg.variant;
        cluster.max_round = Some(cfg.max_round);
        cluster.max_block = Some(cfg.max_block);
        for (i, entry) in cluster.servers.iter_mut().enumerate() {
            entry.addr = relay.addr(i);
            entry.bind = Some(relay.listen_addr(i));
        }
        cluster
            .validate()
            .map_err(|e| HarnessError::Config(e.to_string()))?;
        let dir = how.dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let procs = Demo::launch(&how.exe, &dir, cluster, vec!["--conformance".into()], true)?;
        let state = model
            .init_states()
            .into_iter()
            .next()
            .expect("a model has an initial state");
        let mut session = Session {
            model: model.clone(),
            relay,
            procs,
            patience: how.patience,
            state,
            real: vec![None; cfg.servers],
            disk: vec![None; cfg.servers],
            disk_key: vec![None; cfg.servers],
            taken: 0,
        };
        for s in 0..cfg.servers {
            session.await_up(s)?;
        }
        Ok(session)
    }

    /// Plays `steps` from where the session is (steps are numbered on from there) until
    /// the first difference.
    pub fn run(&mut self, steps: &[Step]) -> Result<Run, HarnessError> {
        let mut run = Run::default();
        let started = Instant::now();
        self.note_breaks(self.taken, &mut run);
        for step in steps {
            self.taken += 1;
            run.steps += 1;
            let began = Instant::now();
            let difference = self.step(self.taken, step)?;
            run.slowest = run.slowest.max(began.elapsed());
            if difference.is_some() {
                run.difference = difference;
                break;
            }
            self.note_breaks(self.taken, &mut run);
        }
        run.elapsed = started.elapsed();
        Ok(run)
    }

    /// The model's state after the steps so far.
    pub fn model_state(&self) -> &BankState {
        &self.state
    }

    /// Rewrites the durable state on server `s`'s disk while it is down: a disk that loses
    /// or damages what was saved. The model knows nothing of it, so the restart should show
    /// a difference.
    pub fn damage_storage(
        &mut self,
        s: usize,
        f: impl FnOnce(&mut Storage),
    ) -> Result<(), HarnessError> {
        assert!(
            self.state.crashed[s],
            "storage is damaged only while its server is down"
        );
        let dir = self.procs.data_dir(s);
        let bad = |e: storage::StoreError| HarnessError::Config(e.to_string());
        let mut stored = storage::read(&dir).map_err(bad)?.unwrap_or_default();
        f(&mut stored);
        storage::overwrite(&dir, &stored).map_err(bad)?;
        Ok(())
    }

    /// The model's state with each running server's state replaced by the one it reported,
    /// and each server's last save by what its disk holds: what the properties see of the
    /// real cluster.
    pub fn real_state(&self) -> BankState {
        let mut s = self.state.clone();
        for (i, real) in self.real.iter().enumerate() {
            if let Some(real) = real {
                s.actor_states[i] = Arc::new(NodeState::from(real.clone()));
            }
        }
        for (i, disk) in self.disk.iter().enumerate() {
            s.actor_storages[i] = disk.clone();
        }
        s
    }

    /// Reads what server `s`'s disk holds, if the file changed since the last read. It is
    /// parsed as it was written; a restart's own checks (a chain that links) are not
    /// applied, because the `literal` variant saves chains that do not.
    fn read_disk(&mut self, s: usize) -> Result<(), HarnessError> {
        use std::os::unix::fs::MetadataExt;
        let dir = self.procs.data_dir(s);
        let path = dir.join(storage::FILE);
        // The log grows by appending and is replaced when compacted: its inode and length
        // together change whenever what it holds does.
        let key = match std::fs::metadata(&path) {
            Ok(m) => Some((m.ino(), m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(HarnessError::Io(e)),
        };
        if key == self.disk_key[s] {
            return Ok(());
        }
        self.disk[s] = storage::read(&dir).map_err(|e| HarnessError::Server {
            server: Account::of_server(s).to_string(),
            why: format!("saved an unreadable log: {e}"),
        })?;
        self.disk_key[s] = key;
        Ok(())
    }

    /// For a delivery on FIFO links whose message is not at the head of its flow: the
    /// head, if its receiver ignores it for good (the rule of reduction 4, and the real
    /// handler does nothing with it), as a delivery of its own.
    fn ignored_ahead(&self, step: &Step) -> Option<Step> {
        let Step::Deliver { src, dst, msg } = step else {
            return None;
        };
        let Network::Ordered(flows) = &self.state.network else {
            return None;
        };
        let flow = flows.get(&(Id::from(*src), Id::from(*dst)))?;
        let head = flow
            .front()
            .filter(|&head| head != msg && flow.contains(msg))?;
        let receiver = &self.state.actor_states[*dst];
        paxchain_model::bank_model::dropped_as_ignored(
            &self.model,
            receiver,
            Id::from(*src),
            Id::from(*dst),
            head,
        )
        .then(|| Step::Deliver {
            src: *src,
            dst: *dst,
            msg: head.clone(),
        })
    }

    fn note_breaks(&self, step: usize, run: &mut Run) {
        let real = self.real_state();
        for p in self.model.properties() {
            if p.expectation != Expectation::Always {
                continue;
            }
            if !(p.condition)(&self.model, &self.state) {
                run.model_breaks.entry(p.name).or_insert(step);
            }
            if !(p.condition)(&self.model, &real) {
                run.real_breaks.entry(p.name).or_insert(step);
            }
        }
    }

    /// Step `n`: the model takes it, the cluster does it, then they are compared.
    fn step(&mut self, n: usize, step: &Step) -> Result<Option<Difference>, HarnessError> {
        let what = step.describe(&self.model);
        let action = step.to_action();
        let next = self
            .model
            .next_steps(&self.state)
            .into_iter()
            .find(|(a, _)| *a == action)
            .map(|(_, s)| s);
        let Some(next) = next else {
            // A trace of the reduced model may deliver a message that, on these unreduced
            // FIFO links, waits behind one its receiver ignores for good (reduction 4 took
            // that one out): deliver the ignored one first, as a step of its own.
            let Some(ahead) = self.ignored_ahead(step) else {
                return Err(HarnessError::NotAStep { step: n, what });
            };
            if let Some(difference) = self.step(n, &ahead)? {
                return Ok(Some(difference));
            }
            return self.step(n, step);
        };
        let servers = self.model.cfg.servers;
        let duplicating = self.model.cfg.network == NetworkKind::Duplicating;
        match step {
            Step::Deliver { src, dst, msg } => match self.relay.find(*src, *dst, msg) {
                Some(i) => self.relay.deliver(i, duplicating)?,
                None => {
                    return Ok(Some(Difference {
                        step: n,
                        what,
                        place: format!("network, {}", self.link(*src, *dst)),
                        model: format!("{msg} in flight"),
                        real: "no such datagram in flight".into(),
                    }))
                }
            },
            Step::Drop { src, dst, msg } => {
                // A duplicating network holds a message once, however often it was sent.
                while let Some(i) = self.relay.find(*src, *dst, msg) {
                    self.relay.held.remove(i);
                    if !duplicating {
                        break;
                    }
                }
            }
            Step::Timeout { actor, timer } if *actor < servers => {
                let timer = timer.clone();
                self.relay
                    .tell(*actor, HarnessRequest::FireTimer { timer })?;
            }
            Step::Timeout { .. } => {} // a client's: the model's client resends
            Step::Crash { actor } => {
                self.procs.kill(*actor);
                self.real[*actor] = None;
            }
            Step::Recover { actor } => {
                self.procs.restart(*actor)?;
                self.relay.restarted(*actor);
                match self.await_up(*actor) {
                    // The model's server restarts; a real one that refuses to is a difference.
                    Err(HarnessError::Exited {
                        status, last_words, ..
                    }) => {
                        return Ok(Some(Difference {
                            step: n,
                            what,
                            place: format!("server {}, restart", Account::of_server(*actor)),
                            model: "restarts from its storage".into(),
                            real: format!("exited ({status}): {last_words}"),
                        }));
                    }
                    other => other?,
                }
            }
        }
        self.state = next;
        self.observe(n, &what)
    }

    /// Reads every running server's state and what is in flight, and compares them with
    /// the model's.
    fn observe(&mut self, n: usize, what: &str) -> Result<Option<Difference>, HarnessError> {
        let servers = self.model.cfg.servers;
        let mut sent = vec![0; servers];
        for (s, sent) in sent.iter_mut().enumerate() {
            if !self.state.crashed[s] {
                let report = self.report_all_handled(s)?;
                self.real[s] = Some(report.state);
                *sent = report.sent;
            }
        }
        for s in 0..servers {
            self.read_disk(s)?;
        }
        self.collect_all_sent(&sent)?;
        self.sync_clients();
        let diff = |place: String, model: String, real: String| Difference {
            step: n,
            what: what.to_string(),
            place,
            model,
            real,
        };
        for s in 0..servers {
            let (Some(real), Some(model)) = (&self.real[s], self.state.actor_states[s].server())
            else {
                continue;
            };
            if let Some((field, m, r)) = compare::server_state(model, real) {
                let place = format!("server {}, {field}", Account::of_server(s));
                return Ok(Some(diff(place, m, r)));
            }
        }
        for s in 0..servers {
            let model = &self.state.actor_storages[s];
            if let Some((field, m, r)) = compare::saved(model, &self.disk[s]) {
                let place = format!("server {}'s disk, {field}", Account::of_server(s));
                return Ok(Some(diff(place, m, r)));
            }
        }
        let kind = self.model.cfg.network;
        let model_links = compare::model_links(&self.state.network, servers, kind);
        let mut real_links = Links::new();
        for h in self.relay.held.iter().filter(|h| h.src < servers) {
            real_links
                .entry((h.src, h.dst))
                .or_default()
                .push(h.msg.clone());
        }
        let real_links = compare::normalize(real_links, kind);
        if let Some(((src, dst), m, r)) = compare::links(&model_links, &real_links) {
            let show = |l: Vec<paxchain::Msg>| {
                let items: Vec<String> = l.iter().map(|m| m.to_string()).collect();
                format!("[{}]", items.join(", "))
            };
            let place = format!("network, {}", self.link(src, dst));
            return Ok(Some(diff(place, show(m), show(r))));
        }
        Ok(None)
    }

    /// The clients' requests in flight are the model's: hold what the model's clients have
    /// sent and the harness does not hold yet, forget what the model no longer has.
    fn sync_clients(&mut self) {
        let servers = self.model.cfg.servers;
        let mut wanted = compare::envelopes(&self.state.network);
        wanted.retain(|e| usize::from(e.src) >= servers);
        self.relay.held.retain(|h| {
            if h.src < servers {
                return true;
            }
            let found = wanted.iter().position(|e| {
                usize::from(e.src) == h.src && usize::from(e.dst) == h.dst && e.msg == h.msg
            });
            found.map(|i| wanted.remove(i)).is_some()
        });
        for e in wanted {
            self.relay.hold(e.src.into(), e.dst.into(), e.msg);
        }
    }

    /// Server `s`'s report once it has handled every datagram sent to it (3. above).
    fn report_all_handled(&self, s: usize) -> Result<Report, HarnessError> {
        let deadline = Instant::now() + self.patience;
        let sent = self.relay.sent_to(s);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let report = self.report(s, left)?.ok_or_else(|| self.down(s))?;
            let what = "datagrams and timers handled";
            if count_reached(s, report.handled, sent, deadline, what)? {
                return Ok(report);
            }
            // One is still on its way: ask again (a later request arrives later still).
            std::thread::yield_now();
        }
    }

    /// Holds what the servers sent, once every datagram each running server says it sent
    /// (`sent`, by server) has arrived (3. above).
    fn collect_all_sent(&mut self, sent: &[u64]) -> Result<(), HarnessError> {
        let deadline = Instant::now() + self.patience;
        loop {
            self.relay.collect()?;
            let mut all = true;
            for s in (0..sent.len()).filter(|&s| !self.state.crashed[s]) {
                let got = self.relay.received_from(s);
                all &= count_reached(s, got, sent[s], deadline, "datagrams received from it")?;
            }
            if all {
                return Ok(());
            }
            std::thread::yield_now();
        }
    }

    /// Server `s`'s state (in model ids) and counts, if it answers within `wait`.
    fn report(&self, s: usize, wait: Duration) -> Result<Option<Report>, HarnessError> {
        match self.relay.ask(s, HarnessRequest::ReportState, wait)? {
            None => Ok(None),
            Some(HarnessReply::Refused { reason }) => Err(HarnessError::Server {
                server: Account::of_server(s).to_string(),
                why: format!("refused to report its state: {reason}"),
            }),
            Some(HarnessReply::State {
                state,
                handled,
                sent,
            }) => {
                let mut state = *state;
                // Model ids: a client is its actor index.
                for w in state.waiting.values_mut().chain(state.staged.iter_mut()) {
                    let addr = SocketAddrV4::from(w.client);
                    if let Some(a) = self.relay.actor_at(addr) {
                        w.client = Id::from(a);
                    }
                }
                Ok(Some(Report {
                    state,
                    handled,
                    sent,
                }))
            }
        }
    }

    /// Waits until server `s` answers, or it has died or the patience has run out.
    fn await_up(&mut self, s: usize) -> Result<(), HarnessError> {
        let deadline = Instant::now() + self.patience;
        while Instant::now() < deadline {
            if let Some(report) = self.report(s, Duration::from_micros(500))? {
                self.real[s] = Some(report.state);
                return Ok(());
            }
            if let Some(status) = self.procs.exited(s) {
                return Err(HarnessError::Exited {
                    server: Account::of_server(s).to_string(),
                    status,
                    last_words: self.procs.last_words(s),
                });
            }
        }
        Err(self.down(s))
    }

    fn down(&self, s: usize) -> HarnessError {
        HarnessError::Server {
            server: Account::of_server(s).to_string(),
            why: format!("did not answer within {:?}", self.patience),
        }
    }

    fn link(&self, src: usize, dst: usize) -> String {
        format!(
            "{} → {}",
            self.model.actors[src].name(),
            self.model.actors[dst].name()
        )
    }

    /// The directory of this session's cluster file and data.
    pub fn dir(&self) -> &std::path::Path {
        &self.procs.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_waited_for_until_it_is_reached_and_never_past_it() {
        let later = Instant::now() + Duration::from_secs(60);
        assert!(count_reached(0, 3, 3, later, "x").expect("reached"));
        assert!(!count_reached(0, 2, 3, later, "x").expect("still on its way"));
        let past = count_reached(1, 4, 3, later, "datagrams").expect_err("more than sent");
        assert!(
            past.to_string().contains("datagrams: 4, where 3 were sent"),
            "{past}"
        );
        let now = Instant::now();
        assert!(
            count_reached(0, 2, 3, now, "x").is_err(),
            "short at the deadline"
        );
    }
}
