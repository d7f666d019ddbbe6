//! The torture run's fault schedule: seeded, one fault at a time, every enabled kind once
//! per cycle in a shuffled order. Each fault is injected, held for half a second to two
//! seconds, then healed, and the cluster runs clean for a moment before the next. One
//! fault at a time keeps at most one server down (f >= 1), except `crash-all`, which is
//! meant to take them all.

use super::net::{FaultNet, Policy};
use crate::demo::Demo;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A kind of fault the schedule can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL up to `max_down` servers, the current leader first half the time; restart
    /// them from their data directories when healed.
    Kill,
    /// SIGSTOP one server; SIGCONT when healed.
    Pause,
    /// SIGKILL every server; restart them all when healed.
    CrashAll,
    /// Lose 20% of datagrams.
    Loss,
    /// Deliver 20% of datagrams twice.
    Dup,
    /// Hold each datagram up to 50 ms.
    Delay,
    /// Hold each datagram up to 5 ms: enough to reorder, not to time out.
    Reorder,
    /// Cut the servers into a minority and a majority.
    Partition,
    /// Send servers random bytes from their peers' addresses.
    Garbage,
    /// Send each server, in turn, every well-formed forgery an attacker without keys can
    /// make (unsealed and wrongly sealed peer messages, captured peer datagrams replayed to
    /// it, transfers their owners did not sign), and record what it refused and counted
    /// (`super::forge`).
    Forge,
}

/// Every fault kind, as `--faults` names them.
pub const ALL: [Fault; 10] = [
    Fault::Kill,
    Fault::Pause,
    Fault::CrashAll,
    Fault::Loss,
    Fault::Dup,
    Fault::Delay,
    Fault::Reorder,
    Fault::Partition,
    Fault::Garbage,
    Fault::Forge,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::CrashAll => "crash-all",
            Fault::Loss => "loss",
            Fault::Dup => "dup",
            Fault::Delay => "delay",
            Fault::Reorder => "reorder",
            Fault::Partition => "partition",
            Fault::Garbage => "garbage",
            Fault::Forge => "forge",
        }
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|f| f.name()).collect();
            format!("unknown fault {s:?}; the faults are {}", names.join(", "))
        })
    }
}

/// One injected fault, for the summary and the history.
#[derive(Clone, Debug, Serialize)]
pub struct Injected {
    pub fault: Fault,
    /// Which servers it hit, by account letter ("" for the whole network).
    pub target: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A server restarted after a kill: when, and how many ballot rounds the servers that
/// stayed up went through while it was down (a restarted server must not need a round
/// timeout for each).
#[derive(Clone, Debug, Serialize)]
pub struct Restart {
    pub server: paxchain::Account,
    pub at_ms: u64,
    /// `None` when it could not be read (a server that did not answer its status).
    pub ballots_missed: Option<u32>,
}

/// The schedule's state between steps.
pub struct Schedule {
    rng: StdRng,
    /// Faults started per minute.
    rate: f64,
    /// The most servers one `kill` takes down.
    max_down: usize,
    faults: Vec<Fault>,
    /// The kinds still to come in this cycle.
    cycle: Vec<Fault>,
    /// The fault in force, if any, and when it heals.
    current: Option<(Injected, Instant)>,
    /// Servers killed or paused by the current fault, with (for a kill) the ballot round
    /// each had promised when it went down.
    down: Vec<usize>,
    rounds_at_kill: Vec<Option<u32>>,
    next_at: Instant,
    pub done: Vec<Injected>,
    pub restarts: Vec<Restart>,
    /// What each `forge` fault sent each server, and what the server did with it.
    pub forgeries: Vec<super::forge::Forgery>,
}

impl Schedule {
    /// A schedule of `faults`, `rate` a minute, a `kill` taking at most `max_down` servers.
    pub fn new(seed: u64, faults: Vec<Fault>, rate: f64, max_down: usize) -> Schedule {
        Schedule {
            rng: StdRng::seed_from_u64(seed ^ 0xfa17),
            rate: rate.max(0.1),
            max_down: max_down.max(1),
            faults,
            cycle: Vec::new(),
            current: None,
            down: Vec::new(),
            rounds_at_kill: Vec::new(),
            restarts: Vec::new(),
            forgeries: Vec::new(),
            next_at: Instant::now() + Duration::from_millis(500),
            done: Vec::new(),
        }
    }

    /// Servers down now (killed or paused).
    pub fn down(&self) -> usize {
        self.down.len()
    }

    /// Injects or heals whatever is due at `now`.
    pub fn tick(&mut self, now: Instant, t0: Instant, demo: &mut Demo, net: &FaultNet) {
        if let Some((_, until)) = &self.current {
            if now >= *until {
                self.heal(demo, net, t0);
                self.next_at = now + self.period().mul_f64(self.rng.random_range(0.1..0.4));
            }
            return;
        }
        if now < self.next_at || self.faults.is_empty() {
            return;
        }
        if self.cycle.is_empty() {
            // Every kind once per cycle, in a fresh order: a short run still sees them all.
            self.cycle = self.faults.clone();
            self.cycle.shuffle(&mut self.rng);
        }
        let fault = self.cycle.pop().expect("refilled above");
        let target = self.inject(fault, demo, net);
        let hold = self.period().mul_f64(self.rng.random_range(0.4..1.2));
        let start_ms = t0.elapsed().as_millis() as u64;
        let injected = Injected {
            fault,
            target,
            start_ms,
            end_ms: start_ms,
        };
        self.current = Some((injected, now + hold));
    }

