//! Shared by the end-to-end tests: a relay started from the real `caducee` binary in its
//! own data folder on 127.0.0.1, and the real clients that drive it.
#![allow(dead_code)] // each test binary uses its own share of these helpers

pub mod tmux;
pub mod unbound;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;

pub mod operators;

pub const BIN: &str = env!("CARGO_BIN_EXE_caducee");

pub fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/mailclient.py")
}

/// A relay running in its own data folder.
pub struct Relay {
    pub child: Child,
    pub data: PathBuf,
    pub ports: HashMap<String, u16>,
    /// Every address of each service (a service may listen on several).
    pub addresses: HashMap<String, Vec<std::net::SocketAddr>>,
    /// The environment that gives the relay its clock ([`clock_at`]), empty on the real
    /// one; [`Relay::cli`] and the tests' clients run with it too.
    pub clock: Vec<(String, String)>,
}

/// The environment that starts a program with its wall clock at `instant` (UTC, as
/// `2027-12-10 09:00:00`), running on from there: libfaketime preloaded (Debian package
/// `faketime`), which moves the monotonic clock along (durations keep their length).
pub fn clock_at(instant: &str) -> Vec<(String, String)> {
    let library = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("faketime/libfaketimeMT.so.1"))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("libfaketime is needed for this test (apt-get install faketime)"));
    [("LD_PRELOAD", library.to_str().expect("utf-8 path")), ("FAKETIME", &format!("@{instant}")), ("TZ", "UTC")]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Gives a process that the test may kill with SIGKILL a libfaketime lock of its own. Under
/// the calendar check (`.ci/faked-clock`) the test binary's libfaketime passes its shared
/// semaphore down (`FAKETIME_SHARED`) and every process takes it around each `stat` and in
/// its start-up; one killed while holding it would leave the test, and every process it
/// starts afterwards, waiting forever. Without the variable, the child makes its own.
pub fn own_clock_lock(command: &mut Command) -> &mut Command {
    command.env_remove("FAKETIME_SHARED")
}

