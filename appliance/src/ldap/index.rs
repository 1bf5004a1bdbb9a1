//! Equality and prefix indexes over the directory's LDAP entries, so that a search names
//! its candidates instead of scanning every entry: with 100,000 entries a scan costs tens
//! of milliseconds, an index lookup microseconds.
//!
//! The index is built with each directory view (see `directory.rs`) and only ever narrows
//! the candidates: every candidate is still checked against the whole filter, so an index
//! can never make an entry match that should not.

use std::cmp::Ordering;

use ldap3_proto::proto::LdapFilter;

use crate::directory::{fold, folded_chars, folded_value, LdapAttributes, StoredEntry};

/// The attributes indexed: those practices search on. Each has one value per entry.
const INDEXED: [&str; 12] =
    ["mail", "cn", "sn", "givenName", "l", "postalCode", "specialty", "rpps", "adeli", "finess", "siren", "siret"];

/// For each indexed attribute, the entries that have it, ordered by their folded value:
/// four bytes an entry and an attribute. A lookup is a binary search that folds the values
/// it compares as it goes, so the index keeps no copy of them.
#[derive(Debug, Default)]
pub struct LdapIndex {
    by_attribute: Vec<(&'static str, Vec<u32>)>,
}

impl LdapIndex {
    pub fn build(entries: &[StoredEntry]) -> LdapIndex {
        let by_attribute = INDEXED
            .iter()
            .map(|&name| {
                let mut holding: Vec<(String, u32)> = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(i, entry)| Some((folded_value(entry, name)?, i as u32)))
                    .collect();
                holding.sort_unstable();
                (name, holding.into_iter().map(|(_, i)| i).collect())
            })
            .collect();
        LdapIndex { by_attribute }
    }

    /// The entries that may match `filter`, ascending, or `None` when no index narrows it
    /// (the caller then scans). `filter`'s values are already folded.
    pub fn candidates(&self, entries: &[StoredEntry], filter: &LdapFilter) -> Option<Vec<u32>> {
        let index = |name: &str| {
            self.by_attribute.iter().find(|(indexed, _)| indexed.eq_ignore_ascii_case(name)).map(|(n, list)| (*n, list))
        };
        // The entry's value of the attribute compared with `wanted`, or whether it starts
        // with it, folding as it reads.
        let compare = |name: &str, i: u32, wanted: &str, prefix: bool| -> Ordering {
            let Some(values) = entries[i as usize].values(name) else { return Ordering::Less };
            let mut ordering = Ordering::Less;
            values.any(|value| {
                ordering = if prefix {
                    folded_chars(value).take(wanted.chars().count()).cmp(wanted.chars())
                } else {
                    folded_chars(value).cmp(wanted.chars())
                };
                true
            });
            ordering
        };
        let matching = |name: &str, wanted: &str, prefix: bool| -> Option<Vec<u32>> {
            let (name, list) = index(name)?;
            let wanted = &fold(wanted);
            // Both ends by bisection: the entries in between match without being compared
            // (a city holds thousands of entries; folding each one cost milliseconds).
            let first = list.partition_point(|&i| compare(name, i, wanted, prefix) == Ordering::Less);
            let rest = &list[first..];
            let end = rest.partition_point(|&i| compare(name, i, wanted, prefix) == Ordering::Equal);
            let mut found = rest[..end].to_vec();
            found.sort_unstable();
            Some(found)
        };
        match filter {
            LdapFilter::Equality(name, value) | LdapFilter::Approx(name, value) => matching(name, value, false),
            LdapFilter::Substring(name, parts) => matching(name, parts.initial.as_deref()?, true),
            LdapFilter::And(parts) => {
                // Every indexed part narrows: their lists (ascending) intersected, smallest
                // first, so that `(&(l=…)(sn=…))` checks a hundred entries, not thousands.
                let mut lists: Vec<Vec<u32>> = parts.iter().filter_map(|part| self.candidates(entries, part)).collect();
                lists.sort_unstable_by_key(Vec::len);
                let mut lists = lists.into_iter();
                let mut found = lists.next()?;
                for other in lists {
                    found.retain(|i| other.binary_search(i).is_ok());
                }
                Some(found)
            }
            LdapFilter::Or(parts) => {
                let mut union = Vec::new();
                for part in parts {
                    union.extend(self.candidates(entries, part)?);
                }
                union.sort_unstable();
                union.dedup();
                Some(union)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::PublicEntry;

    fn entry(sn: &str, city: &str) -> StoredEntry {
        StoredEntry::from(PublicEntry { last_name: sn.into(), city: city.into(), ..PublicEntry::default() })
    }

    fn filter(text: &str) -> LdapFilter {
        ldap3_proto::parse_ldap_filter_str(text).expect("filter")
    }

    #[test]
    fn indexes_narrow_and_never_widen() {
        let entries = vec![entry("Martin", "Lille"), entry("Martinez", "Paris"), entry("Durand", "Lille")];
        let index = LdapIndex::build(&entries);
        assert_eq!(index.candidates(&entries, &filter("(sn=martin)")), Some(vec![0]));
        assert_eq!(index.candidates(&entries, &filter("(sn=Mart*)")), Some(vec![0, 1]));
        assert_eq!(index.candidates(&entries, &filter("(&(l=Lille)(sn=Durand))")), Some(vec![2]));
        assert_eq!(
            index.candidates(&entries, &filter("(&(l=Lille)(sn=Mart*))")),
            Some(vec![0]),
            "the parts' candidates are intersected"
        );
        assert_eq!(index.candidates(&entries, &filter("(&(l=Lille)(description=x))")), Some(vec![0, 2]));
        assert_eq!(index.candidates(&entries, &filter("(|(sn=Durand)(sn=Martin))")), Some(vec![0, 2]));
        assert_eq!(
            index.candidates(&entries, &filter("(|(sn=Durand)(description=x))")),
            None,
            "an unindexed branch scans"
        );
        assert_eq!(index.candidates(&entries, &filter("(sn=*tin)")), None);
        assert_eq!(index.candidates(&entries, &filter("(!(sn=Martin))")), None);
        assert_eq!(index.candidates(&entries, &filter("(sn=Nobody)")), Some(vec![]));
        // Values are compared folded, without the index keeping them.
        let entries = vec![entry("Éloi", "Besançon"), entry("Eloise", "Lille"), entry("Elo", "Besancon")];
        let index = LdapIndex::build(&entries);
        assert_eq!(index.candidates(&entries, &filter("(sn=ELOI)")), Some(vec![0]));
        assert_eq!(index.candidates(&entries, &filter("(sn=élo*)")), Some(vec![0, 1, 2]));
        assert_eq!(index.candidates(&entries, &filter("(sn=eloi*)")), Some(vec![0, 1]));
        assert_eq!(index.candidates(&entries, &filter("(l=besancon)")), Some(vec![0, 2]));
        assert_eq!(index.candidates(&entries, &filter("(cn=eloise)")), Some(vec![1]), "cn is made from the names");
    }
}
