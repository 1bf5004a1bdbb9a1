//! The names the relay's server certificate carries, taken from the configuration, and the
//! part of them a CA's name constraints permit.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Config;

/// DNS names and IP addresses, each set sorted and without duplicates (DNS names in lower
/// case), so that two certificates' names compare equal whatever their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// The first is the certificate's subject: the host name.
    pub subject: String,
    pub dns: BTreeSet<String>,
    pub ips: BTreeSet<IpAddr>,
}

impl Names {
    /// Every name practices and their software reach this relay by: its host name, its mail
    /// domain, `openpgpkey.<domain>` (WKD's advanced method) and `autoconfig.<domain>` (mail
    /// clients' autoconfiguration), the public host of
    /// installation bundles, `localhost`; the loopback address and every address a listener
    /// is bound to (not the wildcard ones).
    pub fn of(config: &Config) -> Names {
        let mut names = Names { subject: config.hostname().to_ascii_lowercase(), ..Names::default() };
        names.add(config.hostname());
        names.add(&config.domain);
        names.add(&format!("openpgpkey.{}", config.domain));
        names.add(&format!("autoconfig.{}", config.domain));
        names.add("localhost");
        if let Some(host) = &config.keys.public_host {
            names.add(host);
        }
        names.ips.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
        names.ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let listen = &config.listen;
        let bound = [
            &listen.submission,
            &listen.submissions,
            &listen.pop3,
            &listen.pop3s,
            &listen.imap,
            &listen.imaps,
            &listen.https,
            &listen.ldap,
            &listen.ldaps,
        ];
        names.ips.extend(bound.iter().flat_map(|a| a.iter()).map(|a| a.ip()).filter(|ip| !ip.is_unspecified()));
        names
    }

    /// A DNS name, or an IP address written as text (a `public_host` may be either).
    pub fn add(&mut self, name: &str) {
        let name = name.trim_matches(['[', ']']);
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                self.ips.insert(ip);
            }
            Err(_) => {
                self.dns.insert(name.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }

    /// The names `constraints` permit (all of them without constraints): a certificate with a
    /// name outside its CA's constraints is refused whole by clients, so the others are kept.
    pub fn permitted_by(&self, constraints: Option<&Constraints>) -> Names {
        let Some(constraints) = constraints else {
            return self.clone();
        };
        Names {
            subject: self.subject.clone(),
            dns: self.dns.iter().filter(|name| constraints.permits_dns(name)).cloned().collect(),
            ips: self.ips.iter().filter(|ip| constraints.permits_ip(**ip)).copied().collect(),
        }
    }

    /// The names of `self` missing from `other`, for the administrator.
    pub fn missing_from(&self, other: &Names) -> Vec<String> {
        let dns = self.dns.difference(&other.dns).cloned();
        dns.chain(self.ips.difference(&other.ips).map(IpAddr::to_string)).collect()
    }

    /// Same DNS names and addresses (the subject is not compared: clients read the others).
    pub fn same_as(&self, other: &Names) -> bool {
        self.dns == other.dns && self.ips == other.ips
    }
}

/// A CA's permitted subtrees (RFC 5280 4.2.1.10). A kind of name with no subtree is not
/// constrained; one with subtrees is limited to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub dns: Vec<String>,
    /// Address and mask, each 4 or 16 bytes.
    pub ips: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Constraints {
    /// A DNS subtree holds its own name and every name under it.
    fn permits_dns(&self, name: &str) -> bool {
        self.dns.is_empty()
            || self.dns.iter().any(|base| {
                let base = base.trim_start_matches('.').to_ascii_lowercase();
                name == base || name.strip_suffix(&base).is_some_and(|head| head.ends_with('.'))
            })
    }

    fn permits_ip(&self, ip: IpAddr) -> bool {
        let octets = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        self.ips.is_empty()
            || self.ips.iter().any(|(address, mask)| {
                address.len() == octets.len()
                    && mask.len() == octets.len()
                    && octets.iter().zip(address).zip(mask).all(|((o, a), m)| o & m == a & m)
            })
    }
}
