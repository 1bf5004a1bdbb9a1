//! An Unbound DNS server on loopback, serving the records a test gives it for
//! `caducee.test.` (Debian's `unbound`; its system service is not used).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::unclaimed_port;

/// An Unbound serving `records` (zone file lines) for the test's domain on 127.0.0.1.
pub struct Unbound {
    child: Child,
    pub port: u16,
}

impl Unbound {
    pub fn start(dir: &Path, name: &str, records: &[String]) -> Unbound {
        let port = unclaimed_port();
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).expect("folder");
        let data: String = records.iter().map(|r| format!("    local-data: '{r}'\n")).collect();
        let config = format!(
            "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-daemonize: no\n    username: \"\"\n    \
             chroot: \"\"\n    directory: \"{folder}\"\n    pidfile: \"\"\n    use-syslog: no\n    logfile: \"\"\n    \
             verbosity: 1\n    do-ip6: no\n    module-config: \"iterator\"\n    access-control: 127.0.0.0/8 allow\n    \
             local-zone: \"caducee.test.\" static\n{data}remote-control:\n    control-enable: no\n",
            folder = folder.display()
        );
        let path = folder.join("unbound.conf");
        std::fs::write(&path, config).expect("unbound.conf");
        let checked =
            Command::new("unbound-checkconf").arg(&path).output().expect("unbound-checkconf (apt-get install unbound)");
        assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
        let mut child =
            Command::new("unbound").args(["-d", "-c"]).arg(&path).stderr(Stdio::piped()).spawn().expect("unbound");
        // Ready once it says so (its log goes to standard error).
        let said = child.stderr.take().expect("piped stderr");
        assert!(super::read_until(said, "start of service"), "unbound did not start on port {port}");
        Unbound { child, port }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
