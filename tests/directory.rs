//! The directory end to end, with real clients: ldapsearch over StartTLS and LDAPS, curl
//! for the web page and the files, python's csv module, ldapmodify's LDIF parser, and a
//! headless Chromium on the web page.

// An end-to-end scenario reads as one story, step after step: the 100-line rule is for the
// relay's own code.
#![allow(clippy::too_many_lines)]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::Relay;
use serde_json::Value;

/// An RPPS number with a valid check digit (Luhn), from ten digits.
fn rpps(stem: &str) -> String {
    (0..10)
        .map(|d| format!("{stem}{d}"))
        .find(|candidate| {
            let sum: u32 = candidate
                .bytes()
                .rev()
                .enumerate()
                .map(|(i, b)| {
                    let d = u32::from(b - b'0');
                    if i % 2 == 1 {
                        if d * 2 > 9 {
                            d * 2 - 9
                        } else {
                            d * 2
                        }
                    } else {
                        d
                    }
                })
                .sum();
            sum.is_multiple_of(10)
        })
        .expect("a check digit")
}

/// A FINESS number with a valid check digit.
fn finess(stem: &str) -> String {
    rpps(stem) // the same Luhn rule over nine digits
}

fn add(relay: &Relay, local: &str, first: &str, last: &str, extra: &[&str]) -> Value {
    let address = format!("{local}@relay.test");
    let mut args = vec![
        "user",
        "add",
        "--address",
        &address,
        "--first-name",
        first,
        "--last-name",
        last,
        "--contact-email",
        "contact@example.org",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = relay.cli(&args);
    assert!(output.status.success(), "user add {local}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

struct Ldap<'a> {
    relay: &'a Relay,
}

impl Ldap<'_> {
    fn search(&self, how: &str, extra: &[&str], filter: &str, attributes: &[&str]) -> Output {
        let uri = match how {
            "starttls" => format!("ldap://127.0.0.1:{}", self.relay.port("ldap")),
            _ => format!("ldaps://127.0.0.1:{}", self.relay.port("ldaps")),
        };
        let mut command = Command::new("ldapsearch");
        command.env("LDAPTLS_CACERT", self.relay.ca()).args(["-LLL", "-x", "-H", &uri]);
        if how == "starttls" {
            command.arg("-ZZ");
        }
        command.args(["-b", "ou=directory,dc=relay,dc=test"]).args(extra).arg(filter).args(attributes);
        command.output().expect("ldapsearch (apt-get install ldap-utils)")
    }

    /// The mail addresses a search returns.
    fn mails(&self, how: &str, extra: &[&str], filter: &str) -> BTreeSet<String> {
        let output = self.search(how, extra, filter, &["mail"]);
        assert!(output.status.success(), "ldapsearch {filter}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("mail: "))
            .map(str::to_owned)
            .collect()
    }
}

fn https(relay: &Relay, path: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--cacert", &relay.ca()])
        .arg(format!("https://127.0.0.1:{}{path}", relay.port("https")))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.parse().expect("status"), body.to_owned())
}

fn set(relay: &Relay, args: &[&str]) -> Output {
    let mut all = vec!["directory", "set"];
    all.extend_from_slice(args);
    relay.cli(&all)
}

fn set_of(addresses: &[&str]) -> BTreeSet<String> {
    addresses.iter().map(|a| a.to_string()).collect()
}

#[test]
fn the_directory_is_the_same_on_the_web_in_the_files_and_over_ldap_and_honours_the_red_list_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let anne_rpps = rpps("1000000001");
    let anne = add(
        &relay,
        "anne.martin",
        "Anne",
        "Martin",
        &[
            "--civility",
            "Dr",
            "--city",
            "Lille",
            "--postcode",
            "59000",
            "--specialty",
            "Cardiologie",
            "--rpps",
            &anne_rpps,
            "--phone",
            "03 20 00 00 01",
            "--publish-phone",
            "on",
        ],
    );
    let bruno_phone = "03 20 00 00 02";
    add(
        &relay,
        "bruno.durand",
        "Bruno",
        "Durand",
        &[
            "--civility",
            "Dr",
            "--city",
            "Lille",
            "--postcode",
            "59800",
            "--specialty",
            "Médecine générale",
            "--phone",
            bruno_phone,
        ],
    );
    add(
        &relay,
        "claire.petit",
        "Claire",
        "Petit",
        &["--city", "Paris", "--postcode", "75011", "--specialty", "Cardiologie", "--red-list", "on"],
    );
    let labo_finess = finess("59000001");
    add(
        &relay,
        "labo.nord",
        "Laboratoire",
        "Nord Biologie",
        &[
            "--city",
            "Lille",
            "--postcode",
            "59000",
            "--mailbox-type",
            "organisational",
            "--finess",
            &labo_finess,
            "--category",
            "Laboratoire",
            "--description",
            "Résultats de biologie",
            "--responsible",
            "Dr Paul Biologiste",
        ],
    );
    let ldap = Ldap { relay: &relay };
    let (anne_mail, bruno, claire, labo) =
        ("anne.martin@relay.test", "bruno.durand@relay.test", "claire.petit@relay.test", "labo.nord@relay.test");

    // LDAP, StartTLS and LDAPS, the filters practices use.
    assert_eq!(ldap.mails("starttls", &[], "(sn=Martin)"), set_of(&[anne_mail]));
    assert_eq!(ldap.mails("ldaps", &[], "(&(l=Lille)(specialty=Cardiologie))"), set_of(&[anne_mail]));
    assert_eq!(ldap.mails("starttls", &[], "(cn=*mart*)"), set_of(&[anne_mail]));
    assert_eq!(ldap.mails("ldaps", &[], "(l=lille)"), set_of(&[anne_mail, bruno, labo]));
    assert_eq!(ldap.mails("ldaps", &[], "(specialty=medecine generale)"), set_of(&[bruno]), "accents ignored");
    assert_eq!(ldap.mails("ldaps", &[], "(rpps=*)"), set_of(&[anne_mail]));
    // The red-listed entry is absent anonymously, present for a bound user of the relay.
    assert!(!ldap.mails("ldaps", &[], "(objectClass=*)").contains(claire));
    let anne_dn = "mail=anne.martin@relay.test,ou=directory,dc=relay,dc=test";
    let password = anne["password"].as_str().expect("password");
    let bound = ldap.mails("ldaps", &["-D", anne_dn, "-w", password], "(objectClass=*)");
    assert!(bound.contains(claire), "{bound:?}");
    let wrong = ldap.search("ldaps", &["-D", anne_dn, "-w", "not-the-password"], "(objectClass=*)", &[]);
    assert_eq!(wrong.status.code(), Some(49), "invalid credentials");
    // No password in clear: without StartTLS a bind is refused before the password is checked.
    let clear = Command::new("ldapsearch")
        .args(["-LLL", "-x", "-H", &format!("ldap://127.0.0.1:{}", relay.port("ldap")), "-D", anne_dn, "-w", password])
        .args(["-b", "ou=directory,dc=relay,dc=test", "(sn=Martin)"])
        .output()
        .expect("ldapsearch");
    assert_eq!(clear.status.code(), Some(13), "confidentiality required");

    // Attributes: the phone only when published; the certificate and fingerprint.
    let full = ldap.search("ldaps", &[], "(|(sn=Martin)(sn=Durand))", &[]);
    let text = String::from_utf8_lossy(&full.stdout).into_owned();
    assert!(text.contains("telephoneNumber: 03 20 00 00 01"), "{text}");
    assert!(!text.contains(bruno_phone), "an unpublished phone never shows: {text}");
    assert!(text.contains(&format!("pgpFingerprint: {}", anne["fingerprint"].as_str().expect("fingerprint"))));
    assert!(text.contains("pgpKey:: "), "the certificate travels as binary");
    assert!(text.contains(&format!("rpps: {anne_rpps}")));
    let labo_entry =
        String::from_utf8_lossy(&ldap.search("ldaps", &[], "(mailboxType=organisational)", &[]).stdout).into_owned();
    assert!(
        labo_entry.contains(&format!("finess: {labo_finess}"))
            && labo_entry.contains("responsiblePerson: Dr Paul Biologiste")
    );

    // Paging: one entry per page, every visible entry once.
    let paged = ldap.search("starttls", &["-E", "pr=1/noprompt"], "(objectClass=*)", &["mail"]);
    let paged_text = String::from_utf8_lossy(&paged.stdout).into_owned();
    let paged_mails: Vec<&str> = paged_text.lines().filter_map(|l| l.strip_prefix("mail: ")).collect();
    assert_eq!(paged_mails.len(), 3, "{paged_text}");
    assert!(paged_text.matches("pagedresults: cookie=").count() >= 3, "{paged_text}");
    // The rootDSE names the base.
    let root = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", relay.ca())
        .args(["-LLL", "-x", "-H", &format!("ldaps://127.0.0.1:{}", relay.port("ldaps")), "-b", "", "-s", "base"])
        .args(["(objectClass=*)", "+"])
        .output()
        .expect("ldapsearch");
    let root = String::from_utf8_lossy(&root.stdout).into_owned();
    assert!(root.contains("namingContexts: ou=directory,dc=relay,dc=test"), "{root}");
    assert!(root.contains("supportedExtension: 1.3.6.1.4.1.1466.20037"), "{root}");

    // An entry read by its DN (scope base), as address books do, in any case; a red-listed
    // one only by a bound session.
    let by_dn = |dn: &str, bind: &[&str]| {
        let found = Command::new("ldapsearch")
            .env("LDAPTLS_CACERT", relay.ca())
            .args(["-LLL", "-x", "-H", &format!("ldaps://127.0.0.1:{}", relay.port("ldaps")), "-b", dn, "-s", "base"])
            .args(bind)
            .args(["(objectClass=*)", "mail", "cn"])
            .output()
            .expect("ldapsearch");
        String::from_utf8_lossy(&found.stdout).into_owned()
    };
    let read = by_dn("MAIL=Anne.Martin@relay.test, OU=directory,dc=relay,dc=test", &[]);
    assert!(read.contains(&format!("mail: {anne_mail}")) && read.contains("cn: "), "{read}");
    let claire_dn = format!("mail={claire},ou=directory,dc=relay,dc=test");
    assert!(!by_dn(&claire_dn, &[]).contains("mail:"), "red-listed, not bound");
    assert!(by_dn(&claire_dn, &["-D", anne_dn, "-w", password]).contains(&format!("mail: {claire}")));
    assert!(!by_dn("mail=nobody@relay.test,ou=directory,dc=relay,dc=test", &[]).contains("mail:"));

    // Writes are refused with the proper code; a filter too deep gets a clear refusal.
    let entry = dir.path().join("add.ldif");
    std::fs::write(&entry, "dn: mail=x@relay.test,ou=directory,dc=relay,dc=test\nobjectClass: person\ncn: x\nsn: x\n")
        .expect("ldif");
    let added = Command::new("ldapadd")
        .env("LDAPTLS_CACERT", relay.ca())
        .args(["-x", "-H", &format!("ldaps://127.0.0.1:{}", relay.port("ldaps")), "-f"])
        .arg(&entry)
        .output()
        .expect("ldapadd");
    assert_eq!(added.status.code(), Some(53), "unwilling to perform");
    assert!(String::from_utf8_lossy(&added.stderr).contains("read-only"));
    let deep = format!("{}(sn=x){}", "(!".repeat(12), ")".repeat(12));
    let refused = ldap.search("ldaps", &[], &deep, &[]);
    assert_eq!(refused.status.code(), Some(53));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("nested"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Malformed and oversized requests: a notice of disconnection (RFC 4511 §4.4.1), then
    // the connection closes; the server goes on serving others.
    let probe = |payload: &str| {
        let script = format!(
            "import socket,sys\ns=socket.create_connection(('127.0.0.1',{}))\ns.settimeout(10)\n\
             try:\n    s.sendall({payload})\nexcept OSError:\n    pass\nd=b''\n\
             while True:\n    try:\n        c=s.recv(4096)\n    except OSError:\n        break\n    if not c: break\n    d+=c\n\
             print(d.hex())",
            relay.port("ldap")
        );
        let output = Command::new("python3").args(["-c", &script]).output().expect("python3");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let notice_oid = "1.3.6.1.4.1.1466.20036".bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let malformed = probe("bytes([0x30,0x06,0x02,0x01,0x01,0x04,0x01,0x41])");
    assert!(malformed.contains(&notice_oid), "malformed: {malformed}");
    let oversized = probe("bytes([0x30,0x84,0x00,0x10,0x00,0x00]) + bytes(200000)");
    assert!(oversized.contains(&notice_oid), "oversized: {oversized}");
    assert_eq!(ldap.mails("starttls", &[], "(sn=Martin)"), set_of(&[anne_mail]), "still serving");

    // The web page and its JSON API find the same entries as LDAP.
    let (status, page) = https(&relay, "/directory?q=Lille");
    assert_eq!(status, 200);
    for address in [anne_mail, bruno, labo] {
        assert!(page.contains(address), "{address} on the page");
    }
    assert!(page.contains("<html lang=\"fr\"") && page.contains("Annuaire des utilisateurs"));
    let (_, english) = https(&relay, "/directory?q=Lille&lang=en");
    assert!(english.contains("<html lang=\"en\"") && english.contains("Directory of users"));
    // Labelled columns in each language; fingerprints in groups of four.
    assert!(page.contains("<th scope=\"col\">Ville</th>") && english.contains("<th scope=\"col\">City</th>"));
    let fingerprint = page.split("<code class=\"fingerprint\">").nth(1).expect("a fingerprint shown");
    assert!(
        fingerprint.len() > 10 && fingerprint.as_bytes()[4] == b' ' && fingerprint.as_bytes()[9] == b' ',
        "{fingerprint}"
    );
    let (_, api) = https(&relay, "/directory/search?q=cardiologie");
    let api: Value = serde_json::from_str(&api).expect("JSON");
    assert_eq!(api["total"], 1, "{api}"); // claire is red-listed
    assert_eq!(api["entries"][0]["address"], anne_mail);
    let web_lille: BTreeSet<String> = {
        let (_, body) = https(&relay, "/directory/search?q=lille");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["address"].as_str().expect("a").to_owned())
            .collect()
    };
    assert_eq!(web_lille, ldap.mails("ldaps", &[], "(l=Lille)"));
    assert_eq!(https(&relay, &format!("/directory?q={}", "x".repeat(300))).0, 400);

    // The files: CSV through python's csv module, LDIF through ldapmodify's parser.
    let (_, csv_text) = https(&relay, "/directory.csv");
    let csv_file = dir.path().join("directory.csv");
    std::fs::write(&csv_file, &csv_text).expect("csv");
    let rows = Command::new("python3")
        .args([
            "-c",
            "import csv,json,sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], encoding='utf-8')))))",
        ])
        .arg(&csv_file)
        .output()
        .expect("python3");
    let rows: Value = serde_json::from_slice(&rows.stdout).expect("rows");
    let csv_addresses: BTreeSet<String> =
        rows.as_array().expect("rows").iter().map(|r| r["address"].as_str().expect("address").to_owned()).collect();
    assert_eq!(csv_addresses, set_of(&[anne_mail, bruno, labo]));
    let bruno_row = rows.as_array().expect("rows").iter().find(|r| r["address"] == bruno).expect("bruno");
    assert_eq!(bruno_row["specialty"], "Médecine générale");
    assert_eq!(bruno_row["phone"], "");
    let (_, ldif) = https(&relay, "/directory.ldif");
    let ldif_file = dir.path().join("directory.ldif");
    std::fs::write(&ldif_file, &ldif).expect("ldif");
    let parsed = Command::new("ldapmodify").args(["-n", "-a", "-f"]).arg(&ldif_file).output().expect("ldapmodify");
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).matches("adding new entry").count(), 3);

    // Anne goes on the red list: gone from all three at the next request; and back.
    assert!(set(&relay, &["--address", anne_mail, "--red-list", "on"]).status.success());
    assert!(!ldap.mails("starttls", &[], "(objectClass=*)").contains(anne_mail));
    assert!(!https(&relay, "/directory?q=Martin").1.contains(anne_mail));
    assert!(!https(&relay, "/directory.csv").1.contains(anne_mail));
    assert!(!https(&relay, "/directory.ldif").1.contains(anne_mail));
    assert!(set(&relay, &["--address", anne_mail, "--red-list", "off"]).status.success());
    assert!(ldap.mails("starttls", &[], "(sn=Martin)").contains(anne_mail));
    assert!(https(&relay, "/directory?q=Martin").1.contains(anne_mail));

    // Bad input changes nothing and says why.
    let bad = set(&relay, &["--address", anne_mail, "--postcode", "5900", "--city", "Roubaix"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("postcode \"5900\" is not five digits"));
    assert_eq!(ldap.mails("ldaps", &[], "(l=Roubaix)"), BTreeSet::new(), "nothing half-written");

    // The national export carries every field, red-listed entries flagged.
    let national = relay.cli(&["directory", "export", "--format", "national"]);
    let national = String::from_utf8_lossy(&national.stdout).into_owned();
    assert!(national.starts_with("adresse_messagerie;type_bal;civilite;nom;prenom;categorie"), "{national}");
    let claire_line = national.lines().find(|l| l.starts_with(claire)).expect("claire in the national export");
    assert!(claire_line.contains(";oui;"), "{claire_line}");
    assert!(national
        .lines()
        .any(|l| l.starts_with(labo) && l.contains(&labo_finess) && l.contains("Dr Paul Biologiste")));

    // Every change of an entry is in the audit trail.
    let audit = relay.cli(&["audit", "verify"]);
    assert!(audit.status.success());
    assert!(relay.stop().success());
}

