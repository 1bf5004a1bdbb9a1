//! Searches: the base and scope, the size and time limits, the simple paged results
//! control (RFC 2696), the rootDSE and the directory's own entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;

use super::filter::{check_filter, folded, matches};
use super::{normalise_dn, result, Session, OID_PAGED_RESULTS, OID_STARTTLS, SIZE_LIMIT_MAX, TIME_LIMIT_MAX};
use crate::directory::{fold, DirectoryView, LdapEntry};

impl Session {
    pub(super) fn search(
        &self,
        msgid: i32,
        search: &LdapSearchRequest,
        controls: &[LdapControl],
        view: anyhow::Result<Arc<DirectoryView>>,
    ) -> Vec<LdapMsg> {
        if let Err(why) = check_filter(&search.filter) {
            return vec![done(msgid, LdapResultCode::UnwillingToPerform, &why, Vec::new())];
        }
        // Assertion values folded once here, not once per candidate entry.
        let search = &LdapSearchRequest { filter: folded(&search.filter), ..search.clone() };
        let base = normalise_dn(&search.base);
        if base.is_empty() && search.scope == LdapSearchScope::Base {
            return self.root_dse(msgid, search, done(msgid, LdapResultCode::Success, "", Vec::new()));
        }
        let view = match view {
            Ok(view) => view,
            Err(error) => {
                tracing::error!(%error, "reading the directory failed");
                return vec![done(msgid, LdapResultCode::Unavailable, "the directory cannot be read now", Vec::new())];
            }
        };
        let started = Instant::now();
        match self.candidates(msgid, search, &base, &view) {
            Ok(candidates) => self.results(msgid, search, controls, &view, &candidates, started),
            Err(replies) => replies,
        }
    }

    /// The entries the base and scope designate, or the whole answer when that settles it
    /// (the directory's own entry, no such entry).
    fn candidates(
        &self,
        msgid: i32,
        search: &LdapSearchRequest,
        base: &str,
        view: &DirectoryView,
    ) -> Result<Vec<usize>, Vec<LdapMsg>> {
        let directory_base = self.context.directory.base().to_ascii_lowercase();
        if base == directory_base {
            return match search.scope {
                LdapSearchScope::Base => {
                    Err(self.base_entry(msgid, search, done(msgid, LdapResultCode::Success, "", Vec::new())))
                }
                _ => Ok(match view.index.candidates(&search.filter) {
                    Some(narrowed) => {
                        let bound = self.bound.is_some();
                        narrowed.into_iter().map(|i| i as usize).filter(|&i| bound || !view.all[i].red_list).collect()
                    }
                    None => self.visible(view).collect(),
                }),
            };
        }
        if !base.ends_with(&format!(",{directory_base}")) {
            return Err(vec![done(msgid, LdapResultCode::NoSuchObject, "outside this directory", Vec::new())]);
        }
        match self.visible(view).find(|&i| view.ldap[i].dn_folded == base) {
            Some(i) if search.scope != LdapSearchScope::Children => Ok(vec![i]),
            Some(_) => Ok(Vec::new()),
            None => {
                let mut missing = done(msgid, LdapResultCode::NoSuchObject, "no such entry", Vec::new());
                if let LdapOp::SearchResultDone(res) = &mut missing.op {
                    res.matcheddn = self.context.directory.base().to_owned();
                }
                Err(vec![missing])
            }
        }
    }

