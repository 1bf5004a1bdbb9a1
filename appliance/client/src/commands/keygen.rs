//! `keygen`: the practice makes its next keys itself, so that their secret
//! parts never leave it. The public certificate goes to the relay (`POST /keys/submit`,
//! the account's address and password over TLS); the relay checks it, certifies it with its
//! own key and publishes it; the answer is installed only if it is this certificate with
//! the certification of the relay key the profile holds (`relay.pgp`, from the bundle).

use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use sequoia_openpgp::parse::Parse as _;
use sequoia_openpgp::serialize::SerializeInto as _;
use sequoia_openpgp::Cert;

use crate::{calendar, keys};

use super::{load_profile, password, relay_certificate, write_private, InstalledEdition};

/// Within this many days of the year's end the keys run to the end of next year, as the
/// relay issues them by default (`[keys] next_year_within_days`).
const NEXT_YEAR_WITHIN_DAYS: u64 = 90;
/// Largest answer read from the relay.
const ANSWER_BYTES_MAX: u64 = 256 * 1024;

pub(super) fn keygen(dir: &Path, name: Option<&str>) -> anyhow::Result<super::Said> {
    let mut profile = load_profile(dir)?;
    let address = profile.address.clone();
    let relay = relay_certificate(dir)?
        .context("this profile has no relay certificate (relay.pgp): install a current bundle first")?;
    let now = calendar::millis(SystemTime::now());
    let expires_at = calendar::first_expiry(now, NEXT_YEAR_WITHIN_DAYS);
    eprintln!("making keys for {address} until {}", calendar::iso_date(expires_at));
    let keys = keys::generate_for_practice(&address, name, now, expires_at)?;
    let public = keys.clone().strip_secret_key_material().armored().to_vec()?;

    let ca = std::fs::read(dir.join("ca.pem")).context("reading the profile's CA certificate")?;
    let agent = ureq::AgentBuilder::new()
        .tls_config(super::tls_roots_from(&ca)?)
        .timeout(std::time::Duration::from_secs(60))
        .build();
    let e = &profile.endpoints;
    let url = format!("https://{}:{}/keys/submit", e.host, e.https_port);
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", profile.address, password(dir)?),
    );
    let answer = match agent
        .post(&url)
        .set("Authorization", &format!("Basic {credentials}"))
        .set("Content-Type", "application/pgp-keys")
        .send_bytes(&public)
    {
        Ok(response) => read_json(response)?,
        Err(ureq::Error::Status(code, response)) => {
            let why = read_json(response).ok().and_then(|v| v["error"].as_str().map(str::to_owned));
            bail!("the relay refused the keys ({code}): {}", why.unwrap_or_else(|| "no reason given".into()))
        }
        Err(error) => bail!("the relay is unreachable at {url}: {error}"),
    };

    let certified = Cert::from_bytes(answer["certificate"].as_str().unwrap_or_default().as_bytes())
        .context("the relay's answer holds no certificate")?;
    if certified.fingerprint() != keys.fingerprint() {
        bail!("the relay answered with another certificate ({}); nothing installed", certified.fingerprint());
    }
    let relay_handle = relay.key_handle();
    let vouched = certified
        .userids()
        .all(|uid| uid.certifications().any(|s| s.get_issuers().iter().any(|issuer| issuer.aliases(&relay_handle))));
    if !vouched {
        bail!("the certificate came back without the certification of this profile's relay key; nothing installed");
    }
    let installed = keys.merge_public(certified)?;
    let fingerprint = installed.fingerprint().to_hex();
    write_private(&dir.join("keys").join(format!("{fingerprint}.pgp")), &installed.as_tsk().to_vec()?)?;
    let edition = u32::try_from(answer["edition"].as_u64().unwrap_or(0)).unwrap_or(0);
    profile.editions.retain(|e| e.fingerprint != fingerprint);
    profile.editions.push(InstalledEdition { edition, fingerprint: fingerprint.clone(), expires_at });
    write_private(&dir.join("profile.json"), &serde_json::to_vec_pretty(&profile)?)?;
    let until = calendar::iso_date(expires_at);
    let text = format!(
        "edition {edition} {fingerprint}, valid until {until}: made here, certified and published by the relay\n"
    );
    Ok(super::Said::done(text, serde_json::json!({"edition": edition, "fingerprint": fingerprint, "expires": until})))
}

fn read_json(response: ureq::Response) -> anyhow::Result<serde_json::Value> {
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), ANSWER_BYTES_MAX), &mut body)?;
    Ok(serde_json::from_slice(&body)?)
}
