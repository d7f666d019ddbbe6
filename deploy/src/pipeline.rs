//! A client with many requests in flight: several sessions of one account over one socket.
//!
//! Each session sends one request at a time, as the protocol requires (spec/protocol.md,
//! "Sessions"); a [`Pipeline`] keeps many sessions busy at once, so its server can save and
//! answer them together (group commit). It is what the bench and a busy application use; a
//! person at the prompt uses [`crate::UdpClient`], one session.
//!
//! The caller submits on an idle session and polls for answers. A request unanswered for the
//! cluster's client timeout is resent under the same id, at most `client_retries` times.

use crate::cluster::Cluster;
use crate::udp_client::{next_transfer, ClientError, Signer};
use paxchain::{Account, ApiMsg, Msg, Outcome, Session, TxId};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// One answered request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Which of the pipeline's sessions (0 to `sessions() - 1`) is idle again.
    pub slot: usize,
    pub id: TxId,
    pub outcome: Outcome,
    /// From the first send to the answer.
    pub latency: Duration,
}

/// A request in flight.
struct InFlight {
    id: TxId,
    bytes: Vec<u8>,
    first_sent: Instant,
    last_sent: Instant,
    tries: u32,
}

struct Slot {
    session: Session,
    next_seq: u32,
    in_flight: Option<InFlight>,
}

/// Sessions `first..first + n` of one account, sharing a socket, signing as its signer
/// signs.
pub struct Pipeline {
    socket: UdpSocket,
    server: SocketAddrV4,
    account: Account,
    timeout: Duration,
    tries: u32,
    slots: Vec<Slot>,
    buf: Vec<u8>,
    /// Who signs every transfer (the account's owner, but in the bench's rows without
    /// security).
    signer: Signer,
}

impl Pipeline {
    /// `n` sessions of `account` from session `first` on, each resumed after its last
    /// answered id. Two processes must not use one session at once.
    pub fn connect(
        cluster: &Cluster,
        (account, signer): (Account, Signer),
        first: u8,
        n: usize,
    ) -> Result<Pipeline, ClientError> {
        let server = cluster
            .server_of(account)
            .ok_or(ClientError::NoServer(account))?
            .addr;
        let mut slots = Vec::with_capacity(n);
        for k in 0..n {
            let session = u8::try_from(usize::from(first) + k)
                .map(Session)
                .map_err(|_| ClientError::TooManySessions)?;
            let one = crate::UdpClient::connect_session(cluster, account, session)?;
            slots.push(Slot {
                session,
                next_seq: one.last_id().seq + 1,
                in_flight: None,
            });
        }
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect(server)?;
        Ok(Pipeline {
            socket,
            server,
            account,
            timeout: Duration::from_millis(cluster.client_timeout_ms),
            tries: cluster.client_retries + 1,
            slots,
            buf: vec![0; 65_535],
            signer,
        })
    }

    /// How many sessions.
    pub fn sessions(&self) -> usize {
        self.slots.len()
    }

    /// Whether session `slot` has a request in flight.
    pub fn busy(&self, slot: usize) -> bool {
        self.slots[slot].in_flight.is_some()
    }

    /// Sends a transfer from the account on idle session `slot`; returns its id.
    pub fn submit(&mut self, slot: usize, to: Account, amount: u64) -> Result<TxId, ClientError> {
        let s = &mut self.slots[slot];
        assert!(s.in_flight.is_none(), "one request at a time per session");
        let sender = (self.account, s.session);
        let transfer = next_transfer(sender, &mut s.next_seq, (to, amount), &self.signer);
        let id = transfer.id;
        let bytes = crate::wire::encode_msg(&Msg::Api(ApiMsg::Submit { transfer }));
        self.socket.send(&bytes)?;
        let now = Instant::now();
        s.in_flight = Some(InFlight {
            id,
            bytes,
            first_sent: now,
            last_sent: now,
            tries: 1,
        });
        Ok(id)
    }

    /// Waits up to `wait` for the next answer to a request in flight, resending what has
    /// waited a client timeout. `Ok(None)`: nothing arrived in time. An error if a request
    /// went unanswered through every resend.
    pub fn poll(&mut self, wait: Duration) -> Result<Option<Answer>, ClientError> {
        let until = Instant::now() + wait;
        loop {
            self.resend_late()?;
            let now = Instant::now();
            let Some(left) = until.checked_duration_since(now) else {
                return Ok(None);
            };
            let next_resend = (self.slots.iter())
                .filter_map(|s| s.in_flight.as_ref())
                .map(|f| (f.last_sent + self.timeout).saturating_duration_since(now))
                .min()
                .unwrap_or(left);
            let block = left.min(next_resend).max(Duration::from_micros(50));
            self.socket.set_read_timeout(Some(block))?;
            let n = match self.socket.recv(&mut self.buf) {
                Ok(n) => n,
                // A timeout, or an ICMP error from a server not up yet: resend when due.
                Err(e) if retryable(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(answer) = self.answer(n) {
                return Ok(Some(answer));
            }
        }
    }

    /// The answer a datagram of `n` bytes carries, if it answers a request in flight.
    fn answer(&mut self, n: usize) -> Option<Answer> {
        let Ok(Msg::Api(ApiMsg::Outcome { id, outcome })) = serde_json::from_slice(&self.buf[..n])
        else {
            return None;
        };
        let slot =
            (self.slots.iter()).position(|s| s.in_flight.as_ref().is_some_and(|f| f.id == id))?;
        let f = self.slots[slot].in_flight.take().expect("found in flight");
        Some(Answer {
            slot,
            id,
            outcome,
            latency: f.first_sent.elapsed(),
        })
    }

    fn resend_late(&mut self) -> Result<(), ClientError> {
        let now = Instant::now();
        for s in &mut self.slots {
            let Some(f) = &mut s.in_flight else { continue };
            if now < f.last_sent + self.timeout {
                continue;
            }
            if f.tries >= self.tries {
                return Err(ClientError::Unreachable {
                    addr: self.server,
                    tries: f.tries,
                });
            }
            self.socket.send(&f.bytes)?;
            f.last_sent = now;
            f.tries += 1;
        }
        Ok(())
    }
}

fn retryable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), WouldBlock | TimedOut | ConnectionRefused)
}
