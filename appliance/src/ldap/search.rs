//! Searches: the base and scope, the size and time limits, the simple paged results
//! control (RFC 2696), the rootDSE and the directory's own entry.
//!
//! A search is a [`SearchJob`]: everything it reads, owned, so that it runs on the blocking
//! pool rather than on the event loop that also carries mail sessions (see
//! [`super::Searches`]). Its time limit is checked for every candidate entry examined,
//! matching or not, on a [`Stopwatch`] the caller hands in: a filter that matches nothing
//! still stops at the limit, and a test can make the limit trip without waiting for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::*;

use super::filter::{check_filter, folded, matches};
use super::{normalise_dn, result, OID_PAGED_RESULTS, OID_STARTTLS, SIZE_LIMIT_MAX, TIME_LIMIT_MAX};
use crate::directory::{entry_dn, ldap_entry, DirectoryView, LdapEntry};

/// The time a search has taken so far, read once per candidate entry examined.
pub(super) trait Stopwatch {
    fn elapsed(&mut self) -> Duration;
}

/// The real stopwatch: the monotonic clock since the search started.
#[derive(Debug)]
pub(super) struct Started(pub Instant);

impl Stopwatch for Started {
    fn elapsed(&mut self) -> Duration {
        self.0.elapsed()
    }
}

/// One search and everything it reads.
#[derive(Debug)]
pub(super) struct SearchJob {
    pub msgid: i32,
    pub search: LdapSearchRequest,
    pub controls: Vec<LdapControl>,
    /// Whether the session is bound: red-listed entries are shown to bound sessions only.
    pub bound: bool,
    /// The directory's base DN.
    pub base: String,
    pub view: anyhow::Result<Arc<DirectoryView>>,
}

impl SearchJob {
    /// The whole answer: the entries found, then the final `SearchResultDone`.
    pub(super) fn run(self, stopwatch: &mut dyn Stopwatch) -> Vec<LdapMsg> {
        let msgid = self.msgid;
        if let Err(why) = check_filter(&self.search.filter) {
            return vec![done(msgid, LdapResultCode::UnwillingToPerform, &why, Vec::new())];
        }
        // Assertion values folded once here, not once per candidate entry.
        let search = &LdapSearchRequest { filter: folded(&self.search.filter), ..self.search.clone() };
        let base = normalise_dn(&search.base);
        if base.is_empty() && search.scope == LdapSearchScope::Base {
            return self.root_dse(search, done(msgid, LdapResultCode::Success, "", Vec::new()));
        }
        let view = match &self.view {
            Ok(view) => view,
            Err(error) => {
                tracing::error!(%error, "reading the directory failed");
                return vec![done(msgid, LdapResultCode::Unavailable, "the directory cannot be read now", Vec::new())];
            }
        };
        match self.candidates(search, &base, view) {
            Ok(candidates) => self.results(search, view, &candidates, stopwatch),
            Err(replies) => replies,
        }
    }

    /// The entries the base and scope designate, or the whole answer when that settles it
    /// (the directory's own entry, no such entry).
    fn candidates(
        &self,
        search: &LdapSearchRequest,
        base: &str,
        view: &DirectoryView,
    ) -> Result<Vec<usize>, Vec<LdapMsg>> {
        let msgid = self.msgid;
        let directory_base = self.base.to_ascii_lowercase();
        if base == directory_base {
            return match search.scope {
                LdapSearchScope::Base => {
                    Err(self.base_entry(search, done(msgid, LdapResultCode::Success, "", Vec::new())))
                }
                _ => Ok(match view.index.candidates(&view.all, &search.filter) {
                    Some(narrowed) => {
                        let bound = self.bound;
                        narrowed.into_iter().map(|i| i as usize).filter(|&i| bound || !view.all[i].red_list()).collect()
                    }
                    None => self.visible(view).collect(),
                }),
            };
        }
        if !base.ends_with(&format!(",{directory_base}")) {
            return Err(vec![done(msgid, LdapResultCode::NoSuchObject, "outside this directory", Vec::new())]);
        }
        match self.entry_named(view, base, &directory_base) {
            Some(i) if search.scope != LdapSearchScope::Children => Ok(vec![i]),
            Some(_) => Ok(Vec::new()),
            None => {
                let mut missing = done(msgid, LdapResultCode::NoSuchObject, "no such entry", Vec::new());
                if let LdapOp::SearchResultDone(res) = &mut missing.op {
                    res.matcheddn = self.base.clone();
                }
                Err(vec![missing])
            }
        }
    }

