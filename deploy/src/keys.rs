//! Account keys for people: key files, their permissions, and the keys of a local cluster.
//!
//! Each account has an Ed25519 key pair. Its public half goes in the cluster file
//! (`account_key` of its server's entry), where every server reads it to verify the
//! account's transfers; its secret half is a key file only its owner can read, from which
//! the owner's client signs (`paxchain keygen` writes one, `paxchain prompt --key-file`
//! reads it). A key file is one line: the 32-byte secret seed in hex.
//!
//! A missing, unreadable or badly permissioned key file, or one whose public key is not the
//! account's in the cluster file, is a clear error before anything is sent.

use crate::cluster::Cluster;
use ed25519_zebra::{SigningKey, VerificationKey};
use paxchain::signature::{hex, unhex};
use paxchain::Account;
use rand::Rng;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} can be read by others (mode {mode:o}); `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a key: one line of 64 hex digits expected")]
    NotAKey { path: PathBuf },
    #[error("key file {path} is not account {account}'s: its public key {found} is not the cluster file's {expected}")]
    Mismatch {
        path: PathBuf,
        account: Account,
        found: String,
        expected: String,
    },
    #[error("the cluster file gives no key for account {0} (run `paxchain keygen` and add `account_key`)")]
    NoClusterKey(Account),
    #[error("the cluster file gives no key for server {0} (run `paxchain keygen --server` and add `server_key`)")]
    NoServerKey(Account),
}

/// A new secret key, from the operating system's randomness (through `rand`'s thread-local
/// generator, a CSPRNG seeded by the OS).
pub fn generate() -> SigningKey {
    SigningKey::from(rand::rng().random::<[u8; 32]>())
}

/// The public key of a secret one, in the cluster file's form (hex).
pub fn public_hex(key: &SigningKey) -> String {
    hex(&<[u8; 32]>::from(VerificationKey::from(key)))
}

/// Writes `key` to a new file at `path`, readable and writable by its owner only. An existing
/// file is never overwritten.
pub fn write(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    write_seed(path, key.as_ref().try_into().expect("a seed is 32 bytes"))
}

/// A new random seed: an account's or a server's secret key.
pub fn generate_seed() -> [u8; 32] {
    rand::rng().random::<[u8; 32]>()
}

/// The public half of a server's secret seed, in the cluster file's form (hex).
pub fn server_public_hex(seed: [u8; 32]) -> String {
    hex(crate::peers::public(&crate::peers::secret(seed)).as_bytes())
}

/// Writes a secret `seed` to a new owner-only file at `path` (never over an existing one).
pub fn write_seed(path: &Path, seed: [u8; 32]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io)?;
    writeln!(f, "{}", hex(&seed)).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Reads the account key file at `path`, refusing one that others can read.
pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
    read_seed(path).map(SigningKey::from)
}

/// Reads the seed in the key file at `path`, refusing a file that others can read.
pub fn read_seed(path: &Path) -> Result<[u8; 32], KeyError> {
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.into(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read(path).map_err(io)?;
    seed(&text).ok_or(KeyError::NotAKey { path: path.into() })
}

/// A key file's bytes as an account's key, if they are one (see [`seed`]).
pub fn parse(bytes: &[u8]) -> Option<SigningKey> {
    seed(bytes).map(SigningKey::from)
}

/// A key file's 32-byte seed: 64 hex digits, and whitespace around them.
pub fn seed(bytes: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(bytes).ok()?;
    unhex(text.trim()).and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// Reads server `index`'s key file (its X25519 secret) and checks it against the cluster
/// file's `server_key`.
pub fn read_server(
    path: &Path,
    cluster: &Cluster,
    index: usize,
) -> Result<x25519_dalek::StaticSecret, KeyError> {
    let secret = crate::peers::secret(read_seed(path)?);
    let account = Account::of_server(index);
    let expected = (cluster.servers.get(index))
        .and_then(|s| s.server_key.clone())
        .ok_or(KeyError::NoServerKey(account))?;
    let found = hex(crate::peers::public(&secret).as_bytes());
    matches(path, account, found, expected)?;
    Ok(secret)
}

/// Reads `account`'s key file and checks it against the cluster file's public key.
pub fn read_for(path: &Path, cluster: &Cluster, account: Account) -> Result<SigningKey, KeyError> {
    let key = read(path)?;
    let expected = (cluster.server_of(account))
        .and_then(|s| s.account_key.clone())
        .ok_or(KeyError::NoClusterKey(account))?;
    matches(path, account, public_hex(&key), expected)?;
    Ok(key)
}

/// Whether a key file's public key (`found`, lower-case hex) is the cluster file's.
fn matches(path: &Path, account: Account, found: String, expected: String) -> Result<(), KeyError> {
    if found == expected.to_ascii_lowercase() {
        return Ok(());
    }
    Err(KeyError::Mismatch {
        path: path.into(),
        account,
        found,
        expected,
    })
}

/// The secret keys of a local cluster, by account index: each account's (what a demo, a
/// torture run or a test holds for all its clients) and each server's (for the peers).
#[derive(Clone, Default)]
pub struct Keyring {
    accounts: Vec<SigningKey>,
    servers: Vec<[u8; 32]>,
}

impl Keyring {
    /// New keys for every account and server of `cluster`, written to `dir/A.key`, ... and
    /// `dir/server-A.key`, ... (owner-only), their public halves put in `cluster`.
    pub fn create(dir: &Path, cluster: &mut Cluster) -> Result<Keyring, KeyError> {
        let mut ring = Keyring::create_for_servers(dir, cluster)?;
        for (i, entry) in cluster.servers.iter_mut().enumerate() {
            let key = generate();
            let path = Keyring::file(dir, Account::of_server(i));
            let _ = std::fs::remove_file(&path);
            write(&path, &key)?;
            entry.account_key = Some(public_hex(&key));
            ring.accounts.push(key);
        }
        Ok(ring)
    }

    /// New keys for every server of `cluster` only, as [`Keyring::create`] makes them: the
    /// conformance harness's, whose servers seal their peer datagrams while the transfers
    /// carry the model's abstract signatures.
    pub fn create_for_servers(dir: &Path, cluster: &mut Cluster) -> Result<Keyring, KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.into(),
            source,
        })?;
        let mut ring = Keyring::default();
        for (i, entry) in cluster.servers.iter_mut().enumerate() {
            let seed = generate_seed();
            let path = Keyring::server_file(dir, Account::of_server(i));
            let _ = std::fs::remove_file(&path);
            write_seed(&path, seed)?;
            entry.server_key = Some(server_public_hex(seed));
            ring.servers.push(seed);
        }
        Ok(ring)
    }

    /// The key file of `account` in a keyring's directory.
    pub fn file(dir: &Path, account: Account) -> PathBuf {
        dir.join(format!("{account}.key"))
    }

    /// The key file of `account`'s server in a keyring's directory.
    pub fn server_file(dir: &Path, account: Account) -> PathBuf {
        dir.join(format!("server-{account}.key"))
    }

    /// `account`'s secret key, if the keyring holds it.
    pub fn get(&self, account: Account) -> Option<&SigningKey> {
        self.accounts.get(account.index())
    }

    /// Server `index`'s secret seed, if the keyring holds it.
    pub fn server(&self, index: usize) -> Option<[u8; 32]> {
        self.servers.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("paxchain-keys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_key_file_is_owner_only_and_read_back_as_written() {
        let d = dir("roundtrip");
        let path = d.join("a.key");
        let key = generate();
        write(&path, &key).unwrap();
        assert_eq!(public_hex(&read(&path).unwrap()), public_hex(&key));
        assert!(write(&path, &generate()).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read(&path).unwrap_err();
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_garbled_and_foreign_keys_are_clear_errors() {
        let d = dir("errors");
        let e = read(&d.join("none.key")).unwrap_err();
        assert!(matches!(e, KeyError::Io { .. }), "{e}");
        let garbled = d.join("garbled.key");
        write_raw(&garbled, b"not hex at all\n");
        assert!(matches!(read(&garbled), Err(KeyError::NotAKey { .. })));
        let mut cluster = Cluster::local(2, 7000, 10);
        let ring = Keyring::create(&d, &mut cluster).unwrap();
        let a = Keyring::file(&d, Account(0));
        assert_eq!(
            public_hex(&read_for(&a, &cluster, Account(0)).unwrap()),
            public_hex(ring.get(Account(0)).unwrap())
        );
        let e = read_for(&a, &cluster, Account(1)).unwrap_err();
        assert!(e.to_string().contains("not account B's"), "{e}");
        cluster.servers[1].account_key = None;
        assert!(matches!(
            read_for(&a, &cluster, Account(1)),
            Err(KeyError::NoClusterKey(_))
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn write_raw(path: &Path, bytes: &[u8]) {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).unwrap().write_all(bytes).unwrap();
    }
}
