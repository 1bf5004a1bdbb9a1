//! What the load runs against: a scratch relay this program starts (`caducee serve` in a
//! scratch data folder, on loopback ports, with one account per simulated practice), or a
//! server already running on loopback with accounts of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context as _};
use caducee_actors::probe;

use crate::session::Practice;
use crate::{Args, CollectProtocol, SocketIo, LOAD_DOMAIN};

/// What the load runs against: a scratch relay this program started, or a server already
/// running on loopback.
pub(crate) struct Target {
    pub(crate) submissions_port: u16,
    pub(crate) pop3s_port: u16,
    /// 0 when the target has none (or was not told of it).
    pub(crate) imaps_port: u16,
    pub(crate) ca: PathBuf,
    pub(crate) pid: Option<u32>,
    pub(crate) relay: Option<Relay>,
    accounts: Option<Vec<Practice>>,
    /// The scratch relay's temporary folder, removed when the target goes.
    _scratch: Option<tempfile::TempDir>,
}

/// Accounts from a file, one "address password [certificate file]" per line.
pub(crate) fn read_accounts(path: &std::path::Path) -> anyhow::Result<Vec<Practice>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(address), Some(password)) = (words.next(), words.next()) else {
                bail!("each line: address password [certificate file]");
            };
            let certificate = match words.next() {
                Some(file) => Some(std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?),
                None => None,
            };
            Ok(Practice { address: address.to_owned(), password: password.to_owned(), certificate })
        })
        .collect()
}

impl Target {
    pub(crate) fn scratch(args: &Args) -> anyhow::Result<Target> {
        let relay_bin = match &args.relay_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("caducee"),
        };
        if !relay_bin.exists() {
            bail!("{} not found: build it (cargo build --release -p caducee) or pass --relay-bin", relay_bin.display());
        }
        let mut scratch = None;
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => {
                // Removed when the target is dropped, at the end of the run.
                let dir = tempfile::Builder::new().prefix("caducee-load-").tempdir()?;
                let data = dir.path().join("data");
                scratch = Some(dir);
                data
            }
        };
        if data_dir.join("store").exists() {
            bail!("{} already holds a store: the load runs against a fresh one", data_dir.display());
        }
        eprintln!("starting the relay in {}", data_dir.display());
        // Every session comes from 127.0.0.1: the senders, and the collectors' sessions (an
        // IMAP collector keeps one open per mailbox, one mailbox per sender).
        let collecting = match args.collect_protocol {
            CollectProtocol::Imap if args.collectors > 0 => args.sessions,
            CollectProtocol::Imap | CollectProtocol::Pop3 => args.collectors,
        };
        let relay = Relay::start(&relay_bin, &data_dir, args.sessions + collecting, args.socket_io)?;
        Ok(Target {
            submissions_port: relay.submissions_port,
            pop3s_port: relay.pop3s_port,
            imaps_port: relay.imaps_port,
            ca: data_dir.join("tls/ca.pem"),
            pid: Some(relay.child.id()),
            relay: Some(relay),
            accounts: None,
            _scratch: scratch,
        })
    }

    pub(crate) fn external(args: &Args, submissions_port: u16) -> anyhow::Result<Target> {
        if args.backup_during.is_some() {
            bail!("--backup-during needs a scratch relay");
        }
        let accounts = read_accounts(args.target_accounts.as_ref().context("--target-accounts")?)?;
        if accounts.len() < args.sessions {
            bail!("{} accounts for {} sessions: give one account per session", accounts.len(), args.sessions);
        }
        Ok(Target {
            submissions_port,
            pop3s_port: args.target_pop3s_port.context("--target-pop3s-port")?,
            imaps_port: args.target_imaps_port.unwrap_or(0),
            ca: args.target_ca.clone().context("--target-ca")?,
            pid: args.target_pid,
            relay: None,
            accounts: Some(accounts),
            _scratch: None,
        })
    }

    pub(crate) fn practices(&self, sessions: usize) -> anyhow::Result<Vec<Practice>> {
        if let Some(accounts) = &self.accounts {
            return Ok(accounts[..sessions].to_vec());
        }
        let relay = self.relay.as_ref().context("no relay")?;
        eprintln!("creating {sessions} accounts");
        (0..sessions)
            .map(|i| {
                let address = format!("practice-{i}@{LOAD_DOMAIN}");
                let (password, certificate) = relay.add_user(&address)?;
                Ok(Practice { address, password, certificate: Some(certificate) })
            })
            .collect()
    }

    pub(crate) fn status(&self) -> anyhow::Result<serde_json::Value> {
        match &self.relay {
            Some(relay) => relay.status(),
            None => Ok(serde_json::Value::Null),
        }
    }
}

/// The scratch relay: a `caducee serve` child process.
pub(crate) struct Relay {
    pub(crate) bin: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) child: Child,
    pub(crate) submissions_port: u16,
    pub(crate) pop3s_port: u16,
    pub(crate) imaps_port: u16,
}

impl Relay {
    pub(crate) fn start(bin: &Path, data_dir: &Path, sessions: usize, socket_io: SocketIo) -> anyhow::Result<Relay> {
        std::fs::create_dir_all(data_dir)?;
        let config = caducee_bench::scratch::Scratch {
            domain: LOAD_DOMAIN,
            relay_door: false,
            // The default is left unsaid, so that a relay built before the setting existed
            // (a "before" in a comparison) reads the same configuration.
            listen_settings: match socket_io {
                SocketIo::Epoll => "",
                SocketIo::IoUring => "socket_io = \"io_uring\"\n",
            },
            load_sessions: Some(sessions),
        }
        .config();
        std::fs::write(data_dir.join("caducee.toml"), config)?;
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .env("CADUCEE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let ports = probe::ready_ports(stdout)?;
        let (submissions_port, pop3s_port) = (ports.get("submissions").copied(), ports.get("pop3s").copied());
        let (Some(submissions_port), Some(pop3s_port)) = (submissions_port, pop3s_port) else {
            let _ = child.kill();
            bail!("the relay did not report its submissions and pop3s listeners");
        };
        let imaps_port = ports.get("imaps").copied().unwrap_or(0);
        Ok(Relay {
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            child,
            submissions_port,
            pop3s_port,
            imaps_port,
        })
    }

    pub(crate) fn cli(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let output = Command::new(&self.bin).arg("--data-dir").arg(&self.data_dir).args(args).output()?;
        if !output.status.success() {
            bail!("caducee {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// The new account's password and certificate.
    pub(crate) fn add_user(&self, address: &str) -> anyhow::Result<(String, String)> {
        let created = self.cli(&[
            "user",
            "add",
            "--address",
            address,
            "--first-name",
            "Load",
            "--last-name",
            "Practice",
            "--contact-email",
            "load@example.org",
            "--quota-mb",
            "1000000",
            "--json",
        ])?;
        let password = created["password"].as_str().ok_or_else(|| anyhow!("no password in {created}"))?;
        let certificate = created["certificate"].as_str().ok_or_else(|| anyhow!("no certificate in {created}"))?;
        Ok((password.to_owned(), certificate.to_owned()))
    }

    pub(crate) fn backup_command(&self, file: &Path) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("--data-dir").arg(&self.data_dir).arg("backup").arg("--to").arg(file).arg("--json");
        command
    }

    pub(crate) fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.cli(&["status", "--json"])
    }

    pub(crate) fn stop(&mut self) {
        let stopped = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if !matches!(stopped, Ok(status) if status.success()) {
            let _ = self.child.kill();
        }
        match self.child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("the relay exited with {status}"),
            Err(error) => eprintln!("waiting for the relay: {error}"),
        }
    }
}
