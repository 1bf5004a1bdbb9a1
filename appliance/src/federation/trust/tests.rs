use super::*;

/// A list as published: the same operator spelt three ways, two operators for one domain,
/// a domain in capitals, contacts and dates.
const LIST: &str = include_str!("../../../../tests/fixtures/listeblanchemssante.xml");

fn subject(attributes: &[(&str, &str)]) -> OperatorName {
    OperatorName::from_attributes(attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
}

#[test]
fn a_published_list_is_read_with_its_spellings_made_comparable() {
    let list = TrustList::parse(LIST).expect("a good list");
    assert_eq!(list.len(), 2);
    let labo = list.domain("labo-sud.mssante.test").expect("lower-cased");
    assert_eq!(labo.description, "Laboratoire du Sud");
    assert_eq!(labo.updated, "2023-11-20");
    assert_eq!(
        labo.operators[0].to_string(),
        "CN=mx.operateur-b.test, OU=0002 987654321, O=OPERATEUR B, ST=Paris(75), C=FR"
    );

    // The certificate says "OPERATEUR B" with one space and "Paris (75)": the same operator.
    let b = subject(&[
        ("C", "FR"),
        ("ST", "Paris (75)"),
        ("O", "Operateur B"),
        ("OU", "0002 987654321"),
        ("CN", "MX.operateur-b.test"),
    ]);
    assert_eq!(list.check("Labo-Sud.mssante.test", &b), Ok(()));
    // Operator B is not bound to the hospital's domain; an unknown domain is not listed.
    assert_eq!(list.check("hopital-nord.mssante.test", &b), Err(Unbound::SubjectNotBound));
    assert_eq!(list.check("ailleurs.test", &b), Err(Unbound::DomainNotListed));

    // Either of the hospital's operators; the second lists no OU, so any OU passes.
    let a2 = subject(&[("CN", "relais2.operateur-a.test"), ("O", "OPERATEUR A"), ("OU", "autre")]);
    assert_eq!(list.check("hopital-nord.mssante.test", &a2), Ok(()));
    // The right CN under another organisation is someone else.
    let impostor = subject(&[("CN", "mx.operateur-a.test"), ("O", "OPERATEUR Z"), ("OU", "0002 123456789")]);
    assert_eq!(list.check("hopital-nord.mssante.test", &impostor), Err(Unbound::SubjectNotBound));
}

#[test]
fn a_copy_without_its_closing_root_tag_is_refused_as_a_whole() {
    let cut = LIST.trim_end().strip_suffix("</ListeBlanche>").expect("root end");
    let error = TrustList::parse(cut).expect_err("not well-formed");
    assert!(matches!(error, TrustListError::Xml(_)), "{error}");
    assert!(error.to_string().contains("last good list"), "{error}");
}

#[test]
fn entries_that_make_no_sense_refuse_the_list() {
    let no_name = LIST.replace("<Nom>hopital-nord.mssante.test</Nom>", "");
    assert!(matches!(TrustList::parse(&no_name), Err(TrustListError::NoName { position: 1 })));
    let bad_name = LIST.replace("hopital-nord.mssante.test", "hopital nord");
    assert!(matches!(TrustList::parse(&bad_name), Err(TrustListError::BadName { .. })));
    let no_cn = LIST.replace("CN=relais2.operateur-a.test,", "");
    let error = TrustList::parse(&no_cn).expect_err("a DN without CN");
    assert!(error.to_string().contains("hopital-nord.mssante.test"), "{error}");
    assert!(matches!(TrustList::parse("<ListeBlanche/>"), Err(TrustListError::Empty)));
}

#[test]
fn names_are_read_in_every_published_form() {
    let slashed = OperatorName::parse("/C=FR/O=OPERATEUR C/CN=mx.c.test").expect("slashes");
    assert_eq!(slashed.attributes[2], ("CN".to_owned(), "mx.c.test".to_owned()));
    let escaped = OperatorName::parse(r#"CN=mx.d.test; O=Soci\, D; OU="x, y""#).expect("semicolons and escapes");
    assert_eq!(escaped.to_string(), "CN=mx.d.test, O=Soci, D, OU=x, y");
    assert_eq!(OperatorName::parse("O=no common name"), None);
    assert_eq!(OperatorName::parse("CN"), None);
}