    /// The mean time from one fault's start to the next's.
    fn period(&self) -> Duration {
        Duration::from_secs_f64(60.0 / self.rate)
    }

    fn inject(&mut self, fault: Fault, demo: &mut Demo, net: &FaultNet) -> String {
        let n = demo.cluster.servers.len();
        let one = self.rng.random_range(0..n);
        let mut policy = Policy::default();
        match fault {
            Fault::Kill => {
                let k = self.rng.random_range(1..=self.max_down.min(n));
                let mut victims = if self.rng.random_bool(0.5) {
                    leader(demo).into_iter().collect()
                } else {
                    Vec::new()
                };
                while victims.len() < k {
                    let v = self.rng.random_range(0..n);
                    if !victims.contains(&v) {
                        victims.push(v);
                    }
                }
                self.rounds_at_kill = victims.iter().map(|&v| promised_round(demo, v)).collect();
                for &v in &victims {
                    demo.kill(v);
                }
                self.down = victims;
            }
            Fault::Pause => {
                demo.pause(one);
                self.down = vec![one];
            }
            Fault::CrashAll => {
                self.rounds_at_kill = (0..n).map(|i| promised_round(demo, i)).collect();
                for i in 0..n {
                    demo.kill(i);
                }
                self.down = (0..n).collect();
            }
            Fault::Loss => policy.loss = 0.2,
            Fault::Dup => policy.dup = 0.2,
            Fault::Delay => policy.max_delay = Duration::from_millis(50),
            Fault::Reorder => policy.max_delay = Duration::from_millis(5),
            Fault::Partition => {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by_key(|_| self.rng.random::<u32>());
                let minority = &order[..(n - 1) / 2];
                for &a in minority {
                    for &b in &order[(n - 1) / 2..] {
                        policy.cut.insert((a.min(b), a.max(b)));
                    }
                }
                let cut_off = letters(minority);
                *net.policy
                    .lock()
                    .expect("the relay never panics holding it") = policy;
                return cut_off;
            }
            Fault::Garbage => {
                for _ in 0..20 {
                    let (from, to) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
                    let len = self.rng.random_range(0..200);
                    let bytes: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
                    net.forge(from, to, &bytes);
                }
                return String::new();
            }
            Fault::Forge => {
                for to in 0..n {
                    let round = u32::try_from(self.forgeries.len()).unwrap_or(u32::MAX);
                    self.forgeries
                        .push(super::forge::forge(demo, net, to, round));
                }
                return String::new();
            }
        }
        *net.policy
            .lock()
            .expect("the relay never panics holding it") = policy;
        letters(&self.down)
    }

    fn heal(&mut self, demo: &mut Demo, net: &FaultNet, t0: Instant) {
        *net.policy
            .lock()
            .expect("the relay never panics holding it") = Policy::default();
        let Some((mut injected, _)) = self.current.take() else {
            return;
        };
        let down = std::mem::take(&mut self.down);
        if injected.fault == Fault::Pause {
            down.iter().for_each(|&i| demo.resume(i));
        } else {
            // What the servers that stayed up went through while these were down.
            let n = demo.cluster.servers.len();
            let stayed_up = (0..n).filter(|i| !down.contains(i));
            let now = stayed_up.filter_map(|i| promised_round(demo, i)).max();
            let at_kill = std::mem::take(&mut self.rounds_at_kill);
            for (k, &i) in down.iter().enumerate() {
                let _ = demo.restart(i);
                let missed = match (now, at_kill.get(k).copied().flatten()) {
                    (Some(now), Some(then)) => Some(now.saturating_sub(then)),
                    // Every server was down: nobody ran a ballot.
                    (None, Some(_)) => Some(0),
                    _ => None,
                };
                self.restarts.push(Restart {
                    server: paxchain::Account::of_server(i),
                    at_ms: t0.elapsed().as_millis() as u64,
                    ballots_missed: missed,
                });
            }
        }
        injected.end_ms = t0.elapsed().as_millis() as u64;
        self.done.push(injected);
    }

    /// Heals whatever is in force now.
    pub fn heal_all(&mut self, demo: &mut Demo, net: &FaultNet, t0: Instant) {
        self.heal(demo, net, t0);
    }
}

/// The ballot server `i` has promised, as its status says (`None` if it does not answer at
/// once: down, paused or cut off).
fn promised(demo: &Demo, i: usize) -> Option<paxchain::Ballot> {
    let mut cluster = demo.cluster.clone();
    cluster.client_retries = 0;
    let asked = paxchain::Account::of_server(i);
    let c = crate::UdpClient::new(&cluster, asked).ok()?;
    match c.status(asked).ok()? {
        paxchain::ApiMsg::Status { promised, .. } => Some(promised),
        _ => None,
    }
}

fn promised_round(demo: &Demo, i: usize) -> Option<u32> {
    promised(demo, i).map(|b| b.round)
}

/// The server the cluster follows: the leader of the ballot server A has promised.
fn leader(demo: &Demo) -> Option<usize> {
    let ballot = promised(demo, 0).filter(|b| *b != paxchain::Ballot::ZERO)?;
    Some(usize::from(ballot.leader))
}

fn letters(servers: &[usize]) -> String {
    servers
        .iter()
        .map(|&i| paxchain::Account::of_server(i).to_string())
        .collect()
}