    /// The matching entries among `candidates`, within the size and time limits, one page
    /// at a time when the client asks for paging.
    fn results(
        &self,
        msgid: i32,
        search: &LdapSearchRequest,
        controls: &[LdapControl],
        view: &DirectoryView,
        candidates: &[usize],
        started: Instant,
    ) -> Vec<LdapMsg> {
        let time_limit = match search.timelimit {
            n if n > 0 => Duration::from_secs(n as u64).min(TIME_LIMIT_MAX),
            _ => TIME_LIMIT_MAX,
        };
        let paging = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
            _ => None,
        });
        let offset = match &paging {
            Some((_, cookie)) if !cookie.is_empty() => match <[u8; 8]>::try_from(cookie.as_slice()) {
                Ok(bytes) => u64::from_be_bytes(bytes) as usize,
                Err(_) => {
                    return vec![done(msgid, LdapResultCode::ProtocolError, "not a cookie of this server", Vec::new())]
                }
            },
            _ => 0,
        };
        let size_limit = match search.sizelimit {
            n if n > 0 => (n as usize).min(SIZE_LIMIT_MAX),
            _ => SIZE_LIMIT_MAX,
        };
        let page_size = paging.as_ref().map(|(size, _)| (*size).clamp(1, SIZE_LIMIT_MAX as i64) as usize);
        let mut replies = Vec::new();
        let mut matched = 0usize;
        let mut sent = 0usize;
        for &i in candidates {
            if !matches(&search.filter, &view.ldap[i]) {
                continue;
            }
            matched += 1;
            if matched <= offset {
                continue;
            }
            if let Some(page) = page_size {
                if sent == page {
                    let cookie = ((matched - 1) as u64).to_be_bytes().to_vec();
                    let control = LdapControl::SimplePagedResults { size: 0, cookie };
                    replies.push(done(msgid, LdapResultCode::Success, "", vec![control]));
                    return replies;
                }
            } else if sent == size_limit {
                replies.push(done(msgid, LdapResultCode::SizeLimitExceeded, "", Vec::new()));
                return replies;
            }
            if started.elapsed() > time_limit {
                replies.push(done(msgid, LdapResultCode::TimeLimitExceeded, "", Vec::new()));
                return replies;
            }
            replies.push(entry_message(msgid, &view.ldap[i], &search.attrs, search.typesonly));
            sent += 1;
        }
        let controls = match paging {
            Some(_) => vec![LdapControl::SimplePagedResults { size: 0, cookie: Vec::new() }],
            None => Vec::new(),
        };
        replies.push(done(msgid, LdapResultCode::Success, "", controls));
        replies
    }

    /// Indexes of the entries this session may see: red-listed ones only when bound.
    fn visible<'a>(&self, view: &'a DirectoryView) -> impl Iterator<Item = usize> + 'a {
        let bound = self.bound.is_some();
        view.all.iter().enumerate().filter(move |(_, e)| bound || !e.red_list).map(|(i, _)| i)
    }

    fn root_dse(&self, msgid: i32, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let attributes: Vec<(&'static str, Vec<Vec<u8>>)> = vec![
            ("objectClass", vec![b"top".to_vec()]),
            ("namingContexts", vec![self.context.directory.base().as_bytes().to_vec()]),
            ("supportedLDAPVersion", vec![b"3".to_vec()]),
            ("supportedExtension", vec![OID_STARTTLS.as_bytes().to_vec(), OID_WHOAMI.as_bytes().to_vec()]),
            ("supportedControl", vec![OID_PAGED_RESULTS.as_bytes().to_vec()]),
            ("vendorName", vec!["Caducée".as_bytes().to_vec()]),
        ];
        let entry = synthetic_entry("", attributes);
        if !matches(&search.filter, &entry) {
            return vec![done];
        }
        // The rootDSE's attributes are operational: sent when asked for, or with "+".
        let wanted: Vec<String> = if search.attrs.is_empty() || search.attrs.iter().any(|a| a == "*" || a == "+") {
            entry.attributes.iter().map(|(name, _)| name.to_string()).collect()
        } else {
            search.attrs.clone()
        };
        vec![entry_message(msgid, &entry, &wanted, search.typesonly), done]
    }

    fn base_entry(&self, msgid: i32, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let attributes = vec![
            ("objectClass", vec![b"top".to_vec(), b"organizationalUnit".to_vec()]),
            ("ou", vec![b"directory".to_vec()]),
        ];
        let entry = synthetic_entry(self.context.directory.base(), attributes);
        if matches(&search.filter, &entry) {
            vec![entry_message(msgid, &entry, &search.attrs, search.typesonly), done]
        } else {
            vec![done]
        }
    }
}

pub(super) fn synthetic_entry(dn: &str, attributes: Vec<(&'static str, Vec<Vec<u8>>)>) -> LdapEntry {
    let folded = attributes
        .iter()
        .map(|(name, values)| {
            (name.to_ascii_lowercase(), values.iter().map(|v| fold(&String::from_utf8_lossy(v))).collect())
        })
        .collect();
    LdapEntry { dn: dn.to_owned(), dn_folded: dn.to_ascii_lowercase(), attributes, folded }
}

/// One search result: the attributes asked for ("*" or none: every user attribute; "1.1":
/// none), names matched without regard to case.
fn entry_message(msgid: i32, entry: &LdapEntry, wanted: &[String], types_only: bool) -> LdapMsg {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    let attributes = entry
        .attributes
        .iter()
        .filter(|(name, _)| all || wanted.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .map(|(name, values)| LdapPartialAttribute {
            atype: (*name).to_owned(),
            vals: if types_only { Vec::new() } else { values.clone() },
        })
        .collect();
    LdapMsg::new(msgid, LdapOp::SearchResultEntry(LdapSearchResultEntry { dn: entry.dn.clone(), attributes }))
}

/// The end of a search's answer.
fn done(msgid: i32, code: LdapResultCode, message: &str, controls: Vec<LdapControl>) -> LdapMsg {
    LdapMsg::new_with_ctrls(msgid, LdapOp::SearchResultDone(result(code, message)), controls)
}
