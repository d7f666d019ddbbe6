//! A client of the bank over UDP: requests with ids, answers matched to them, resends on
//! timeout, and a clear "unreachable" after the resends.
//!
//! It speaks the same [`ApiMsg`] vocabulary as the model's scripted client, as JSON datagrams.

use crate::cluster::Cluster;
use crate::wire::Datagram;
use ed25519_zebra::SigningKey;
use paxchain::{Account, ApiMsg, Block, Height, Msg, Outcome, Session, Transfer, TxId};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// The next transfer of a session of `account`: `amount` units to `to`, under the session's
/// next sequence number, which it takes, signed with the account's `key`.
pub(crate) fn next_transfer(
    (account, session): (Account, Session),
    next_seq: &mut u32,
    (to, amount): (Account, u64),
    signer: &Signer,
) -> Transfer {
    let id = TxId {
        client: account,
        session,
        seq: *next_seq,
    };
    *next_seq += 1;
    signer.sign(Transfer::model_signed(id, account, to, amount))
}

/// Who signs a client's transfers.
// A client holds one; boxing the key would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
pub enum Signer {
    /// The account's owner, with its secret key: what every server takes.
    Owner(SigningKey),
    /// Nobody: the model's abstract signature, which only a `--conformance` server of a
    /// cluster without account keys takes (the harness's, and the bench's rows without
    /// security); every other server refuses it as not signed by the owner.
    Model,
}

impl Signer {
    /// `t` (model-signed) signed as this signer signs.
    pub fn sign(&self, t: Transfer) -> Transfer {
        match self {
            Signer::Owner(key) => paxchain::signature::sign(t, key),
            Signer::Model => t,
        }
    }
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("server {addr} unreachable: no answer after {tries} tries")]
    Unreachable { addr: SocketAddrV4, tries: u32 },
    #[error("no server for account {0} in the cluster file")]
    NoServer(Account),
    #[error("an account has at most 256 sessions")]
    TooManySessions,
    #[error(
        "no key for account {0}: a transfer must be signed by the account's owner (--key-file)"
    )]
    NoKey(Account),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// A client bound to one session of one account (and so to one server). It signs its
/// transfers with the account's key, once it has one ([`UdpClient::with_key`]); without, it
/// can only ask questions.
pub struct UdpClient {
    socket: UdpSocket,
    cluster: Cluster,
    account: Account,
    session: Session,
    next_seq: u32,
    signer: Option<Signer>,
}

impl UdpClient {
    /// Binds a UDP socket for `account`'s client (its first session). Call
    /// [`UdpClient::resume`] before transferring, so a restarted client continues after its
    /// last answered id.
    pub fn new(cluster: &Cluster, account: Account) -> Result<UdpClient, ClientError> {
        UdpClient::of_session(cluster, account, Session::FIRST)
    }

    /// The same, for one of the account's other sessions. Two processes must not use one
    /// session at once: they would number their transfers alike.
    pub fn of_session(
        cluster: &Cluster,
        account: Account,
        session: Session,
    ) -> Result<UdpClient, ClientError> {
        cluster
            .server_of(account)
            .ok_or(ClientError::NoServer(account))?;
        Ok(UdpClient {
            socket: UdpSocket::bind("0.0.0.0:0")?,
            cluster: cluster.clone(),
            account,
            session,
            next_seq: 1,
            signer: None,
        })
    }

    /// The client, signing its transfers with `key` (the account's secret key).
    pub fn with_key(self, key: SigningKey) -> UdpClient {
        self.signed_by(Signer::Owner(key))
    }

    /// The client, its transfers signed by `signer`.
    pub fn signed_by(self, signer: Signer) -> UdpClient {
        UdpClient {
            signer: Some(signer),
            ..self
        }
    }

    /// How many servers the cluster has.
    pub fn servers(&self) -> usize {
        self.cluster.servers.len()
    }

    /// The account this client owns.
    pub fn account(&self) -> Account {
        self.account
    }

    /// The address of an account's server.
    pub fn server(&self, account: Account) -> Result<SocketAddrV4, ClientError> {
        Ok(self
            .cluster
            .server_of(account)
            .ok_or(ClientError::NoServer(account))?
            .addr)
    }

    /// A client ready to transfer: [`UdpClient::new`], then [`UdpClient::resume`].
    pub fn connect(cluster: &Cluster, account: Account) -> Result<UdpClient, ClientError> {
        UdpClient::connect_session(cluster, account, Session::FIRST)
    }

    /// A client of one of the account's sessions, ready to transfer.
    pub fn connect_session(
        cluster: &Cluster,
        account: Account,
        session: Session,
    ) -> Result<UdpClient, ClientError> {
        let mut client = UdpClient::of_session(cluster, account, session)?;
        client.resume()?;
        Ok(client)
    }

    /// Asks the own server which id it answered last to this session, and continues after
    /// it.
    pub fn resume(&mut self) -> Result<(), ClientError> {
        let own = self.server(self.account)?;
        let session = self.session;
        let answer = self.request(
            own,
            ApiMsg::GetLastAnswered { session },
            |m| matches!(m, ApiMsg::LastAnswered { session: s, .. } if *s == session),
        )?;
        if let ApiMsg::LastAnswered { id: Some(id), .. } = answer {
            self.next_seq = self.next_seq.max(id.seq + 1);
        }
        Ok(())
    }

    /// The session this client is.
    pub fn session(&self) -> Session {
        self.session
    }

