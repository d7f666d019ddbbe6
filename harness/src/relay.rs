//! The network as the harness owns it: every datagram between servers, and between the
//! harness's clients and the servers, is held here until the trace delivers, drops or
//! re-delivers it.
//!
//! Each server has two addresses (see `bind` in the cluster file): the one its peers know
//! it by, which is a socket of this relay, and the one it listens on. Server `i` sends to
//! peer `j` at relay socket `j`; the relay knows the sender by its listening address and
//! holds the datagram as `(i, j)`. Delivering it sends the same bytes from relay socket `i`
//! to `j`'s listening address, so `j` sees it come from `i`'s known address. Clients are
//! relay sockets too: their datagrams go straight to a server's listening address, and the
//! server's answers come back to them and are held. Actors are named as in the model: servers
//! `0..n`, then the clients.
//!
//! The relay reads datagrams only to compare them with the model's messages: what it sends
//! is always the bytes it received. Servers seal their peer datagrams (conformance mode
//! runs with server keys); the relay reads the message inside and leaves the MAC to the
//! receiver. With the model's network attacker (model/src/attacker.rs), it is that
//! attacker too: each peer datagram a server sends is also held, the same bytes, for every
//! other server, as the model relays it, and the real receiver must drop it.

use crate::HarnessError;
use paxchain::Msg;
use paxchain_deploy::conformance::{HarnessReply, HarnessRequest};
use paxchain_deploy::demo::free_ports;
use paxchain_deploy::wire::{self, Datagram};
use paxchain_model::attacker::relays_of;
use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// A datagram the relay holds.
#[derive(Clone, Debug)]
pub struct Held {
    pub src: usize,
    pub dst: usize,
    pub msg: Msg,
    pub bytes: Vec<u8>,
    /// Whether its receiver counts it among the datagrams it handled (all but the
    /// attacker's relays, which a server drops as not sealed for it).
    pub counted: bool,
}

/// The harness's sockets and the datagrams in flight.
pub struct Relay {
    /// `sockets[a]`: actor `a`'s address as the others know it (servers, then clients).
    sockets: Vec<UdpSocket>,
    /// Where each server listens.
    listen: Vec<SocketAddrV4>,
    /// Where harness requests leave from and replies arrive.
    control: UdpSocket,
    /// In flight, in the order they arrived.
    pub held: Vec<Held>,
    /// Per server: the datagrams sent to it that can change its state (deliveries and
    /// fired timers) since it last started, to compare with the count its report gives.
    sent: Vec<u64>,
    /// Per server: the datagrams received from it since it last started.
    received: Vec<u64>,
    /// The network's attacker of the model (`ModelConfig::attacker`): every peer datagram
    /// a server sends is also held, relayed, for every other server.
    pub attacker: bool,
}

fn loopback() -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr() {
        Ok(SocketAddr::V4(a)) => a,
        _ => unreachable!("the relay binds IPv4 loopback sockets only"),
    }
}

impl Relay {
    /// Sockets for `actors` actors, of which the first `servers` are servers, which will
    /// listen on free ports chosen after the relay's own are bound (so none is chosen
    /// twice).
    pub fn new(actors: usize, servers: usize) -> std::io::Result<Relay> {
        let sockets = (0..actors).map(|_| loopback()).collect::<Result<_, _>>()?;
        let control = loopback()?;
        let listen = free_ports(servers)?
            .into_iter()
            .map(|p| SocketAddrV4::new([127, 0, 0, 1].into(), p))
            .collect();
        Ok(Relay {
            sockets,
            listen,
            control,
            held: Vec::new(),
            sent: vec![0; servers],
            received: vec![0; servers],
            attacker: false,
        })
    }

    /// Where server `s` listens.
    pub fn listen_addr(&self, s: usize) -> SocketAddrV4 {
        self.listen[s]
    }

    /// Actor `a`'s address as the others know it.
    pub fn addr(&self, a: usize) -> SocketAddrV4 {
        v4(&self.sockets[a])
    }

    fn server_at(&self, addr: SocketAddr) -> Option<usize> {
        self.listen.iter().position(|l| SocketAddr::V4(*l) == addr)
    }

    /// The actor whose known address is `addr`.
    pub fn actor_at(&self, addr: SocketAddrV4) -> Option<usize> {
        (0..self.sockets.len()).find(|&a| self.addr(a) == addr)
    }

