//! The torture run's network: every datagram between servers, and between clients and
//! servers, passes through one relay thread, and the current [`Policy`] decides what
//! becomes of it: lost, duplicated, delayed (and so reordered), or cut by a partition.
//!
//! Each server listens at its cluster entry's `bind` address; its `addr`, which peers and
//! clients know, is a relay socket. A datagram from server `i`'s listening address arriving
//! at relay socket `j` goes on from relay socket `i` to `j`'s listening address, so `j` sees
//! it come from `i`. A datagram from anywhere else is a client's: it goes on from a relay
//! socket kept for that client, and the server's answers to that socket go back to the
//! client from the server's relay socket. Servers and clients run unchanged.

use crate::cluster::Cluster;
use crate::demo::free_ports;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The last peer datagram the relay carried between each pair of servers: its bytes, by
/// its sender's and receiver's indices.
type Captured = BTreeMap<(usize, usize), Vec<u8>>;

/// What the network does to datagrams now. The fault schedule changes it as it goes.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub dup: f64,
    /// Each copy is held for a random time up to this (0: sent at once, in order).
    pub max_delay: Duration,
    /// Server pairs `(a, b)`, `a < b`, that cannot reach each other either way.
    pub cut: BTreeSet<(usize, usize)>,
}

impl Policy {
    /// Whether servers `a` and `b` are partitioned from each other.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }
}

/// What the network did, counted.
#[derive(Debug, Default)]
pub struct Counters {
    pub forwarded: AtomicU64,
    pub lost: AtomicU64,
    pub duplicated: AtomicU64,
    pub cut: AtomicU64,
}

/// The running relay.
pub struct FaultNet {
    pub policy: Arc<Mutex<Policy>>,
    pub counters: Arc<Counters>,
    /// The last peer datagram the relay carried between each pair of servers, for an
    /// attacker to replay to another server.
    captured: Arc<Mutex<Captured>>,
    /// Relay socket `i`, cloned: a datagram sent from it looks like one from server `i`.
    forgers: Vec<UdpSocket>,
    listen: Vec<SocketAddrV4>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A datagram waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    /// Which socket sends it: relay socket `i` (`Ok(i)`) or client socket `k` (`Err(k)`).
    from: Result<usize, usize>,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Due) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    /// Reversed: the earliest is the greatest, for a max-heap.
    fn cmp(&self, o: &Due) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

fn bind_loopback() -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl FaultNet {
    /// Binds a relay socket for each server of `cluster`, rewrites its entries (`addr`: the
    /// relay socket, `bind`: a free port for the server) and starts relaying.
    pub fn start(cluster: &mut Cluster, seed: u64) -> std::io::Result<FaultNet> {
        let n = cluster.servers.len();
        let relay: Vec<UdpSocket> = (0..n).map(|_| bind_loopback()).collect::<Result<_, _>>()?;
        let ports = free_ports(n)?;
        let mut listen = Vec::new();
        for ((entry, socket), port) in cluster.servers.iter_mut().zip(&relay).zip(ports) {
            entry.addr = match socket.local_addr()? {
                SocketAddr::V4(a) => a,
                SocketAddr::V6(_) => unreachable!("bound on IPv4 loopback"),
            };
            entry.bind = Some(SocketAddrV4::new([127, 0, 0, 1].into(), port));
            listen.push(entry.listen_addr());
        }
        let forgers = relay
            .iter()
            .map(UdpSocket::try_clone)
            .collect::<Result<_, _>>()?;
        let policy = Arc::new(Mutex::new(Policy::default()));
        let counters = Arc::new(Counters::default());
        let captured = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut worker = Worker {
            relay,
            listen: listen.clone(),
            clients: Vec::new(),
            by_client: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: StdRng::seed_from_u64(seed),
            policy: policy.clone(),
            counters: counters.clone(),
            captured: captured.clone(),
        };
        let flag = stop.clone();
        let thread = std::thread::spawn(move || worker.run(&flag));
        Ok(FaultNet {
            policy,
            counters,
            captured,
            forgers,
            listen,
            stop,
            thread: Some(thread),
        })
    }

    /// Sends `bytes` to server `to` as if from server `from` (garbage, or a forged message).
    pub fn forge(&self, from: usize, to: usize, bytes: &[u8]) {
        let _ = self.forgers[from].send_to(bytes, self.listen[to]);
    }

    /// Sends server `to` a captured peer datagram, from its sender's address, that was
    /// sealed for another server (`pick` chooses among them). False if none was captured.
    pub fn replay_to(&self, to: usize, pick: usize) -> bool {
        let captured = self.captured.lock().expect("never poisoned");
        let others: Vec<(&(usize, usize), &Vec<u8>)> =
            captured.iter().filter(|((_, j), _)| *j != to).collect();
        let Some(&(&(from, _), bytes)) = others.get(pick % others.len().max(1)) else {
            return false;
        };
        self.forge(from, to, bytes);
        true
    }
}

