//! A local cluster as child processes on loopback, for the course's demo.
//!
//! Each server is `paxchain server` in its own data directory, so `crash` (SIGKILL) and
//! `recover` (start again on the same directory) exercise the real storage. Dropping the
//! [`Demo`] kills every child: no process is left behind.

use crate::cluster::Cluster;
use crate::keys::Keyring;
use crate::udp_client::{ClientError, Signer, UdpClient};
use paxchain::{Account, Session};
use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The running cluster.
pub struct Demo {
    /// Holds the cluster file, one data directory per server, and `keys/`.
    pub dir: PathBuf,
    pub cluster_file: PathBuf,
    pub cluster: Cluster,
    /// Every account's secret key, made at launch (`dir/keys/A.key`, ...); none for a
    /// cluster in conformance mode, whose servers run the model's signature rule.
    pub keys: Keyring,
    exe: PathBuf,
    /// Added to every server's command line (e.g. `--conformance`).
    args: Vec<String>,
    /// Whether each server's stderr goes to `server-X.log` in `dir` (else to ours).
    logs: bool,
    children: Vec<Option<Child>>,
}

/// `n` free UDP ports on loopback for servers to listen on, chosen outside the kernel's
/// ephemeral range where it is known (Linux). A port from that range is what `bind(0)` hands
/// out to every client socket and relay socket, so while a server is down another socket
/// could take its port and the server could not restart on it (a torture run saw exactly
/// that). Each port is bound, read and released; another process binding it on purpose in
/// between would make a server fail to start with a clear message.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let Some(ephemeral_start) = ephemeral_start() else {
        return ephemeral_ports(n);
    };
    const LOWEST: u16 = 10_000;
    if ephemeral_start <= LOWEST + 1_000 {
        return ephemeral_ports(n);
    }
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(ephemeral_start - LOWEST);
    // Spread the processes of parallel tests over the range; step within one process.
    let first = std::process::id().wrapping_mul(7_919) % span;
    let mut held = Vec::new();
    for _ in 0..span {
        let k = (first + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = LOWEST + u16::try_from(k).expect("below the span, itself a u16");
        if let Ok(socket) = UdpSocket::bind(("127.0.0.1", port)) {
            held.push(socket);
            if held.len() == n {
                return held
                    .iter()
                    .map(|s| s.local_addr().map(|a| a.port()))
                    .collect();
            }
        }
    }
    ephemeral_ports(n)
}

/// The first port of the kernel's ephemeral range, where the system says.
fn ephemeral_start() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// `n` ports the kernel hands out for `bind(0)`.
fn ephemeral_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    sockets
        .iter()
        .map(|s| s.local_addr().map(|a| a.port()))
        .collect()
}

impl Demo {
    /// Writes a cluster file for `n` servers with `initial` units each under `dir` and starts
    /// every server with `exe` (the `paxchain` binary).
    pub fn start(exe: &Path, dir: &Path, n: usize, initial: u64) -> std::io::Result<Demo> {
        let mut cluster = Cluster::local(n, 0, initial);
        for (entry, port) in cluster.servers.iter_mut().zip(free_ports(n)?) {
            entry.addr.set_port(port);
        }
        Demo::launch(exe, dir, cluster, Vec::new(), false)
    }

    /// As [`Demo::start`], but with no security at all: servers in conformance mode (the
    /// model's abstract signatures, no seals), no key anywhere, clients that sign nothing
    /// (`Signer::Model`). Only for measuring what security costs (the deploy bench's
    /// `security` rows); a real cluster never runs so.
    pub fn start_unauthenticated(
        exe: &Path,
        dir: &Path,
        n: usize,
        initial: u64,
    ) -> std::io::Result<Demo> {
        let mut cluster = Cluster::local(n, 0, initial);
        for (entry, port) in cluster.servers.iter_mut().zip(free_ports(n)?) {
            entry.addr.set_port(port);
        }
        let args = vec!["--conformance".to_string()];
        Demo::launch_with(exe, dir, cluster, args, false, Ok(Keyring::default()))
    }

    /// Writes `cluster` to `dir/cluster.toml` and starts each of its servers with `exe`,
    /// adding `args` to every command line. `logs`: each server's stderr goes to
    /// `dir/server-X.log` (appended across restarts) instead of this process's. Unless the
    /// cluster has keys already, a key is made for each server and (but in conformance
    /// mode, whose transfers carry the model's signatures) for each account.
    pub fn launch(
        exe: &Path,
        dir: &Path,
        mut cluster: Cluster,
        args: Vec<String>,
        logs: bool,
    ) -> std::io::Result<Demo> {
        std::fs::create_dir_all(dir)?;
        let conformance = args.iter().any(|a| a == "--conformance");
        let keyless = cluster.servers.iter().all(|s| s.account_key.is_none());
        let keys = match (conformance, keyless) {
            (_, false) => Ok(Keyring::default()),
            (true, true) => Keyring::create_for_servers(&dir.join("keys"), &mut cluster),
            (false, true) => Keyring::create(&dir.join("keys"), &mut cluster),
        };
        Demo::launch_with(exe, dir, cluster, args, logs, keys)
    }

    /// [`Demo::launch`] with the keys made already (written into `cluster`).
    fn launch_with(
        exe: &Path,
        dir: &Path,
        cluster: Cluster,
        args: Vec<String>,
        logs: bool,
        keys: Result<Keyring, crate::keys::KeyError>,
    ) -> std::io::Result<Demo> {
        std::fs::create_dir_all(dir)?;
        let keys = keys.map_err(std::io::Error::other)?;
        let cluster_file = dir.join("cluster.toml");
        std::fs::write(&cluster_file, cluster.to_toml())?;
        let n = cluster.servers.len();
        let mut demo = Demo {
            dir: dir.to_path_buf(),
            cluster_file,
            cluster,
            keys,
            exe: exe.to_path_buf(),
            args,
            logs,
            children: (0..n).map(|_| None).collect(),
        };
        for i in 0..n {
            demo.spawn(i)?;
        }
        Ok(demo)
    }