#[test]
fn an_import_is_checked_whole_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    add(&relay, "anne.martin", "Anne", "Martin", &["--city", "Lille", "--postcode", "59000"]);
    let good_rpps = rpps("1000000002");
    let header = "address,first_name,last_name,contact_email,civility,city,postcode,specialty,rpps,red_list\n";
    let bad = format!(
        "{header}anne.martin@relay.test,,,,Dr,Roubaix,59100,Cardiologie,,\n\
         new.one@relay.test,Nina,One,nina@example.org,Dr,Lille,59000,Pédiatrie,12345678901,no\n\
         new.two@relay.test,Noé,Two,,,Lille,59000,,,maybe\n"
    );
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, bad).expect("csv");
    let credentials = dir.path().join("credentials.csv");
    let refused = relay.cli(&[
        "directory",
        "import",
        "--csv",
        file.to_str().expect("utf-8"),
        "--credentials-out",
        credentials.to_str().expect("utf-8"),
    ]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(said.contains("line 3") && said.contains("check digit"), "{said}");
    assert!(said.contains("line 4") && said.contains("contact_email"), "{said}");
    assert!(said.contains("\"maybe\" is not yes or no"), "{said}");
    assert!(!credentials.exists());
    let list = relay.cli(&["user", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "nothing imported");

    let good = format!(
        "{header}anne.martin@relay.test,,,,Dr,Roubaix,59100,Cardiologie,,\n\
         new.one@relay.test,Nina,One,nina@example.org,Dr,Lille,59000,Pédiatrie,{good_rpps},no\n"
    );
    std::fs::write(&file, good).expect("csv");
    let imported = relay.cli(&[
        "directory",
        "import",
        "--csv",
        file.to_str().expect("utf-8"),
        "--credentials-out",
        credentials.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let imported: Value = serde_json::from_slice(&imported.stdout).expect("JSON");
    assert_eq!((imported["updated"].as_u64(), imported["created"].as_u64()), (Some(1), Some(1)));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&credentials).expect("credentials").permissions().mode() & 0o777, 0o600);
    let credentials = std::fs::read_to_string(&credentials).expect("credentials");
    assert!(credentials.starts_with("address,password,installation_code,bundle,fingerprint\nnew.one@relay.test,"));
    let ldap = Ldap { relay: &relay };
    assert_eq!(ldap.mails("ldaps", &[], "(l=Roubaix)"), set_of(&["anne.martin@relay.test"]));
    assert_eq!(ldap.mails("ldaps", &[], &format!("(rpps={good_rpps})")), set_of(&["new.one@relay.test"]));
    assert!(relay.stop().success());
}

/// French Excel saves CSV with semicolons, in Windows-1252 ("CSV (séparateur : point-virgule)")
/// or in UTF-8 with a byte order mark ("CSV UTF-8"): both import as they are, and an export
/// asked for Excel begins with the byte order mark Excel needs to read accents.
#[test]
fn a_french_excel_file_imports_in_either_charset_and_exports_for_excel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    let header = "address;first_name;last_name;contact_email;city;specialty\r\n";
    let cp1252 = dir.path().join("excel-1252.csv");
    let line = "noe.lefevre@relay.test;Noé;Lefèvre;noe@example.org;Cœuvres-et-Valsery;Pédiatrie\r\n";
    std::fs::write(&cp1252, common::iconv_from_utf8("CP1252", &format!("{header}{line}"))).expect("csv");
    let bom = dir.path().join("excel-utf8.csv");
    std::fs::write(
        &bom,
        format!("\u{FEFF}{header}zoe.cote@relay.test;Zoé;Côté;zoe@example.org;Besançon;Médecine générale\r\n"),
    )
    .expect("csv");
    for file in [&cp1252, &bom] {
        let credentials = file.with_extension("credentials");
        let imported = relay.cli(&[
            "directory",
            "import",
            "--csv",
            file.to_str().expect("utf-8"),
            "--credentials-out",
            credentials.to_str().expect("utf-8"),
            "--json",
        ]);
        assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
        let imported: Value = serde_json::from_slice(&imported.stdout).expect("JSON");
        assert_eq!(imported["created"], 1, "{imported}");
    }
    // Said for the administrator: which set a file was read in.
    let again = relay.cli(&["directory", "import", "--csv", cp1252.to_str().expect("utf-8")]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("read as windows-1252"), "{again:?}");
    // Said to be UTF-8 when it is not: where, and what to do.
    let refused = relay.cli(&["directory", "import", "--csv", cp1252.to_str().expect("utf-8"), "--charset", "utf-8"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        said.contains("not UTF-8 (line 2, byte ") && said.contains("--charset iso-8859-1 or windows-1252"),
        "{said}"
    );

    let exported = dir.path().join("for-excel.csv");
    let out =
        relay.cli(&["directory", "export", "--format", "csv", "--bom", "--out", exported.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&exported).expect("export");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a byte order mark first");
    let read = Command::new("python3")
        .args([
            "-c",
            "import csv,json,sys; print(json.dumps(list(csv.DictReader(open(sys.argv[1], encoding='utf-8-sig')))))",
        ])
        .arg(&exported)
        .output()
        .expect("python3");
    let rows: Value = serde_json::from_slice(&read.stdout).expect("JSON");
    let names: BTreeSet<String> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| format!("{} {} {}", row["first_name"], row["last_name"], row["city"]).replace('"', ""))
        .collect();
    assert!(names.contains("Noé Lefèvre Cœuvres-et-Valsery") && names.contains("Zoé Côté Besançon"), "{names:?}");
    assert!(relay.stop().success());
}

/// The page in a real browser: headless Chromium loads the search for a city and the
/// screenshot is kept beside the test's output (target/directory-page.png).
#[test]
fn a_browser_finds_a_user_by_city() {
    let Some(chromium) =
        ["chromium", "chromium-browser"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        panic!("chromium is needed for this test (apt-get install chromium)");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = Relay::start(&dir.path().join("data"), "");
    add(
        &relay,
        "anne.martin",
        "Anne",
        "Martin",
        &["--civility", "Dr", "--city", "Lille", "--postcode", "59000", "--specialty", "Cardiologie"],
    );
    add(&relay, "paul.roy", "Paul", "Roy", &["--city", "Paris", "--postcode", "75011"]);
    let url = format!("https://127.0.0.1:{}/directory?q=Lille", relay.port("https"));
    let profile = dir.path().join("chromium-profile");
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("directory-page.png");
    let run = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // The relay's local CA is not in Chromium's store; the TLS itself is tested elsewhere.
                "--ignore-certificate-errors",
                "--window-size=1024,768",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium")
    };
    let dom = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("anne.martin@relay.test") && dom.contains("Cardiologie"), "{dom}");
    assert!(!dom.contains("paul.roy@relay.test"));
    let shot = run(&[&format!("--screenshot={}", screenshot.display())]);
    assert!(shot.status.success(), "{}", String::from_utf8_lossy(&shot.stderr));
    let png = std::fs::read(&screenshot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot");
    assert!(relay.stop().success());
}
