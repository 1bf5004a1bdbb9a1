//! The anonymous HTTPS endpoints' request rate, against a real relay driven by python's
//! http.client: past `[limits] http_requests_per_ip_per_minute`, key discovery and the
//! directory answer `429 Too Many Requests` with `Retry-After`; the personal space is not
//! counted.

mod common;

use std::process::Command;

use common::Relay;

/// Makes each request named on its command line (after the port and the CA) over one
/// keep-alive TLS connection, and prints `status retry-after first-line-of-body` for each.
const REQUESTS: &str = r#"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
connection = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=30)
for path in sys.argv[3:]:
    connection.request("GET", path, headers={"Host": "relay.test"})
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace").strip().split("\n")[0]
    print(response.status, response.getheader("Retry-After", "-"), body[:120], flush=True)
"#;

/// Each answer as (status, Retry-After, first line of the body).
fn get(relay: &Relay, paths: &[&str]) -> Vec<(u16, String, String)> {
    let port = relay.port("https");
    let ca = relay.ca();
    let mut args = vec!["-c", REQUESTS, &port, &ca];
    args.extend_from_slice(paths);
    let output = Command::new("python3").args(&args).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| {
            let mut words = line.splitn(3, ' ');
            let status = words.next().and_then(|s| s.parse().ok()).expect("a status");
            let retry = words.next().unwrap_or_default().to_owned();
            (status, retry, words.next().unwrap_or_default().to_owned())
        })
        .collect()
}

#[test]
fn the_request_past_an_address_rate_gets_429_with_retry_after_and_the_portal_is_not_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three a minute: a token comes back every 20 seconds, far longer than these requests
    // take over one connection.
    let relay = Relay::start(&dir.path().join("data"), "[limits]\nhttp_requests_per_ip_per_minute = 3\n");
    let (alice, _) = relay.add_user("alice", None);
    let lookup = format!("/pks/lookup?op=get&search={alice}");
    let answers = get(
        &relay,
        &[
            "/login",
            &lookup,
            "/.well-known/openpgpkey/relay.test/policy",
            "/login",
            "/directory",
            "/directory.csv",
            "/login",
            "/account",
        ],
    );
    let statuses: Vec<u16> = answers.iter().map(|(status, _, _)| *status).collect();
    // The portal's pages (a login form, a redirection to it) are served whatever the count.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 200, 303], "{answers:?}");
    let (_, retry_after, sentence) = &answers[5];
    let seconds: u64 = retry_after.parse().unwrap_or_else(|_| panic!("Retry-After: {retry_after:?}"));
    assert!((1..=20).contains(&seconds), "a token comes back within 20 s: {seconds}");
    assert!(sentence.starts_with("Too many requests from your address; try again in "), "{sentence}");
    // Every anonymous endpoint is counted: key discovery by both protocols, the directory.
    let more =
        get(&relay, &["/.well-known/openpgpkey/hu/anything", "/directory/search?q=x", "/directory.ldif", &lookup]);
    assert!(more.iter().all(|(status, retry, _)| *status == 429 && retry != "-"), "{more:?}");
}
