//! Micro-benchmarks of the message path's parts: the store's commits (one write, a batch,
//! concurrent writers sharing group commits), the SMTP and POP3 machines, the OpenPGP
//! structure check, and an actor round trip.
//!
//! `cargo bench -p caducee-bench --bench micro`; results in docs/benchmarks.md.

use std::time::Duration;

use base64::Engine as _;
use caducee_actors::pop3::{self, Maildrop, MaildropEntry, Pop3Server};
use caducee_actors::probe;
use caducee_actors::smtp::{self, Authenticated, DeliveryVerdict, RecipientVerdict, SmtpConfig, SmtpServer};
use caducee_actors::vocabulary::Destination;
use caducee_storage::{AccountId, Address, MessageId, Millis, NewAccount, Store, StoreOptions, Uid, DAY_MILLIS};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn message() -> Vec<u8> {
    let certificate = probe::throwaway_certificate("b@relay.test").expect("certificate");
    let armoured = probe::encrypted_document(4096, &certificate).expect("encrypt");
    probe::pgp_mime("a@relay.test", "b@relay.test", "Compte rendu", &armoured, written_now())
}

fn store_commits(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path(), &StoreOptions { map_bytes: 8 << 30, ..StoreOptions::default() }).expect("store");
    let new = |address: &str| NewAccount {
        address: Address::parse(address).expect("address"),
        first_name: "A".into(),
        last_name: "B".into(),
        contact_email: "c@example.org".into(),
        password_hash: String::new(),
        quota_bytes: u64::MAX / 4,
        created_at: Millis(1),
        directory: None,
    };
    let account = runtime.block_on(store.create_account(new("b@relay.test"))).expect("account");
    let sender = Address::parse("a@relay.test").expect("address");
    let body = vec![b'x'; 7700];

    let mut group = c.benchmark_group("store");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("accept, one durable commit per message", |b| {
        b.iter_batched(
            || store.seal(body.clone()).expect("seal"),
            |sealed| runtime.block_on(store.accept(sender.clone(), vec![account], sealed, Millis(2))).expect("accept"),
            BatchSize::SmallInput,
        )
    });
    for writers in [8u64, 64] {
        group.throughput(Throughput::Elements(writers));
        group.bench_function(format!("accept, {writers} concurrent writers (group commit)"), |b| {
            b.iter_batched(
                || (0..writers).map(|_| store.seal(body.clone()).expect("seal")).collect::<Vec<_>>(),
                |batch| {
                    runtime.block_on(async {
                        let writes: Vec<_> = batch
                            .into_iter()
                            .map(|sealed| {
                                let (store, sender) = (store.clone(), sender.clone());
                                tokio::spawn(
                                    async move { store.accept(sender, vec![account], sealed, Millis(2)).await },
                                )
                            })
                            .collect();
                        for write in writes {
                            write.await.expect("task").expect("accept");
                        }
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal 7.7 kB (AES-256-GCM, own key)", |b| b.iter(|| store.seal(body.clone()).expect("seal")));
    group.finish();
    store.close();
}

fn smtp_dialogue(c: &mut Criterion) {
    let message = message();
    let plain = base64::engine::general_purpose::STANDARD.encode("\0a@relay.test\0secret");
    let mut input =
        format!("EHLO x\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<a@relay.test>\r\nRCPT TO:<b@relay.test>\r\nDATA\r\n")
            .into_bytes();
    input.extend_from_slice(&message);
    input.extend_from_slice(b"QUIT\r\n");
    let mut group = c.benchmark_group("protocols");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("SMTP session, 7.7 kB PGP/MIME message (parse, unstuff, content check)", |b| {
        b.iter(|| {
            let mut machine =
                SmtpServer::new(SmtpConfig { hostname: "relay.test".into(), message_bytes_max: 1 << 20 }, true);
            let mut rest = &input[..];
            while !rest.is_empty() {
                let (used, effect) = machine.receive(rest);
                rest = &rest[used..];
                match effect {
                    Some(smtp::Effect::Authenticate { .. }) => machine.authenticated(Some(Authenticated {
                        account: AccountId(1),
                        address: Address::parse("a@relay.test").expect("address"),
                    })),
                    Some(smtp::Effect::CheckRecipient { .. }) => {
                        machine.recipient_checked(RecipientVerdict::Accept(Destination::Mailbox(AccountId(2))))
                    }
                    Some(smtp::Effect::Deliver(_)) => machine.delivered(DeliveryVerdict::Stored("1.x".into())),
                    Some(_) | None => {}
                }
                if used == 0 && rest.is_empty() {
                    break;
                }
            }
            machine.take_output()
        })
    });
    let stored = message[..message.len() - 3].to_vec();
    let pop3_input = b"USER b@relay.test\r\nPASS secret\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n";
    group.throughput(Throughput::Bytes(stored.len() as u64));
    group.bench_function("POP3 session, RETR of a 7.7 kB message (dot-stuffing)", |b| {
        b.iter(|| {
            let mut machine = Pop3Server::new("relay.test", true);
            let mut rest = &pop3_input[..];
            let mut pending = None;
            loop {
                let effect = match pending.take() {
                    Some(effect) => Some(effect),
                    None if rest.is_empty() => break,
                    None => {
                        let (used, effect) = machine.receive(rest);
                        rest = &rest[used..];
                        effect
                    }
                };
                pending = match effect {
                    Some(pop3::Effect::Authenticate { .. }) => machine.authenticated(true),
                    Some(pop3::Effect::OpenMaildrop) => {
                        let entry = MaildropEntry { uid: Uid(1), message: MessageId(1), size: stored.len() as u64 };
                        machine.maildrop_opened(Ok(Maildrop { entries: vec![entry], delete_on_retrieve: false }));
                        None
                    }
                    Some(pop3::Effect::Retrieve { top_lines, .. }) => {
                        machine.retrieved(Some(stored.clone()), top_lines);
                        None
                    }
                    Some(pop3::Effect::Update { .. }) => Some(machine.updated(true)),
                    Some(_) | None => None,
                };
            }
            machine.take_output()
        })
    });
    group.finish();
}

fn content_check(c: &mut Criterion) {
    let message = message();
    let body = &message[..message.len() - 3];
    let mut group = c.benchmark_group("content");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("OpenPGP structure check of a 7.7 kB PGP/MIME message", |b| {
        b.iter(|| caducee_actors::content::check_encrypted_message(body).expect("encrypted"))
    });
    // Its parts: the armoured OpenPGP data alone (dearmour + packet walk).
    let text = String::from_utf8_lossy(body);
    let start = text.find("-----BEGIN PGP MESSAGE-----").expect("armour");
    let end = text.find("-----END PGP MESSAGE-----").expect("armour end") + "-----END PGP MESSAGE-----".len();
    let armoured = text[start..end].as_bytes().to_vec();
    group.bench_function("  of which: dearmour and walk the packets", |b| {
        b.iter(|| {
            let mut found = caducee_actors::content::EncryptedContent { recipients: Vec::new(), encrypted_parts: 0 };
            caducee_actors::content::check_openpgp(&armoured, &mut found).expect("encrypted")
        })
    });
    group.finish();
}

struct Echo;
impl actix::Actor for Echo {
    type Context = actix::Context<Self>;
}
#[derive(actix::Message)]
#[rtype(result = "u64")]
struct Ping(u64);
impl actix::Handler<Ping> for Echo {
    type Result = u64;
    fn handle(&mut self, msg: Ping, _: &mut actix::Context<Self>) -> u64 {
        msg.0 + 1
    }
}

fn actor_round_trip(c: &mut Criterion) {
    let system = actix_rt::System::new();
    let mut group = c.benchmark_group("actors");
    group.throughput(Throughput::Elements(1));
    group.bench_function("request/reply round trip to an actor (same thread)", |b| {
        // The actor lives within one `block_on`: it runs only while the system's loop does.
        b.iter_custom(|iterations| {
            system.block_on(async move {
                let addr = actix::Actor::start(Echo);
                let started = std::time::Instant::now();
                let mut n = 0;
                for _ in 0..iterations {
                    n = addr.send(Ping(n)).await.expect("reply");
                }
                std::hint::black_box(n);
                started.elapsed()
            })
        })
    });
    group.finish();
}

/// The key vault: issuing one edition (keys, prepared revocations, bundle under its code),
/// and the submission check a recipient's certificates add to every message.
fn key_vault(c: &mut Criterion) {
    use caducee_actors::keyvault::{self, Endpoints, IssueRequest};
    let at = Millis(1_795_651_200_000); // 2026-11-26
    let request = IssueRequest {
        account: AccountId(1),
        address: Address::parse("dr.martin@relay.test").expect("address"),
        name: None,
        edition: 1,
        at,
        expires_at: keyvault::end_of_year(at),
        endpoints: Endpoints { host: "relay.test".into(), submissions_port: 465, pop3s_port: 995, https_port: 443 },
        ca_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
    };
    let mut group = c.benchmark_group("keyvault");
    group.sample_size(20);
    group.bench_function("issue one edition (certificate, revocations, bundle)", |b| {
        b.iter(|| keyvault::issue(&request).expect("issue"))
    });
    // Two editions (this year's and next year's), a message encrypted to the newer one.
    let old = keyvault::issue(&request).expect("issue").record;
    let new = keyvault::issue(&IssueRequest {
        edition: 2,
        expires_at: keyvault::end_of_year(request.expires_at),
        ..request.clone()
    })
    .expect("issue")
    .record;
    let certificate = keyvault::armored(&new).expect("armour");
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.0 + DAY_MILLIS);
    let armoured = probe::encrypted_document_at(4096, &certificate, Some(when)).expect("encrypt");
    let message = probe::pgp_mime("a@relay.test", "dr.martin@relay.test", "Compte rendu", &armoured, written_now());
    let pkesk =
        caducee_actors::content::check_encrypted_message(&message[..message.len() - 3]).expect("encrypted").recipients;
    let editions = vec![old.keys(), new.keys()];
    let now = Millis(at.0 + DAY_MILLIS);
    group.bench_function("submission key check, one recipient with two editions", |b| {
        b.iter(|| keyvault::check_recipient_keys(&editions, &pkesk, now).expect("accepted"))
    });
    group.finish();
}

criterion_group!(benches, store_commits, smtp_dialogue, content_check, actor_round_trip, key_vault);
criterion_main!(benches);

/// The time a load message says it was written (the load generator reads the real clock).
fn written_now() -> u64 {
    caducee_client::calendar::millis(std::time::SystemTime::now())
}
