//! The relay port's question to the relay: which operator do the TLS client certificates
//! a session presented name, and does the trust list let it send for a sender's domain?
//! The relay answers it ([`Operators`], in `caducee`'s federation module) with the trust
//! space's CA bundle and the trust list in force.

use caducee_storage::Address;
use rustls::pki_types::CertificateDer;

/// Decides whether a peer operator may send for a sender's domain.
pub trait Operators: Send + Sync {
    /// `certificates`: what the client presented in the handshake, end entity first (empty:
    /// none); `sender`: `None` for the null sender (a delivery status notification), which
    /// any operator of the list may send. The refusal's text is for a peer operator's
    /// postmaster.
    fn check(&self, certificates: &[CertificateDer<'static>], sender: Option<&Address>) -> OperatorCheck;
}

/// The relay's answer about one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorCheck {
    /// Bound by the trust list; `operator` names it (its certificate's subject) in the trace
    /// field and the connection log; `domain` is the sender's domain, or for the null
    /// sender a domain the list binds to that operator.
    Bound { operator: String, domain: String },
    /// Why not: no certificate, an unknown authority, a subject not bound to that domain, a
    /// domain not in the list, no list at all.
    Refused(String),
    /// The trust list could not be read now.
    TryLater,
}

/// Where a practice's mail for other domains can go: the operators the trust list binds to
/// those domains, through the outbound queue.
pub trait Peers: Send + Sync {
    /// `Ok` when mail for `domain` can leave for a peer operator; otherwise why not, in
    /// words for the sender. Never asked about this relay's own domain.
    fn relays_to(&self, domain: &str) -> Result<(), String>;
    /// A message was just queued for peer operators: deliver it soon.
    fn queued(&self);
}