    /// A client of `account`'s first session, signing with the account's key.
    pub fn client(&self, account: Account) -> Result<UdpClient, ClientError> {
        self.session(account, Session::FIRST)
    }

    /// A client of one of `account`'s sessions, signing as [`Demo::signer`] says.
    pub fn session(&self, account: Account, session: Session) -> Result<UdpClient, ClientError> {
        let signer = self.signer(account)?;
        Ok(UdpClient::connect_session(&self.cluster, account, session)?.signed_by(signer))
    }

    /// Who signs `account`'s transfers here: its owner's key; or nobody, in a cluster
    /// started without security ([`Demo::start_unauthenticated`]).
    pub fn signer(&self, account: Account) -> Result<Signer, ClientError> {
        let unauthenticated = self.args.iter().any(|a| a == "--conformance")
            && self.cluster.servers.iter().all(|s| s.account_key.is_none());
        match (self.keys.get(account), unauthenticated) {
            (Some(key), _) => Ok(Signer::Owner(*key)),
            (None, true) => Ok(Signer::Model),
            (None, false) => Err(ClientError::NoKey(account)),
        }
    }

    /// Server `index`'s data directory.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir
            .join(format!("server-{}", Account::of_server(index)))
    }

    /// Where server `index`'s stderr goes when the cluster was launched with `logs`.
    pub fn log_file(&self, index: usize) -> PathBuf {
        self.dir
            .join(format!("server-{}.log", Account::of_server(index)))
    }

    /// The last line server `index` wrote to its log (with `logs`), for a report.
    pub fn last_words(&self, index: usize) -> String {
        let text = std::fs::read_to_string(self.log_file(index)).unwrap_or_default();
        text.lines()
            .last()
            .unwrap_or("(nothing logged)")
            .to_string()
    }

    fn spawn(&mut self, index: usize) -> std::io::Result<()> {
        let stderr = if self.logs {
            let log = self.log_file(index);
            Stdio::from(File::options().create(true).append(true).open(log)?)
        } else {
            Stdio::inherit()
        };
        let key_file = (self.keys.server(index).is_some())
            .then(|| Keyring::server_file(&self.dir.join("keys"), Account::of_server(index)));
        let child = Command::new(&self.exe)
            .arg("server")
            .arg("--cluster")
            .arg(&self.cluster_file)
            .arg("--id")
            .arg(index.to_string())
            .arg("--data-dir")
            .arg(self.data_dir(index))
            .args(
                key_file
                    .iter()
                    .flat_map(|f| [std::ffi::OsStr::new("--key-file"), f.as_os_str()]),
            )
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        self.children[index] = Some(child);
        Ok(())
    }

    /// Kills server `index` with SIGKILL and waits for it to end; its data directory stays.
    /// False if it was not running.
    pub fn kill(&mut self, index: usize) -> bool {
        match self.children.get_mut(index).and_then(Option::take) {
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                true
            }
            None => false,
        }
    }

    /// Stops server `index` with SIGSTOP: alive, holding its sockets, answering nothing.
    pub fn pause(&mut self, index: usize) {
        self.signal(index, libc::SIGSTOP);
    }

    /// Lets a paused server `index` go on (SIGCONT).
    pub fn resume(&mut self, index: usize) {
        self.signal(index, libc::SIGCONT);
    }

    fn signal(&self, index: usize, signal: libc::c_int) {
        if let Some(Some(child)) = self.children.get(index) {
            let pid = libc::pid_t::try_from(child.id()).expect("a pid fits in pid_t");
            // SAFETY: kill(2) only sends a signal to our own child; no memory is involved.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Whether server `index`'s process has ended (it failed to start, or stopped), with
    /// its exit status.
    pub fn exited(&mut self, index: usize) -> Option<std::process::ExitStatus> {
        let child = self.children.get_mut(index)?.as_mut()?;
        child.try_wait().ok().flatten()
    }

    /// Kills server `s` with SIGKILL; its data directory stays.
    pub fn crash(&mut self, s: Account) -> String {
        if self.kill(s.index()) {
            format!("server {s} killed; its data directory is kept")
        } else {
            format!("server {s} is not running")
        }
    }

    /// Restarts server `index` from its data directory.
    pub fn restart(&mut self, index: usize) -> std::io::Result<()> {
        self.spawn(index)
    }

    /// Restarts server `s` from its data directory.
    pub fn recover(&mut self, s: Account) -> String {
        match self.children.get(s.index()) {
            None => format!("there is no server {s}"),
            Some(Some(_)) => format!("server {s} is already running"),
            Some(None) => match self.spawn(s.index()) {
                Ok(()) => format!(
                    "server {s} restarted from {}",
                    self.data_dir(s.index()).display()
                ),
                Err(e) => format!("server {s} did not start: {e}"),
            },
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Servers' ports are distinct, bindable, and (where the kernel says) never ones that
    /// `bind(0)` could hand to another socket while a server is down.
    #[test]
    fn server_ports_are_distinct_and_outside_the_ephemeral_range() {
        let ports = free_ports(5).unwrap();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{ports:?}");
        if let Some(start) = ephemeral_start() {
            assert!(ports.iter().all(|&p| p < start), "{ports:?} vs {start}");
        }
        for p in ports {
            UdpSocket::bind(("127.0.0.1", p)).expect("free again");
        }
    }
}