    /// The matching entries among `candidates`, within the size and time limits, one page
    /// at a time when the client asks for paging.
    fn results(
        &self,
        search: &LdapSearchRequest,
        view: &DirectoryView,
        candidates: &[usize],
        stopwatch: &mut dyn Stopwatch,
    ) -> Vec<LdapMsg> {
        let msgid = self.msgid;
        let Some(bounds) = Bounds::of(search, &self.controls) else {
            return vec![done(msgid, LdapResultCode::ProtocolError, "not a cookie of this server", Vec::new())];
        };
        let mut replies = Vec::new();
        let mut matched = 0usize;
        let mut sent = 0usize;
        for &i in candidates {
            // Before the filter, for every candidate: a filter that matches nothing must
            // stop at the limit too. What was found so far is sent (RFC 4511 §4.5.1.5).
            if stopwatch.elapsed() > bounds.time_limit {
                replies.push(done(
                    msgid,
                    LdapResultCode::TimeLimitExceeded,
                    "the search's time limit was reached",
                    Vec::new(),
                ));
                return replies;
            }
            if !matches(&search.filter, &view.all[i]) {
                continue;
            }
            matched += 1;
            if matched <= bounds.offset {
                continue;
            }
            if let Some(page) = bounds.page_size {
                if sent == page {
                    let cookie = ((matched - 1) as u64).to_be_bytes().to_vec();
                    let control = LdapControl::SimplePagedResults { size: 0, cookie };
                    replies.push(done(msgid, LdapResultCode::Success, "", vec![control]));
                    return replies;
                }
            } else if sent == bounds.size_limit {
                replies.push(done(msgid, LdapResultCode::SizeLimitExceeded, "", Vec::new()));
                return replies;
            }
            replies.push(entry_message(msgid, &ldap_entry(&view.all[i], &self.base), &search.attrs, search.typesonly));
            sent += 1;
        }
        let controls = match bounds.page_size {
            Some(_) => vec![LdapControl::SimplePagedResults { size: 0, cookie: Vec::new() }],
            None => Vec::new(),
        };
        replies.push(done(msgid, LdapResultCode::Success, "", controls));
        replies
    }

