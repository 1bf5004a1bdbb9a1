//! `caducee drill`: proves that the latest backup brings the service back, and measures how
//! long it takes — from the start of the restore to the first message accepted.
//!
//! The drill restores into a scratch folder, starts a second relay from it on spare local
//! ports (it never touches the live relay or its data), creates a drill account, submits an
//! OpenPGP-encrypted message over TLS and collects it over POP3, then stops that relay and
//! removes the scratch folder. The report is kept in `<data>/drill-last.json`, which
//! `caducee status` shows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _};
use caducee_actors::probe::{self, Pop3Probe, SmtpProbe};
use caducee_storage::Millis;

use crate::backup::{self, BackupKey};
use crate::config::Config;

const REPORT_FILE: &str = "drill-last.json";

/// What a drill measured, and the state of the relay's drill: they travel in admin replies
/// (`drill-status`, `status`), hence their place in the protocol.
pub use caducee_admin_protocol::{DrillOutcome, DrillReport, DrillState};

/// The drill's steps, in order, as its progress reports them.
pub const STEPS: [&str; 5] = [
    "restoring the backup into a scratch folder",
    "starting a relay from it on spare local ports",
    "creating the drill account",
    "submitting an encrypted message",
    "collecting it over POP3",
];

/// Where a drill stands: told to whoever watches (`caducee drill` prints it, the console
/// draws it from the relay's [`DrillWatch`]).
pub type Progress<'a> = &'a (dyn Fn(usize) + Sync);

/// The relay's one drill at a time, shared between the admin requests and the thread that
/// runs it.
#[derive(Debug, Clone, Default)]
pub struct DrillWatch {
    state: std::sync::Arc<std::sync::Mutex<(DrillState, Option<Instant>)>>,
}

impl DrillWatch {
    /// Starts a drill on its own thread (it restores, starts a process, and blocks on
    /// probes: nothing for the relay's event loops). Refused while one runs.
    pub fn start(
        &self,
        data_dir: PathBuf,
        from: Option<PathBuf>,
        now: Millis,
        store: caducee_storage::Store,
    ) -> anyhow::Result<DrillState> {
        {
            let mut guard = self.state.lock().map_err(|_| anyhow::anyhow!("drill state poisoned"))?;
            if guard.0.running {
                bail!("a restore drill is running already (step {} of {})", guard.0.step, guard.0.steps);
            }
            guard.0 = DrillState {
                running: true,
                step: 1,
                steps: STEPS.len(),
                label: STEPS[0].to_owned(),
                started_at: Some(now),
                elapsed_seconds: 0.0,
                report: guard.0.report.take(),
            };
            guard.1 = Some(Instant::now());
        }
        let watch = self.clone();
        std::thread::Builder::new().name("restore-drill".into()).spawn(move || {
            let progress = |step: usize| {
                if let Ok(mut guard) = watch.state.lock() {
                    guard.0.step = step;
                    guard.0.label = STEPS.get(step - 1).copied().unwrap_or_default().to_owned();
                }
            };
            let report = run(&data_dir, from, None, now, &progress)
                .map(DrillOutcome::Report)
                .unwrap_or_else(|error| DrillOutcome::failed(format!("{error:#}")));
            if !report.ok() {
                let text = format!("restore drill failed: {}", report.error().unwrap_or("see its report"));
                let alert = caducee_storage::Alert::new(caducee_storage::AlertKind::DrillFailed, "drill", &text, now);
                let raised = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|runtime| Ok(runtime.block_on(store.raise_alert(alert))?));
                if let Err(error) = raised {
                    tracing::error!(%error, "raising an alert failed");
                }
            }
            if let Ok(mut guard) = watch.state.lock() {
                guard.0.running = false;
                guard.0.report = Some(report);
                guard.0.elapsed_seconds = guard.1.map_or(0.0, |t| t.elapsed().as_secs_f64());
            }
        })?;
        self.state()
    }

    pub fn state(&self) -> anyhow::Result<DrillState> {
        let guard = self.state.lock().map_err(|_| anyhow::anyhow!("drill state poisoned"))?;
        let mut state = guard.0.clone();
        if state.running {
            state.elapsed_seconds = guard.1.map_or(0.0, |t| t.elapsed().as_secs_f64());
        }
        Ok(state)
    }
}

