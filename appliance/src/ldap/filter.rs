//! Search filters: bounded in size and depth, folded like the entries' values, matched
//! without regard to case or French accents.

use ldap3_proto::proto::*;

use super::{FILTER_DEPTH_MAX, FILTER_TERMS_MAX};
use crate::directory::{fold, folded_chars, LdapAttributes};

/// Refuses filters too large or too deep to evaluate cheaply.
pub(super) fn check_filter(filter: &LdapFilter) -> Result<(), String> {
    fn walk(filter: &LdapFilter, depth: usize, terms: &mut usize) -> Result<(), String> {
        *terms += 1;
        if depth > FILTER_DEPTH_MAX {
            return Err(format!("the filter is nested more than {FILTER_DEPTH_MAX} levels deep"));
        }
        if *terms > FILTER_TERMS_MAX {
            return Err(format!("the filter has more than {FILTER_TERMS_MAX} terms"));
        }
        match filter {
            LdapFilter::And(parts) | LdapFilter::Or(parts) => {
                parts.iter().try_for_each(|part| walk(part, depth + 1, terms))
            }
            LdapFilter::Not(inner) => walk(inner, depth + 1, terms),
            _ => Ok(()),
        }
    }
    walk(filter, 0, &mut 0)
}

/// `filter` with every assertion value [`fold`]ed, as the entries' values are.
pub(super) fn folded(filter: &LdapFilter) -> LdapFilter {
    let all = |parts: &[LdapFilter]| parts.iter().map(folded).collect();
    match filter {
        LdapFilter::And(parts) => LdapFilter::And(all(parts)),
        LdapFilter::Or(parts) => LdapFilter::Or(all(parts)),
        LdapFilter::Not(inner) => LdapFilter::Not(Box::new(folded(inner))),
        LdapFilter::Equality(name, value) => LdapFilter::Equality(name.clone(), fold(value)),
        LdapFilter::Approx(name, value) => LdapFilter::Approx(name.clone(), fold(value)),
        LdapFilter::GreaterOrEqual(name, value) => LdapFilter::GreaterOrEqual(name.clone(), fold(value)),
        LdapFilter::LessOrEqual(name, value) => LdapFilter::LessOrEqual(name.clone(), fold(value)),
        LdapFilter::Substring(name, parts) => LdapFilter::Substring(
            name.clone(),
            LdapSubstringFilter {
                initial: parts.initial.as_deref().map(fold),
                any: parts.any.iter().map(|a| fold(a)).collect(),
                final_: parts.final_.as_deref().map(fold),
            },
        ),
        other => other.clone(),
    }
}

/// Whether `entry` matches `filter`, whose values are already [`folded`]. Matching ignores
/// case and French accents (the directory's attributes are all text); approximate matching
/// is equality; extensible matches are not supported and match nothing. The entry's values
/// are folded as they are compared.
pub(super) fn matches(filter: &LdapFilter, entry: &impl LdapAttributes) -> bool {
    let any = |name: &str, test: &mut dyn FnMut(&str) -> bool| entry.values(name).is_some_and(|vs| vs.any(test));
    match filter {
        LdapFilter::And(parts) => parts.iter().all(|p| matches(p, entry)),
        LdapFilter::Or(parts) => parts.iter().any(|p| matches(p, entry)),
        LdapFilter::Not(inner) => !matches(inner, entry),
        // Every entry has an object class: "(objectClass=*)" is the usual "everything".
        LdapFilter::Present(name) => name.eq_ignore_ascii_case("objectClass") || entry.values(name).is_some(),
        LdapFilter::Equality(name, value) | LdapFilter::Approx(name, value) => {
            any(name, &mut |v| folded_chars(v).eq(value.chars()))
        }
        LdapFilter::GreaterOrEqual(name, value) => any(name, &mut |v| fold(v).as_str() >= value.as_str()),
        LdapFilter::LessOrEqual(name, value) => any(name, &mut |v| fold(v).as_str() <= value.as_str()),
        LdapFilter::Substring(name, parts) => any(name, &mut |v| substring_matches(&fold(v), parts)),
        LdapFilter::Extensible(_) => false,
    }
}

fn substring_matches(value: &str, parts: &LdapSubstringFilter) -> bool {
    let mut rest = value;
    if let Some(initial) = &parts.initial {
        let Some(after) = rest.strip_prefix(initial.as_str()) else {
            return false;
        };
        rest = after;
    }
    for any in &parts.any {
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &parts.final_ {
        Some(last) => rest.ends_with(last.as_str()),
        None => true,
    }
}