    /// Indexes of the entries this session may see: red-listed ones only when bound.
    fn visible<'a>(&self, view: &'a DirectoryView) -> impl Iterator<Item = usize> + 'a {
        let bound = self.bound;
        view.all.iter().enumerate().filter(move |(_, e)| bound || !e.red_list()).map(|(i, _)| i)
    }

    /// The visible entry whose DN is `dn` (normalised), found through the address index
    /// when the DN names the address, as every entry's does.
    fn entry_named(&self, view: &DirectoryView, dn: &str, directory_base: &str) -> Option<usize> {
        let named = |&i: &usize| normalise_dn(&entry_dn(&view.all[i], &self.base)) == dn;
        let address = dn
            .strip_suffix(directory_base)
            .and_then(|rdn| rdn.strip_suffix(','))
            .and_then(|rdn| rdn.strip_prefix("mail="))
            .map(|escaped| escaped.replace('\\', ""));
        let candidates = address
            .map(|address| LdapFilter::Equality("mail".into(), address))
            .and_then(|filter| view.index.candidates(&view.all, &filter));
        let bound = self.bound;
        match candidates {
            Some(found) => {
                found.into_iter().map(|i| i as usize).filter(|&i| bound || !view.all[i].red_list()).find(named)
            }
            None => self.visible(view).find(named),
        }
    }

    fn root_dse(&self, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let msgid = self.msgid;
        let attributes: Vec<(&'static str, Vec<Vec<u8>>)> = vec![
            ("objectClass", vec![b"top".to_vec()]),
            ("namingContexts", vec![self.base.as_bytes().to_vec()]),
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

    fn base_entry(&self, search: &LdapSearchRequest, done: LdapMsg) -> Vec<LdapMsg> {
        let msgid = self.msgid;
        let attributes = vec![
            ("objectClass", vec![b"top".to_vec(), b"organizationalUnit".to_vec()]),
            ("ou", vec![b"directory".to_vec()]),
        ];
        let entry = synthetic_entry(&self.base, attributes);
        if matches(&search.filter, &entry) {
            vec![entry_message(msgid, &entry, &search.attrs, search.typesonly), done]
        } else {
            vec![done]
        }
    }
}

/// A search's limits: the client's, within the relay's.
#[derive(Debug)]
struct Bounds {
    time_limit: Duration,
    size_limit: usize,
    /// Entries per page, when the client pages (the size limit then does not apply).
    page_size: Option<usize>,
    /// Matching entries already sent in earlier pages.
    offset: usize,
}

impl Bounds {
    /// `None` when the paging cookie is not one this server made.
    fn of(search: &LdapSearchRequest, controls: &[LdapControl]) -> Option<Bounds> {
        let time_limit = match search.timelimit {
            n if n > 0 => Duration::from_secs(n as u64).min(TIME_LIMIT_MAX),
            _ => TIME_LIMIT_MAX,
        };
        let size_limit = match search.sizelimit {
            n if n > 0 => (n as usize).min(SIZE_LIMIT_MAX),
            _ => SIZE_LIMIT_MAX,
        };
        let paging = controls.iter().find_map(|c| match c {
            LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie)),
            _ => None,
        });
        let offset = match paging {
            Some((_, cookie)) if !cookie.is_empty() => {
                u64::from_be_bytes(<[u8; 8]>::try_from(cookie.as_slice()).ok()?) as usize
            }
            _ => 0,
        };
        let page_size = paging.map(|(size, _)| size.clamp(1, SIZE_LIMIT_MAX as i64) as usize);
        Some(Bounds { time_limit, size_limit, page_size, offset })
    }
}