/// The last drill's report, if one ran.
pub fn last_report(data_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir.join(REPORT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs the drill on `from` (default: the newest scheduled backup) and records its report.
pub fn run(
    data_dir: &Path,
    from: Option<PathBuf>,
    key_file: Option<PathBuf>,
    now: Millis,
    progress: Progress<'_>,
) -> anyhow::Result<DrillReport> {
    let config = Config::load(data_dir)?;
    let backup = match from {
        Some(file) => file,
        None => {
            let folder = config.backup.folder.as_ref().context(
                "no backup to drill: set [backup] folder in caducee.toml (where scheduled backups go) or pass --from FILE",
            )?;
            backup::latest(folder)?.with_context(|| format!("no backup in {}", folder.display()))?
        }
    };
    let key = match key_file {
        Some(path) => BackupKey::load(&path)?,
        None => BackupKey::load(&BackupKey::path_in(data_dir))
            .context("no --key-file given and no backup key in the data folder")?,
    };
    let mut report = DrillReport {
        ok: false,
        backup: backup.clone(),
        backup_created_at: None,
        started_at: now,
        restore_seconds: None,
        ready_seconds: None,
        first_accept_seconds: None,
        collected: false,
        messages_restored: None,
        mailboxes_restored: None,
        notices_held: None,
        error: None,
    };
    let scratch = tempfile::Builder::new().prefix("caducee-drill-").tempdir()?;
    if let Err(error) = drill(&backup, &key, &scratch.path().join("data"), now, &mut report, progress) {
        report.error = Some(format!("{error:#}"));
    }
    report.ok = report.error.is_none() && report.collected;
    let json = serde_json::to_vec_pretty(&report)?;
    let partial = data_dir.join(format!("{REPORT_FILE}.partial"));
    std::fs::write(&partial, json)?;
    std::fs::rename(&partial, data_dir.join(REPORT_FILE))?;
    Ok(report)
}

/// Restores `backup` into `scratch`, starts a relay from it, and sends and collects one
/// message, filling `report` as each step ends.
fn drill(
    backup: &Path,
    key: &BackupKey,
    scratch: &Path,
    now: Millis,
    report: &mut DrillReport,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    progress(1);
    let checked = backup::restore(backup, key, scratch, false, now)?;
    report.restore_seconds = Some(started.elapsed().as_secs_f64());
    report.backup_created_at = Some(checked.manifest.created_at);
    report.messages_restored = Some(checked.messages);
    report.mailboxes_restored = Some(checked.mailboxes);
    report.notices_held = Some(checked.notices_waiting);
    let config = move_to_spare_ports(scratch)?;

    progress(2);
    let relay = ScratchRelay::start(scratch)?;
    report.ready_seconds = Some(started.elapsed().as_secs_f64());
    progress(3);
    let address = format!("restore-drill@{}", config.domain);
    let (password, certificate) = relay.add_user(&address)?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mailbox = DrillMailbox { relay: &relay, scratch, address: &address, password: &password, started, now };
    let collected = runtime.block_on(mailbox.round_trip(&certificate, report, progress))?;
    report.collected = collected;
    if !collected {
        bail!("the drill message came back different from what was sent");
    }
    relay.stop()
}

/// Rewrites the restored configuration: the same, but on spare loopback ports, without
/// scheduled backups, and without the smarthost — the notices waiting in the backup were
/// the live relay's to send, and a drill must not send them a second time.
fn move_to_spare_ports(scratch: &Path) -> anyhow::Result<Config> {
    let mut config = Config::load(scratch)?;
    let spare = crate::config::Addresses::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.listen.submission = spare.clone();
    config.listen.submissions = spare.clone();
    config.listen.pop3 = spare.clone();
    config.listen.pop3s = spare.clone();
    config.listen.imap = spare.clone();
    config.listen.imaps = spare.clone();
    config.listen.https = spare.clone();
    config.listen.ldap = spare.clone();
    config.listen.ldaps = spare.clone();
    config.listen.relay = config.listen.relay.as_ref().map(|_| spare.clone());
    config.listen.metrics = Some(spare);
    config.backup.folder = None;
    config.notices.smarthost = None;
    // The drill's throwaway account gets keys made by the scratch relay itself, its bundle
    // left in the scratch folder, rather than one more bundle in the live issuer's folder.
    config.keys.issuer = None;
    std::fs::write(crate::config::config_path(scratch), toml::to_string(&config)?)?;
    Ok(config)
}

/// The drill account on the scratch relay, and when the drill started.
struct DrillMailbox<'a> {
    relay: &'a ScratchRelay,
    scratch: &'a Path,
    address: &'a str,
    password: &'a str,
    started: Instant,
    /// The drill's time (the drill message is written then).
    now: Millis,
}

impl DrillMailbox<'_> {
    /// Submits an encrypted message to the drill account and collects it: whether what came
    /// back is what was sent.
    async fn round_trip(
        &self,
        certificate: &str,
        report: &mut DrillReport,
        progress: Progress<'_>,
    ) -> anyhow::Result<bool> {
        let (address, password) = (self.address, self.password);
        let tls = probe::tls_trusting(&self.scratch.join("tls").join("ca.pem"))?;
        let document = probe::encrypted_document(4096, certificate)?;
        let message = probe::pgp_mime(address, address, "Restore drill", &document, self.now.0);
        progress(4);
        let mut smtp = SmtpProbe::login(self.relay.submissions, &tls, address, password).await?;
        smtp.submit(address, address, &message).await?;
        report.first_accept_seconds = Some(self.started.elapsed().as_secs_f64());
        smtp.quit().await?;

        progress(5);
        let mut pop3 = Pop3Probe::login(self.relay.pop3s, &tls, address, password).await?;
        let count = pop3.count().await?;
        if count != 1 {
            bail!("the drill mailbox holds {count} messages, not 1");
        }
        let retrieved = pop3.retrieve(1).await?;
        pop3.delete(1).await?;
        pop3.quit().await?;
        // What was sent, without the dot-stuffing and end mark of the wire form.
        let sent = &message[..message.len() - 3];
        let unstuffed: Vec<u8> = sent
            .split_inclusive(|b| *b == b'\n')
            .flat_map(|line| line.strip_prefix(b".").unwrap_or(line))
            .copied()
            .collect();
        Ok(retrieved.ends_with(&unstuffed))
    }
}