/// How long a starting relay may stay silent between two of its lines before its test fails:
/// a start takes a second or two, many more on a loaded machine; one that stalls fails the
/// test (with what the relay printed and where its threads wait) instead of hanging the
/// whole binary. A limit on silence rather than a deadline: no clock is read.
const START_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// The lines a child prints on standard output, read on a thread of their own so that the
/// reader can stop waiting; the channel closes when the child closes its output.
fn readiness_lines(stdout: ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Lines as bytes, so that one that is not UTF-8 is read (lossily) rather than ending
        // the reading while the child still runs.
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if sender.send(String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned()).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Each thread of process `pid` with the kernel function it waits in, from /proc.
fn threads_of(pid: u32) -> Vec<String> {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .map(|task| format!("{}: {}", read(task.path().join("comm")), read(task.path().join("wchan"))))
        .collect()
}

impl Relay {
    /// Writes a configuration with every listener on port 0 (unless one exists), starts
    /// `caducee serve` and waits for its readiness lines.
    pub fn start(data: &Path, extra_config: &str) -> Relay {
        Self::start_with(data, extra_config, Stdio::inherit(), &[])
    }

    /// As [`Relay::start`], with extra environment variables (a service manager's, say).
    pub fn start_env(data: &Path, extra_config: &str, env: &[(&str, &str)]) -> Relay {
        Self::start_with(data, extra_config, Stdio::inherit(), env)
    }

    /// As [`Relay::start`], the relay's wall clock starting at `instant` (UTC, as
    /// `2027-12-10 09:00:00`) whatever the day the test runs.
    pub fn start_at(data: &Path, extra_config: &str, instant: &str) -> Relay {
        let clock = clock_at(instant);
        let env: Vec<(&str, &str)> = clock.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut relay = Self::start_with(data, extra_config, Stdio::inherit(), &env);
        relay.clock = clock;
        relay
    }

    /// As [`Relay::start`], with the relay's log (stderr) written to `log`.
    pub fn start_logged(data: &Path, extra_config: &str, log: &Path) -> Relay {
        let file = std::fs::File::create(log).expect("log file");
        Self::start_with(data, extra_config, Stdio::from(file), &[])
    }

    fn start_with(data: &Path, extra_config: &str, stderr: Stdio, env: &[(&str, &str)]) -> Relay {
        let config = data.join("caducee.toml");
        if !config.exists() {
            std::fs::create_dir_all(data).expect("data dir");
            let text = format!(
                "domain = \"relay.test\"\n{extra_config}\n[listen]\nsubmission = \"127.0.0.1:0\"\n\
                 submissions = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\n\
                 imap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nldap = \"127.0.0.1:0\"\nldaps = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n"
            );
            // Sweeps run "as of" a future date would also renew keys (and mail them to the
            // users); tests of other rules keep that out of their mailboxes, and the
            // renewal test turns it on.
            let text = if extra_config.contains("[keys]") { text } else { text + "[keys]\nauto_renew = false\n" };
            std::fs::write(&config, text).expect("write config");
        }
        let mut command = Command::new(BIN);
        command.args(["--data-dir", data.to_str().expect("utf-8 path"), "serve"]).envs(env.iter().copied());
        Self::spawn(command, data, stderr)
    }

    /// Starts a relay from a command that ends up running `caducee serve` (under `unshare`,
    /// say) and waits for its readiness lines; `data` is where the data folder is seen from
    /// here.
    pub fn spawn(mut command: Command, data: &Path, stderr: Stdio) -> Relay {
        let mut child =
            own_clock_lock(&mut command).stdout(Stdio::piped()).stderr(stderr).spawn().expect("start caducee serve");
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
        let lines = readiness_lines(stdout);
        let mut ports = HashMap::new();
        let mut addresses = HashMap::new();
        let mut seen = Vec::new();
        loop {
            let line = match lines.recv_timeout(START_LIMIT) {
                Ok(line) => line,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    // Its output closed (or could not be read): it has ended, or is stopped now.
                    let ended = child.try_wait().ok().flatten();
                    if ended.is_none() {
                        let _ = child.kill();
                    }
                    let status = child.wait().expect("wait for caducee serve");
                    let how = if ended.is_some() { "ended" } else { "closed its output and was stopped" };
                    panic!("caducee serve {how} ({status}) before it was ready; it printed {seen:?}");
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let threads = threads_of(child.id());
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "caducee serve printed nothing more for {START_LIMIT:?} before it was ready; it printed {seen:?}; \
                         its threads (name: kernel wait) were {threads:?}"
                    );
                }
            };
            seen.push(line.clone());
            let mut words = line.split_whitespace();
            if words.next() != Some("ready:") {
                continue;
            }
            let (Some(service), Some(address)) = (words.next(), words.next()) else {
                continue;
            };
            if service == "admin" {
                break;
            }
            let port = address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
            // A service on several addresses: the first is the one clients are told of.
            ports.entry(service.to_owned()).or_insert(port);
            addresses.entry(service.to_owned()).or_insert_with(Vec::new).push(address.parse().expect("an address"));
        }
        // The ten listeners every relay has; a relay port when configured.
        let expected = 10 + usize::from(ports.contains_key("relay"));
        assert_eq!(ports.len(), expected, "every listener reported ready: {ports:?}");
        Relay { child, data: data.to_path_buf(), ports, addresses, clock: Vec::new() }
    }

    pub fn port(&self, service: &str) -> String {
        self.ports[service].to_string()
    }

    /// A POP3 login over implicit TLS and a listing, as mailclient.py reports it (its
    /// `login_error` when refused).
    pub fn pop3_attempt(&self, user: &str, password: &str) -> Value {
        let (port, ca) = (self.port("pop3s"), self.ca());
        python(&["fetch", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", user, "--password", password])
    }

    /// Every address `service` listens on, as its readiness lines said.
    #[allow(dead_code)]
    pub fn addresses(&self, service: &str) -> &[std::net::SocketAddr] {
        &self.addresses[service]
    }

    pub fn ca(&self) -> String {
        self.data.join("tls/ca.pem").to_str().expect("utf-8 path").to_owned()
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        caducee_command(&self.data, args).envs(self.clock.iter().map(|(n, v)| (n, v))).output().expect("run caducee")
    }

    /// `caducee user add` as an administrator types it, printing text, on the relay's clock.
    /// Nothing is imported into gpg: keys made at a moved time would look "created in the
    /// future" to a gpg on the real clock.
    pub fn user_add(&self, address: &str, first_name: &str, last_name: &str) -> String {
        let output = self.user_add_with(address, first_name, last_name, &[]);
        String::from_utf8(output.stdout).expect("utf-8")
    }

    /// As [`Relay::user_add`], with `--json`.
    pub fn user_add_json(&self, address: &str, first_name: &str, last_name: &str) -> Value {
        let output = self.user_add_with(address, first_name, last_name, &["--json"]);
        serde_json::from_slice(&output.stdout).expect("user add prints JSON")
    }

    fn user_add_with(&self, address: &str, first_name: &str, last_name: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["user", "add", "--address", address, "--first-name", first_name, "--last-name", last_name];
        args.extend(["--contact-email", "contact@example.org"]);
        args.extend_from_slice(extra);
        let output = self.cli(&args);
        assert!(output.status.success(), "user add {address}: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    pub fn add_user(&self, local: &str, quota_mb: Option<u64>) -> (String, String) {
        let created = self.add_user_full(local, quota_mb);
        let address = created["address"].as_str().expect("address").to_owned();
        (address, created["password"].as_str().expect("password").to_owned())
    }

    /// `user add --json` as printed: address, password, fingerprint, bundle, installation
    /// code, certificate. The bundle is also installed into the tests' gpg keyring.
    pub fn add_user_full(&self, local: &str, quota_mb: Option<u64>) -> Value {
        let address = format!("{local}@relay.test");
        let mut args = vec![
            "user",
            "add",
            "--address",
            &address,
            "--first-name",
            "Claire",
            "--last-name",
            "Martin",
            "--contact-email",
            "contact@example.org",
            "--json",
        ];
        let quota = quota_mb.map(|q| q.to_string());
        if let Some(quota) = &quota {
            args.extend(["--quota-mb", quota]);
        }
        let output = self.cli(&args);
        assert!(output.status.success(), "user add: {}", String::from_utf8_lossy(&output.stderr));
        let created: Value = serde_json::from_slice(&output.stdout).expect("user add prints JSON");
        assert_eq!(created["address"], address.as_str());
        self.import_bundle(&address, &created);
        created
    }

    /// Installs a user's keys into the tests' gpg keyring (`<data>/../gnupg`, where
    /// [`compose`] finds them) from the bundle and code of `issued` (`user add` or `keys`
    /// output).
    pub fn import_bundle(&self, address: &str, issued: &Value) {
        let home = self.data.parent().expect("data folder in a test folder").join("gnupg");
        python(&[
            "import-bundle",
            "--home",
            home.to_str().expect("utf-8 path"),
            "--bundle",
            issued["bundle"].as_str().expect("bundle path"),
            "--code",
            issued["installation_code"].as_str().expect("installation code"),
            "--address",
            address,
        ]);
    }

    /// The day (UTC), on the relay's own clock, `address` got its first keys: the day its
    /// account was made. Days "N days later" count from it, never from the test's clock.
    pub fn created_day(&self, address: &str) -> chrono::NaiveDate {
        let output = self.cli(&["keys", "show", "--address", address, "--json"]);
        assert!(output.status.success(), "keys show: {}", String::from_utf8_lossy(&output.stderr));
        let shown: Value = serde_json::from_slice(&output.stdout).expect("keys show prints JSON");
        let created = shown["certificates"][0]["created_at"].as_i64().expect("created_at");
        chrono::DateTime::from_timestamp_millis(created).expect("a date").date_naive()
    }

    pub fn status(&self) -> Value {
        let output = self.cli(&["status", "--json"]);
        assert!(output.status.success(), "status: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("status prints JSON")
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        assert!(sent.success());
        self.child.wait().expect("wait for caducee")
    }

    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Relay {
    /// One submission with python's smtplib over implicit TLS; each step's reply as JSON.
    pub fn send(&self, sender: &str, password: &str, to: &str, message: &Path) -> Value {
        self.send_at(&self.port("submissions"), sender, password, to, message)
    }

    /// As [`Relay::send`], to the submission port `port` (one a client was told of).
    pub fn send_at(&self, port: &str, sender: &str, password: &str, to: &str, message: &Path) -> Value {
        let ca = self.ca();
        python(&[
            "send",
            "--port",
            port,
            "--tls",
            "implicit",
            "--ca",
            &ca,
            "--user",
            sender,
            "--password",
            password,
            "--sender",
            sender,
            "--to",
            to,
            "--file",
            message.to_str().expect("utf-8 path"),
        ])
    }

    /// Every message of a mailbox with python's poplib over implicit TLS (deleted at QUIT
    /// when `delete`), as retrieved.
    pub fn fetch(&self, user: &str, password: &str, delete: bool) -> Vec<Vec<u8>> {
        self.fetch_at(&self.port("pop3s"), user, password, delete)
    }

    /// As [`Relay::fetch`], from the POP3S port `port` (one a client was told of).
    pub fn fetch_at(&self, port: &str, user: &str, password: &str, delete: bool) -> Vec<Vec<u8>> {
        let ca = self.ca();
        let mut args = vec!["fetch", "--port", port, "--tls", "implicit", "--ca", &ca, "--user", user];
        args.extend(["--password", password]);
        if delete {
            args.push("--delete");
        }
        let fetched = python(&args);
        fetched["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("no messages in {fetched}"))
            .iter()
            .map(|m| {
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, m.as_str().expect("base64"))
                    .expect("base64")
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn caducee(data: &Path, args: &[&str]) -> std::process::Output {
    caducee_command(data, args).output().expect("run caducee")
}

fn caducee_command(data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(["--data-dir", data.to_str().expect("utf-8 path")]).args(args);
    command
}

/// `caducee` without a data folder: the practice client.
/// The practice client's own binary (`caducee-client`, crate appliance/client), built beside
/// `caducee` by `cargo test --workspace`.
pub fn client_binary() -> PathBuf {
    let path = Path::new(BIN).with_file_name(format!("caducee-client{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is not built: run the tests with `cargo test --workspace`", path.display());
    path
}

/// `client install` of the bundle of an account `user add --json` created (`created`), into
/// `profile`, with the password in `password_file`: the arguments after the program.
pub fn client_install_args(created: &Value, profile: &Path, password_file: &Path) -> Vec<String> {
    let text = |field: &str| created[field].as_str().unwrap_or_else(|| panic!("no {field} in {created}")).to_owned();
    let path = |path: &Path| path.to_str().expect("utf-8").to_owned();
    ["client", "install", "--bundle"]
        .into_iter()
        .map(str::to_owned)
        .chain([text("bundle"), "--code".into(), text("installation_code"), "--profile".into(), path(profile)])
        .chain(["--password-file".into(), path(password_file)])
        .collect()
}

/// tests/clients/imapclient.py, the IMAP client on python's imaplib.
pub fn imap_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/imapclient.py")
}

/// Runs tests/clients/imapclient.py (python's imaplib) and reads its JSON report.
#[allow(dead_code)]
pub fn imap_client(args: &[&str]) -> Value {
    let output = Command::new("python3").arg(imap_script()).args(args).output().expect("run python3");
    assert!(output.status.success(), "imapclient {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("imapclient {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

pub fn caducee_plain(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env_remove("CADUCEE_DATA_DIR").output().expect("run caducee")
}

pub fn python(args: &[&str]) -> Value {
    let output = Command::new("python3").arg(client_script()).args(args).output().expect("run python3");
    assert!(output.status.success(), "mailclient {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("mailclient {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

/// gpg keys for the given addresses in a fresh GNUPGHOME, and a PGP/MIME message from the
/// first address to all of them.
pub fn compose(dir: &Path, addresses: &[&str], subject: &str) -> PathBuf {
    compose_padded(dir, addresses, subject, 0)
}

/// As [`compose`], with the document grown by about `pad_bytes` of incompressible text.
pub fn compose_padded(dir: &Path, addresses: &[&str], subject: &str, pad_bytes: usize) -> PathBuf {
    compose_with(dir, addresses, subject, "Résultat: hémoglobine 14,2 g/dL", pad_bytes)
}

/// As [`compose`], with a text of the caller's (`@FILE` reads it from a file).
pub fn compose_with(dir: &Path, addresses: &[&str], subject: &str, text: &str, pad_bytes: usize) -> PathBuf {
    let home = dir.join("gnupg");
    let home = home.to_str().expect("utf-8 path");
    python(&["keys", "--home", home, "--addresses", &addresses.join(",")]);
    let out = dir.join("message.eml");
    let pad = pad_bytes.to_string();
    python(&[
        "compose",
        "--home",
        home,
        "--sender",
        addresses[0],
        "--to",
        &addresses.join(","),
        "--text",
        text,
        "--subject",
        subject,
        "--pad-bytes",
        &pad,
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    out
}

/// A loopback port no process holds, taken below the kernel's ephemeral range (32768 and
/// up on Linux): a `bind(0)` or an outgoing connection of another test never lands on it
/// between the moment a test chooses it and the moment it uses it (to start a server there
/// later, or to stand for a peer that is away). Tests choosing at the same time start from
/// different places (the process and a counter), and a port found taken is skipped.
/// `text` converted by iconv from UTF-8 into `charset` (`CP1252`, `ISO-8859-1`…), as a
/// French spreadsheet or a practice's software writes it.
#[allow(dead_code)]
pub fn iconv_from_utf8(charset: &str, text: &str) -> Vec<u8> {
    iconv("UTF-8", charset, text.as_bytes())
}

/// `bytes` read by iconv as `charset`, in UTF-8.
#[allow(dead_code)]
pub fn iconv_to_utf8(charset: &str, bytes: &[u8]) -> String {
    String::from_utf8(iconv(charset, "UTF-8", bytes)).expect("iconv writes UTF-8")
}

fn iconv(from: &str, to: &str, input: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("iconv")
        .args(["-f", from, "-t", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run iconv");
    child.stdin.take().expect("stdin").write_all(input).expect("to iconv");
    let converted = child.wait_with_output().expect("iconv");
    assert!(converted.status.success(), "iconv: {}", String::from_utf8_lossy(&converted.stderr));
    converted.stdout
}

/// A GET with curl, trusting `ca` when given (`-g`: IPv6 addresses in URLs): (status, body).
pub fn http_get(url: &str, ca: Option<&str>) -> (String, String) {
    let mut command = Command::new("curl");
    command.args(["-gsS", "-w", "\n%{http_code}"]);
    if let Some(ca) = ca {
        command.args(["--cacert", ca]);
    }
    let output = command.arg(url).output().expect("curl (apt-get install curl)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("a status line");
    (status.to_owned(), body.to_owned())
}

/// Reads `stream` line by line until a line contains `pattern` (true), or it ends (false);
/// what follows is read on by a thread, so that the writer never blocks on a full pipe.
/// A wait on what a process says, never on the clock.
pub fn read_until(stream: impl std::io::Read + Send + 'static, pattern: &str) -> bool {
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.contains(pattern) => break,
            Ok(_) => {}
        }
    }
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    true
}

pub fn unclaimed_port() -> u16 {
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static CHOSEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let turn = CHOSEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = std::process::id().wrapping_mul(7_919).wrapping_add(turn.wrapping_mul(613)) % SPAN;
    (0..SPAN)
        .map(|step| FIRST + (start + step) % SPAN)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port as u16)).is_ok())
        .map(|port| port as u16)
        .expect("a free loopback port below the ephemeral range")
}

/// A plain SMTP sink standing in for the smarthost (tests/clients/mailclient.py sink).
pub struct Sink {
    child: Child,
    pub port: u16,
    received: std::sync::mpsc::Receiver<Value>,
}

impl Sink {
    pub fn start() -> Sink {
        Sink::start_on(0)
    }

    /// A sink on a chosen port (any free one for 0).
    pub fn start_on(port: u16) -> Sink {
        let mut child = own_clock_lock(&mut Command::new("python3"))
            .arg(client_script())
            .args(["sink", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first: Value = serde_json::from_str(&lines.next().expect("sink line").expect("read")).expect("JSON");
        let port = first["listening"].as_u64().expect("sink port") as u16;
        let (sender, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    if sender.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        Sink { child, port, received }
    }

    /// Whether a message reached the sink already (without waiting for one).
    pub fn has_received(&self) -> bool {
        self.received.try_recv().is_ok()
    }

    /// The next message the sink received, as (envelope recipients, data). Fails the test
    /// if none comes within a minute: a guard against hanging, not a timing assumption.
    pub fn next(&self) -> (Vec<String>, String) {
        let value = self.received.recv_timeout(std::time::Duration::from_secs(60)).expect("a notice reached the sink");
        let rcpt =
            value["rcpt"].as_array().expect("rcpt").iter().filter_map(|r| r.as_str().map(str::to_owned)).collect();
        let data =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, value["data"].as_str().expect("data"))
                .expect("base64");
        (rcpt, String::from_utf8_lossy(&data).into_owned())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or_else(|| panic!("no code in {v}"))
}

pub fn text(v: &Value) -> &str {
    v["text"].as_str().unwrap_or_default()
}

/// The message as stored, without the Received field the relay adds in front.
pub fn without_trace_header(message: &[u8]) -> &[u8] {
    assert!(message.starts_with(b"Received: "), "the relay adds a trace header");
    let mut rest = message;
    // The Received field and its folded continuation lines.
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").expect("line end") + 2;
        rest = &rest[end..];
        if !rest.starts_with(b"\t") && !rest.starts_with(b" ") {
            return rest;
        }
    }
}

/// One run of the scripted browser (tests/clients/portal.py) against the relay's personal
/// space, its cookies kept in `jar` between runs, at the relay's clock.
pub fn browser(relay: &Relay, jar: &Path, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/portal.py");
    let base = format!("https://127.0.0.1:{}", relay.port("https"));
    let output = Command::new("python3")
        .arg(script)
        .args(["--base", &base, "--ca", &relay.ca(), "--state", jar.to_str().expect("utf-8")])
        .args(args)
        .envs(relay.clock.iter().map(|(n, v)| (n, v)))
        .output()
        .expect("python3");
    assert!(output.status.success(), "portal.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// A key issuer (`caducee issuer`) of its own, in `dir`, holding the relay's key from
/// `data`: its socket is `dir/issuer.sock`, its bundles go to `dir/issued`.
pub struct Issuer {
    child: Child,
    pub socket: PathBuf,
    pub bundles: PathBuf,
}

impl Issuer {
    /// Started once the relay on `data` has made its key; returns when it listens.
    pub fn start(dir: &Path, data: &Path) -> Issuer {
        let socket = dir.join("issuer.sock");
        let bundles = dir.join("issued");
        let mut child = own_clock_lock(&mut Command::new(BIN))
            .arg("--data-dir")
            .arg(data)
            .arg("issuer")
            .arg("--socket")
            .arg(&socket)
            .arg("--bundles")
            .arg(&bundles)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start caducee issuer");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut first).expect("the issuer's first line");
        assert!(first.starts_with("caducee issuer: listening on "), "{first:?}");
        Issuer { child, socket, bundles }
    }

    /// Stops it (a key issuer that is down).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `[keys]` lines that send a relay's issues to this issuer (before it starts).
    pub fn config(dir: &Path) -> String {
        format!("[keys]\nissuer = {:?}\nauto_renew = true\n", dir.join("issuer.sock").to_str().expect("utf-8 path"))
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS client on one of the relay's implicit-TLS ports, written to and read from by
/// hand: the bytes cut as a test chooses, each piece its own TLS record; reads the relay's
/// lines.
pub struct Raw {
    pub stream: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    read: Vec<u8>,
}

impl Raw {
    /// To `service`'s implicit-TLS port, verified against the relay's CA as `localhost`.
    pub fn connect(relay: &Relay, service: &str) -> Raw {
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls::pki_types::CertificateDer::pem_file_iter(relay.ca()).expect("the CA") {
            roots.add(certificate.expect("a certificate")).expect("a root");
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
        let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("TLS");
        let tcp = std::net::TcpStream::connect(("127.0.0.1", relay.port(service).parse::<u16>().expect("port")))
            .expect("connect");
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
        Raw { stream: rustls::StreamOwned::new(connection, tcp), read: Vec::new() }
    }

    /// Writes `bytes` `chunk` bytes at a time, each piece flushed as its own TLS record.
    pub fn write_in_chunks(&mut self, bytes: &[u8], chunk: usize) {
        use std::io::Write as _;
        for piece in bytes.chunks(chunk) {
            self.stream.write_all(piece).expect("write");
            self.stream.flush().expect("flush");
        }
    }

    pub fn send(&mut self, line: &str) {
        self.write_in_chunks(format!("{line}\r\n").as_bytes(), usize::MAX);
    }

    /// Everything the relay says up to and including the first line starting with `until`.
    pub fn until(&mut self, until: &str) -> String {
        use std::io::Read as _;
        let mut said = String::new();
        loop {
            while let Some(end) = self.read.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.read.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                said.push_str(&line);
                if line.starts_with(until) {
                    return said;
                }
            }
            let mut buffer = [0u8; 4096];
            let read = self.stream.read(&mut buffer).unwrap_or(0);
            assert!(read > 0, "the relay closed before {until:?}:\n{said}");
            self.read.extend_from_slice(&buffer[..read]);
        }
    }
}

/// imapclient.py idling on a mailbox's INBOX over IMAPS, until it hears of a new message.
pub struct Idler {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Idler {
    /// Logs `user` in on `relay`'s IMAPS port and waits until the server accepted IDLE.
    pub fn start(relay: &Relay, user: &str, password: &str) -> Idler {
        let (port, ca) = (relay.port("imaps"), relay.ca());
        let mut child = Command::new("python3")
            .arg(imap_script())
            .args(["idle", "--port", &port, "--tls", "implicit", "--ca", &ca, "--user", user, "--password", password])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python3");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("idling"), "the server accepted IDLE");
        Idler { child, lines }
    }

    /// Its report, once it heard of a new message, ended IDLE and logged out.
    pub fn report(mut self) -> Value {
        let report = serde_json::from_str(&self.lines.next().and_then(Result::ok).expect("a report")).expect("JSON");
        assert!(self.child.wait().expect("idler").success());
        report
    }
}