pub(super) fn synthetic_entry(dn: &str, attributes: Vec<(&'static str, Vec<Vec<u8>>)>) -> LdapEntry {
    LdapEntry { dn: dn.to_owned(), attributes }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{PublicEntry, StoredEntry};
    use crate::ldap::index::LdapIndex;

    const BASE: &str = "ou=directory,dc=relay,dc=test";

    /// A stopwatch that says one more second has gone by each time it is read.
    struct OneSecondPerRead(u64);

    impl Stopwatch for OneSecondPerRead {
        fn elapsed(&mut self) -> Duration {
            self.0 += 1;
            Duration::from_secs(self.0)
        }
    }

    fn person(n: usize) -> StoredEntry {
        StoredEntry::from(PublicEntry {
            address: format!("user{n}@relay.test"),
            civility: String::new(),
            first_name: "Anne".into(),
            last_name: format!("Martin{n}"),
            city: "Lille".into(),
            postcode: "59000".into(),
            specialty: String::new(),
            practitioner_id: None,
            mailbox_type: "personal",
            organisation_id: None,
            phone: None,
            category: String::new(),
            description: String::new(),
            responsible_persons: Vec::new(),
            dematerialisation: false,
            fingerprint: None,
            red_list: false,
            certificate: None,
            search_text: String::new(),
        })
    }

    fn view(entries: usize) -> Arc<DirectoryView> {
        let all: Vec<StoredEntry> = (0..entries).map(person).collect();
        let index = LdapIndex::build(&all);
        Arc::new(DirectoryView { generation: 1, base: BASE.into(), all, index, keys: Arc::default() })
    }

    fn job(filter: &str, timelimit: i32, entries: usize) -> SearchJob {
        SearchJob {
            msgid: 7,
            search: LdapSearchRequest {
                base: BASE.into(),
                scope: LdapSearchScope::Subtree,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit,
                typesonly: false,
                filter: ldap3_proto::parse_ldap_filter_str(filter).expect("a filter"),
                attrs: Vec::new(),
            },
            controls: Vec::new(),
            bound: false,
            base: BASE.into(),
            view: Ok(view(entries)),
        }
    }

    fn outcome(replies: &[LdapMsg]) -> (usize, LdapResultCode) {
        let entries = replies.iter().filter(|r| matches!(r.op, LdapOp::SearchResultEntry(_))).count();
        let Some(LdapOp::SearchResultDone(done)) = replies.last().map(|r| &r.op) else { panic!("no SearchResultDone") };
        (entries, done.code.clone())
    }

    #[test]
    fn a_filter_matching_nothing_stops_at_the_time_limit() {
        // An unindexed attribute: every entry is a candidate, none matches.
        let mut stopwatch = OneSecondPerRead(0);
        let replies = job("(description=nobody)", 5, 200).run(&mut stopwatch);
        assert_eq!(outcome(&replies), (0, LdapResultCode::TimeLimitExceeded), "{replies:?}");
        assert_eq!(stopwatch.0, 6, "the limit is checked at each candidate, and stops the scan at once");
    }

    #[test]
    fn entries_found_before_the_time_limit_are_sent_with_it() {
        let replies = job("(objectClass=*)", 3, 50).run(&mut OneSecondPerRead(0));
        assert_eq!(outcome(&replies), (3, LdapResultCode::TimeLimitExceeded), "{replies:?}");
        // The relay's own limit applies when the client asks for none, or for more.
        let replies = job("(objectClass=*)", 0, 50).run(&mut OneSecondPerRead(0));
        assert_eq!(outcome(&replies), (TIME_LIMIT_MAX.as_secs() as usize, LdapResultCode::TimeLimitExceeded));
        let replies = job("(objectClass=*)", 3600, 50).run(&mut OneSecondPerRead(0));
        assert_eq!(outcome(&replies), (TIME_LIMIT_MAX.as_secs() as usize, LdapResultCode::TimeLimitExceeded));
    }

    #[test]
    fn a_search_within_its_limits_answers_everything() {
        let mut stopwatch = Started(Instant::now());
        assert_eq!(outcome(&job("(objectClass=*)", 0, 50).run(&mut stopwatch)), (50, LdapResultCode::Success));
        assert_eq!(outcome(&job("(sn=martin7)", 0, 50).run(&mut stopwatch)), (1, LdapResultCode::Success));
        assert_eq!(outcome(&job("(description=nobody)", 0, 50).run(&mut stopwatch)), (0, LdapResultCode::Success));
    }

    /// A stopwatch whose first read waits until the test's other task has run.
    struct WaitsForTheLoop {
        ticked: std::sync::mpsc::Receiver<()>,
        heard: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Stopwatch for WaitsForTheLoop {
        fn elapsed(&mut self) -> Duration {
            // Bounded only so that a regression fails instead of hanging.
            if self.ticked.recv_timeout(Duration::from_secs(10)).is_ok() {
                self.heard.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Duration::ZERO
        }
    }

    #[test]
    fn a_search_runs_off_the_event_loop() {
        // One thread, as each worker arbiter has: while the search is being evaluated, the
        // loop must still run its other tasks (the mail sessions).
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let (tick, ticked) = std::sync::mpsc::channel();
        let heard = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopwatch = WaitsForTheLoop { ticked, heard: heard.clone() };
        let replies = runtime.block_on(async {
            let searches = super::super::Searches::new(1);
            let other_session = async move {
                tokio::task::yield_now().await;
                let _ = tick.send(());
            };
            tokio::join!(searches.run_timed(job("(objectClass=*)", 0, 1), stopwatch), other_session).0
        });
        assert_eq!(outcome(&replies), (1, LdapResultCode::Success));
        assert!(heard.load(std::sync::atomic::Ordering::SeqCst), "the event loop was blocked during the search");
    }
}
