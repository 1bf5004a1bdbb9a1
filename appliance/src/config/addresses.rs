//! The addresses one service listens on: one (`submission = "0.0.0.0:587"`) or several
//! (`submission = ["0.0.0.0:587", "[::]:587"]`, dual stack), and how they are bound.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where one service listens: at least one address, none twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses(Vec<SocketAddr>);

impl Addresses {
    /// The first address: the one the relay names to clients (bundles, autoconfig).
    pub fn first(&self) -> SocketAddr {
        self.0[0]
    }

    pub fn port(&self) -> u16 {
        self.first().port()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SocketAddr> {
        self.0.iter()
    }

    /// Binds every address, in order. An IPv6 socket takes IPv6 only, so `0.0.0.0:587` and
    /// `[::]:587` are two listeners side by side. On a machine without IPv6, `[::]` is
    /// skipped with a warning when another address of the service binds.
    pub fn bind(&self, service: &str) -> anyhow::Result<Vec<TcpListener>> {
        let mut bound = Vec::new();
        for address in &self.0 {
            match bind_one(*address) {
                Ok(listener) => bound.push(listener),
                Err(error) if address.ip().is_unspecified() && address.is_ipv6() && is_no_ipv6(&error) => {
                    tracing::warn!(service, %address, %error, "IPv6 is off on this machine: not listening on it");
                }
                Err(error) => return Err(error).with_context(|| format!("binding {service} on {address}")),
            }
        }
        if bound.is_empty() {
            anyhow::bail!("{service}: none of {self} could be bound");
        }
        Ok(bound)
    }
}

/// One listening socket, as std's `TcpListener::bind` makes it (address reuse, so a restart
/// does not wait for old connections to time out) but IPv6-only for IPv6 addresses and
/// with a deeper accept queue.
fn bind_one(address: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// IPv6 switched off (`ipv6.disable=1`): the family or the address is not there.
fn is_no_ipv6(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc_codes::EAFNOSUPPORT | libc_codes::EADDRNOTAVAIL))
}

/// The two errno values of Linux this needs (no libc dependency for two numbers).
mod libc_codes {
    pub const EADDRNOTAVAIL: i32 = 99;
    pub const EAFNOSUPPORT: i32 = 97;
}

impl schemars::JsonSchema for Addresses {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Addresses".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "an address (\"0.0.0.0:587\") or a list of them (\"[::]:587\" for IPv6)",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        })
    }
}

impl From<SocketAddr> for Addresses {
    fn from(address: SocketAddr) -> Self {
        Addresses(vec![address])
    }
}

impl std::fmt::Display for Addresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&words.join(", "))
    }
}

/// One address as a string, several as a list: a configuration written for one address
/// reads as before.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(SocketAddr),
    Many(Vec<SocketAddr>),
}

impl Serialize for Addresses {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => OneOrMany::One(*one).serialize(serializer),
            many => OneOrMany::Many(many.to_vec()).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let addresses = match OneOrMany::deserialize(deserializer).map_err(|_| {
            D::Error::custom("expected an address as \"0.0.0.0:587\" or \"[::]:587\", or a list of them")
        })? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        };
        if addresses.is_empty() {
            return Err(D::Error::custom("an empty list: give at least one address"));
        }
        for (i, address) in addresses.iter().enumerate() {
            if addresses[..i].contains(address) {
                return Err(D::Error::custom(format!("{address} is listed twice")));
            }
        }
        Ok(Addresses(addresses))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Listen {
        smtp: Addresses,
    }

    #[test]
    fn one_address_or_a_list_reads_and_writes_back_the_same() {
        let one: Listen = toml::from_str("smtp = \"0.0.0.0:587\"").expect("one");
        assert_eq!(one.smtp.iter().count(), 1);
        assert_eq!(toml::to_string(&one).expect("toml"), "smtp = \"0.0.0.0:587\"\n");
        let two: Listen = toml::from_str("smtp = [\"0.0.0.0:587\", \"[::]:587\"]").expect("two");
        assert_eq!(two.smtp.to_string(), "0.0.0.0:587, [::]:587");
        assert_eq!(toml::to_string(&two).expect("toml"), "smtp = [\"0.0.0.0:587\", \"[::]:587\"]\n");
        for bad in ["smtp = []", "smtp = [\"0.0.0.0:587\", \"0.0.0.0:587\"]", "smtp = \"587\""] {
            let error = toml::from_str::<Listen>(bad).expect_err(bad).to_string();
            assert!(
                error.contains("give at least one") || error.contains("twice") || error.contains("expected an address"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_two_families_bind_side_by_side_on_one_port() {
        let first = Addresses::from("127.0.0.1:0".parse::<SocketAddr>().expect("v4")).bind("test").expect("v4");
        let port = first[0].local_addr().expect("bound").port();
        let both: Addresses = toml::from_str::<Listen>(&format!("smtp = [\"[::1]:{port}\"]")).expect("v6").smtp;
        let bound = both.bind("test").expect("IPv6 beside IPv4 on the same port");
        assert_eq!(bound[0].local_addr().expect("bound").port(), port);
    }
}