    /// Submits a transfer from the own account and waits for its outcome. Resends reuse the
    /// id, so the transfer is executed at most once whatever the network does.
    pub fn transfer(&mut self, to: Account, amount: u64) -> Result<(TxId, Outcome), ClientError> {
        let sender = (self.account, self.session);
        let signer = self
            .signer
            .as_ref()
            .ok_or(ClientError::NoKey(self.account))?;
        let transfer = next_transfer(sender, &mut self.next_seq, (to, amount), signer);
        let id = transfer.id;
        let own = self.server(self.account)?;
        let answer = self.request(
            own,
            ApiMsg::Submit { transfer },
            |m| matches!(m, ApiMsg::Outcome { id: got, .. } if *got == id),
        )?;
        match answer {
            ApiMsg::Outcome { outcome, .. } => Ok((id, outcome)),
            _ => unreachable!("request returns only what the filter accepts"),
        }
    }

    /// The id of the last transfer submitted (or, before any, the id before the first).
    pub fn last_id(&self) -> TxId {
        TxId {
            client: self.account,
            session: self.session,
            seq: self.next_seq.saturating_sub(1),
        }
    }

    /// PrintBalance: `account`'s balance as `server`'s account's server knows it.
    pub fn balance(&self, server: Account, account: Account) -> Result<ApiMsg, ClientError> {
        self.request(self.server(server)?, ApiMsg::GetBalance { account }, |m| {
            matches!(m, ApiMsg::Balance { account: a, .. } if *a == account)
                || matches!(m, ApiMsg::Outcome { .. })
        })
    }

    /// PrintLog: the oldest transfers of a server's local log (as many as one datagram
    /// carries), and how many it holds in all.
    pub fn log(&self, server: Account) -> Result<(Vec<Transfer>, usize), ClientError> {
        match self.request(self.server(server)?, ApiMsg::GetLog, |m| {
            matches!(m, ApiMsg::Log { .. })
        })? {
            ApiMsg::Log { transfers, total } => Ok((transfers, total)),
            _ => unreachable!("filtered"),
        }
    }

    /// PrintBlockchain: a server's whole chain, fetched in messages of bounded size.
    pub fn chain(&self, server: Account) -> Result<Vec<Block>, ClientError> {
        let addr = self.server(server)?;
        let mut blocks: Vec<Block> = Vec::new();
        loop {
            let from = Height(blocks.len() as u32);
            let (part, more) = match self.request(
                addr,
                ApiMsg::GetChain { from },
                |m| matches!(m, ApiMsg::Chain { from: f, .. } if *f == from),
            )? {
                ApiMsg::Chain { blocks, more, .. } => (blocks, more),
                _ => unreachable!("filtered"),
            };
            blocks.extend(part.into_iter().map(std::sync::Arc::unwrap_or_clone));
            if !more {
                return Ok(blocks);
            }
        }
    }

    /// How many datagrams `server` has dropped since it started: (malformed, not authentic).
    pub fn dropped(&self, server: Account) -> Result<(u64, u64), ClientError> {
        let addr = self.server(server)?;
        let ask = crate::wire::encode(&Datagram::Monitor).expect("a plain datagram");
        let timeout = Duration::from_millis(self.cluster.client_timeout_ms);
        let mut buf = vec![0u8; 65_535];
        for _ in 0..=self.cluster.client_retries {
            self.socket.send_to(&ask, addr)?;
            self.socket.set_read_timeout(Some(timeout))?;
            while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                if let Ok(Datagram::Dropped {
                    malformed,
                    unauthenticated,
                }) = crate::wire::parse(&buf[..n])
                {
                    return Ok((malformed, unauthenticated));
                }
            }
        }
        let tries = self.cluster.client_retries + 1;
        Err(ClientError::Unreachable { addr, tries })
    }

    /// A server's status.
    pub fn status(&self, server: Account) -> Result<ApiMsg, ClientError> {
        self.request(self.server(server)?, ApiMsg::GetStatus, |m| {
            matches!(m, ApiMsg::Status { .. })
        })
    }

    /// Sends `msg` to `addr` until an answer passing `wanted` arrives, resending after each
    /// timeout; other datagrams (late answers to earlier requests) are skipped.
    pub fn request(
        &self,
        addr: SocketAddrV4,
        msg: ApiMsg,
        wanted: impl Fn(&ApiMsg) -> bool,
    ) -> Result<ApiMsg, ClientError> {
        let timeout = Duration::from_millis(self.cluster.client_timeout_ms);
        self.ask(addr, msg, wanted, timeout, self.cluster.client_retries + 1)
    }

    /// Whether `server` answers a status request within `wait`, asked once: a prompt's
    /// quick check before a query, so that a crashed server is reported at once.
    pub fn answers_within(&self, server: Account, wait: Duration) -> bool {
        let Ok(addr) = self.server(server) else {
            return false;
        };
        let status = |m: &ApiMsg| matches!(m, ApiMsg::Status { .. });
        self.ask(addr, ApiMsg::GetStatus, status, wait, 1).is_ok()
    }

    /// [`UdpClient::request`] with its own timeout per try and number of tries.
    fn ask(
        &self,
        addr: SocketAddrV4,
        msg: ApiMsg,
        wanted: impl Fn(&ApiMsg) -> bool,
        timeout: Duration,
        tries: u32,
    ) -> Result<ApiMsg, ClientError> {
        let bytes = crate::wire::encode_msg(&Msg::Api(msg));
        let mut buf = vec![0u8; 65_535];
        for _ in 0..tries {
            self.socket.send_to(&bytes, addr)?;
            let deadline = Instant::now() + timeout;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                self.socket
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
                let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                    break; // timed out (or an ICMP error from a closed port): resend
                };
                if let Ok(Msg::Api(answer)) = serde_json::from_slice::<Msg>(&buf[..n]) {
                    if wanted(&answer) {
                        return Ok(answer);
                    }
                }
            }
        }
        Err(ClientError::Unreachable { addr, tries })
    }
}
