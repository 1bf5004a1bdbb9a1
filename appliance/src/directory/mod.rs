//! The directory (SPEC R-DIR-1…4): one view of the users, served three ways — the web page,
//! the downloadable files, LDAP — so that all three show the same entries and honour each
//! user's preferences at the same moment.
//!
//! [`DirectoryCache`] holds the public view, rebuilt from one store snapshot whenever the
//! store's directory generation has moved (a commit that created, changed, closed or
//! removed an account, its entry or its keys). Every request asks it for the current view,
//! so a change is visible on the very next request, whichever the door.
//!
//! The same snapshot builds key discovery's index ([`KeyIndex`]: WKD hashes, fingerprints
//! and key IDs), so HKP and WKD follow the generation too.
//!
//! `entry` is one entry as shown and its search folding, `view` the view and its cache,
//! `keys` the key index, `ldap_form` an entry's DN and attributes, `export` the files,
//! `fields` the checked fields an administrator or the user sets, `import` the import
//! file's lines, `admin` the administrative requests.

pub mod admin;
mod entry;
mod export;
mod fields;
mod import;
mod keys;
mod ldap_form;
mod view;

pub use entry::{fold, folded_chars, Field, PublicEntry, StoredEntry};
pub use export::{export_csv, export_ldif, export_national, ExportFormat};
pub use fields::{apply_fields, ApplyFields, DirectoryFields};
pub use import::{read_import, ImportLine};
pub use keys::{key_id, KeyIndex, WkdName};
pub use ldap_form::{base_dn, entry_dn, folded_value, ldap_entry, LdapAttributes, LdapEntry, Values};
pub use view::{build_view, DirectoryCache, DirectoryView, KeyIndexing};

#[cfg(test)]
mod tests {
    use caducee_storage::{DirectoryEntry, Millis, Preference};

    use super::export::ldif_line;
    use super::ldap_form::escape_dn_value;
    use super::*;

    #[test]
    fn folding_and_dns() {
        assert_eq!(fold("Hôpital Saint-Éloi"), "hopital saint-eloi");
        assert_eq!(base_dn("relay.test"), "ou=directory,dc=relay,dc=test");
        assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
        assert!(ldif_line("cn", "Hélène".as_bytes()).starts_with("cn:: "));
        assert_eq!(ldif_line("sn", b"Martin"), "sn: Martin\n");
        let long = ldif_line("description", "x".repeat(100).as_bytes());
        assert!(long.lines().all(|l| l.len() <= 76) && long.contains("\n "), "{long}");
    }

    #[test]
    fn fields_are_checked_together() {
        let fields = DirectoryFields {
            rpps: Some("12345678901".into()),
            postcode: Some("590".into()),
            mailbox_type: Some("organisational".into()),
            ..DirectoryFields::default()
        };
        let problems = fields.apply(DirectoryEntry::default(), Millis(1)).expect_err("three problems");
        assert_eq!(problems.len(), 3, "{problems:?}");
        let ok = DirectoryFields { city: Some("Lille".into()), red_list: Some(true), ..DirectoryFields::default() };
        let entry = ok.apply(DirectoryEntry::default(), Millis(5)).expect("fine");
        assert_eq!((entry.city.as_str(), entry.red_list), ("Lille", Preference::set(true, Millis(5))));
    }
}