impl Drop for FaultNet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The relay thread's own state.
struct Worker {
    relay: Vec<UdpSocket>,
    listen: Vec<SocketAddrV4>,
    /// Per client: its real address, and the relay socket the servers see it as.
    clients: Vec<(SocketAddr, UdpSocket)>,
    by_client: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Due>,
    seq: u64,
    rng: StdRng,
    policy: Arc<Mutex<Policy>>,
    counters: Arc<Counters>,
    captured: Arc<Mutex<Captured>>,
}

impl Worker {
    fn run(&mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let mut busy = false;
            for j in 0..self.relay.len() {
                while let Ok((len, src)) = self.relay[j].recv_from(&mut buf) {
                    busy = true;
                    self.inbound(j, src, buf[..len].to_vec());
                }
            }
            for k in 0..self.clients.len() {
                while let Ok((len, src)) = self.clients[k].1.recv_from(&mut buf) {
                    busy = true;
                    let Some(i) = self.server_at(src) else {
                        continue;
                    };
                    let to = self.clients[k].0;
                    self.admit(Ok(i), to, None, buf[..len].to_vec());
                }
            }
            busy |= self.send_due();
            if !busy {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn server_at(&self, src: SocketAddr) -> Option<usize> {
        match src {
            SocketAddr::V4(a) => self.listen.iter().position(|l| *l == a),
            SocketAddr::V6(_) => None,
        }
    }

    /// A datagram that arrived at relay socket `j` from `src`: a peer's or a client's.
    fn inbound(&mut self, j: usize, src: SocketAddr, bytes: Vec<u8>) {
        let to = SocketAddr::V4(self.listen[j]);
        if let Some(i) = self.server_at(src) {
            (self.captured.lock().expect("never poisoned")).insert((i, j), bytes.clone());
            self.admit(Ok(i), to, Some((i, j)), bytes);
            return;
        }
        let k = match self.by_client.get(&src) {
            Some(&k) => k,
            None => {
                let Ok(socket) = bind_loopback() else {
                    return;
                };
                self.clients.push((src, socket));
                self.by_client.insert(src, self.clients.len() - 1);
                self.clients.len() - 1
            }
        };
        self.admit(Err(k), to, None, bytes);
    }

    /// Applies the policy to one datagram; `link`: the two servers, for a peer message.
    fn admit(
        &mut self,
        from: Result<usize, usize>,
        to: SocketAddr,
        link: Option<(usize, usize)>,
        bytes: Vec<u8>,
    ) {
        let p = self
            .policy
            .lock()
            .expect("the relay never panics holding it")
            .clone();
        if link.is_some_and(|(a, b)| p.is_cut(a, b)) {
            self.counters.cut.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.rng.random_bool(p.loss) {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let copies = if self.rng.random_bool(p.dup) {
            self.counters.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if p.max_delay.is_zero() {
                Duration::ZERO
            } else {
                p.max_delay.mul_f64(self.rng.random::<f64>())
            };
            self.seq += 1;
            self.queue.push(Due {
                at: Instant::now() + delay,
                seq: self.seq,
                from,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    /// Sends every datagram whose time has come; whether any was.
    fn send_due(&mut self) -> bool {
        let now = Instant::now();
        let mut sent = false;
        while self.queue.peek().is_some_and(|d| d.at <= now) {
            let d = self.queue.pop().expect("peeked");
            let socket = match d.from {
                Ok(i) => &self.relay[i],
                Err(k) => &self.clients[k].1,
            };
            let _ = socket.send_to(&d.bytes, d.to);
            self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            sent = true;
        }
        sent
    }
}