    /// Holds every datagram that has arrived. A datagram from an unknown sender, or one that
    /// is not a protocol message, is an error: nothing else shares these sockets.
    pub fn collect(&mut self) -> Result<(), HarnessError> {
        let mut buf = vec![0u8; 65_536];
        for dst in 0..self.sockets.len() {
            loop {
                let (n, from) = match self.sockets[dst].recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(HarnessError::Io(e)),
                };
                let src = self.server_at(from).ok_or_else(|| {
                    HarnessError::Stray(format!("a datagram from {from}, which is no server"))
                })?;
                self.received[src] += 1;
                let bytes = buf[..n].to_vec();
                let msg = self.read(src, dst, &bytes)?;
                if let (true, Msg::Peer(peer)) = (self.attacker, &msg) {
                    // The attacker sends the very bytes on, seal and all.
                    let servers = self.listen.len();
                    for (z, relayed) in relays_of(src, dst, peer, servers) {
                        // Not counted: its receiver drops it before handling it.
                        self.keep(src, z.into(), relayed, bytes.clone(), false);
                    }
                }
                self.keep(src, dst, msg, bytes, true);
            }
        }
        Ok(())
    }

    /// The protocol message of a datagram server `src` sent to actor `dst`: a client API
    /// message, or a peer message sealed for `dst` by `src` (its MAC is the receiver's to
    /// check).
    fn read(&self, src: usize, dst: usize, bytes: &[u8]) -> Result<Msg, HarnessError> {
        let stray =
            |what: String| HarnessError::Stray(format!("server {src} sent {what} to actor {dst}"));
        match wire::parse(bytes) {
            Ok(Datagram::Protocol(msg)) => Ok(msg),
            Ok(Datagram::Sealed(s)) if (usize::from(s.from), usize::from(s.to)) == (src, dst) => {
                let peer = s.message().map_err(|e| stray(format!("a seal over {e}")))?;
                Ok(Msg::Peer(peer))
            }
            other => Err(stray(format!("{other:?}"))),
        }
    }

    /// Holds a datagram the harness itself sends (a client's request).
    pub fn hold(&mut self, src: usize, dst: usize, msg: Msg) {
        let bytes = wire::encode_msg(&msg);
        self.keep(src, dst, msg, bytes, true);
    }

    /// Holds `bytes`, which carry `msg` from `src` to `dst`; `counted`: see [`Held`].
    fn keep(&mut self, src: usize, dst: usize, msg: Msg, bytes: Vec<u8>, counted: bool) {
        self.held.push(Held {
            src,
            dst,
            msg,
            bytes,
            counted,
        });
    }

    /// The first held datagram from `src` to `dst` carrying `msg`.
    pub fn find(&self, src: usize, dst: usize, msg: &Msg) -> Option<usize> {
        self.held
            .iter()
            .position(|h| h.src == src && h.dst == dst && &h.msg == msg)
    }

    /// Sends held datagram `i` on to its destination, if that is a server (an answer to a
    /// client has arrived once the harness holds it). `keep`: it stays held, to be
    /// delivered again (a duplicating network).
    pub fn deliver(&mut self, i: usize, keep: bool) -> Result<(), HarnessError> {
        let h = if keep {
            self.held[i].clone()
        } else {
            self.held.remove(i)
        };
        if let Some(to) = self.listen.get(h.dst) {
            self.sockets[h.src].send_to(&h.bytes, to)?;
            self.sent[h.dst] += u64::from(h.counted);
        }
        Ok(())
    }

    /// Sends a request that changes server `s`'s state (a fired timer), without waiting.
    pub fn tell(&mut self, s: usize, request: HarnessRequest) -> Result<(), HarnessError> {
        self.send_request(s, &request)?;
        self.sent[s] += 1;
        Ok(())
    }

    /// The datagrams sent to server `s` that can change its state, since it last started.
    pub fn sent_to(&self, s: usize) -> u64 {
        self.sent[s]
    }

    /// The datagrams received from server `s` since it last started.
    pub fn received_from(&self, s: usize) -> u64 {
        self.received[s]
    }

    /// Server `s` starts again: it has handled and sent nothing yet.
    pub fn restarted(&mut self, s: usize) {
        self.sent[s] = 0;
        self.received[s] = 0;
    }

    fn send_request(&self, s: usize, request: &HarnessRequest) -> Result<(), HarnessError> {
        let bytes =
            wire::encode(&Datagram::Harness(request.clone())).expect("requests are plain data");
        self.control.send_to(&bytes, self.listen[s])?;
        Ok(())
    }

    /// Sends a request that changes nothing (a report) to server `s` and waits up to
    /// `timeout` for its reply.
    /// (It polls: a socket's receive timeout is rounded up to the kernel's tick, which
    /// would make every restart cost milliseconds.)
    pub fn ask(
        &self,
        s: usize,
        request: HarnessRequest,
        timeout: Duration,
    ) -> Result<Option<HarnessReply>, HarnessError> {
        self.send_request(s, &request)?;
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            match self.control.recv_from(&mut buf) {
                Ok((n, from)) if from == SocketAddr::V4(self.listen[s]) => {
                    return match wire::parse(&buf[..n]) {
                        Ok(Datagram::HarnessReply(r)) => Ok(Some(r)),
                        other => Err(HarnessError::Stray(format!(
                            "server {s} answered a harness request with {other:?}"
                        ))),
                    };
                }
                // A late reply from another server, or from before a restart.
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                    ) =>
                {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_micros(20));
                }
                Err(e) => return Err(HarnessError::Io(e)),
            }
        }
    }
}