/// The relay started from the restored folder.
struct ScratchRelay {
    child: Child,
    data_dir: PathBuf,
    submissions: u16,
    pop3s: u16,
}

impl ScratchRelay {
    fn start(data_dir: &Path) -> anyhow::Result<ScratchRelay> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("serve")
            .env("CADUCEE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the restored relay")?;
        let stdout = child.stdout.take().context("no stdout from the restored relay")?;
        let ports = probe::ready_ports(stdout)?;
        let (submissions, pop3s) = (ports.get("submissions").copied(), ports.get("pop3s").copied());
        match (submissions, pop3s) {
            (Some(submissions), Some(pop3s)) => {
                Ok(ScratchRelay { child, data_dir: data_dir.to_path_buf(), submissions, pop3s })
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the restored relay did not start (see its log above)")
            }
        }
    }

    /// The new account's password and certificate.
    fn add_user(&self, address: &str) -> anyhow::Result<(String, String)> {
        let output = Command::new(std::env::current_exe()?)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["user", "add", "--address", address, "--first-name", "Restore", "--last-name", "Drill"])
            .args(["--contact-email", address, "--json"])
            .output()?;
        if !output.status.success() {
            bail!("creating the drill account: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let created: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        // The drill account's bundle is of no use to anyone: the scratch folder goes.
        let password = created["password"].as_str().context("no password for the drill account")?;
        let certificate = created["certificate"].as_str().context("no certificate for the drill account")?;
        Ok((password.to_owned(), certificate.to_owned()))
    }

    /// SIGTERM, and a clean exit expected.
    fn stop(mut self) -> anyhow::Result<()> {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        if !sent.success() {
            bail!("could not signal the restored relay");
        }
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the restored relay exited with {status}");
        }
        Ok(())
    }
}

impl Drop for ScratchRelay {
    fn drop(&mut self) {
        // Only reached without `stop` on an error path: never leave a relay behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
