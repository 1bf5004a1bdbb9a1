//! What each admin request does to personal data, for the audit trail.

use caducee_admin_protocol::{self as p, Request};
use caducee_storage::{AuditAction, DEFAULT_QUOTA_BYTES};

/// The audit entry a request leaves once it succeeded: (action, object, detail). `None` for
/// requests that touch no personal data, and for those whose handler writes its own entry
/// in the commit that makes the change (keys, directory, terms, alerts, quotas…).
pub(super) fn of(request: &Request) -> Option<(AuditAction, String, String)> {
    match request {
        Request::UserAdd(add) => Some((
            AuditAction::Create,
            format!("account {}", add.address),
            format!("names, contact e-mail, quota {} MB", add.quota_mb.unwrap_or(DEFAULT_QUOTA_BYTES / 1_000_000)),
        )),
        Request::UserList(_) => Some((AuditAction::Read, "account list".into(), String::new())),
        Request::Status(p::Status { refresh: false }) => {
            Some((AuditAction::Read, "account list".into(), "status".into()))
        }
        // The console's refresh of what it shows already (read, and audited, when it opened).
        Request::Status(p::Status { refresh: true }) => None,
        Request::UserState(p::UserState { address, action }) => {
            Some((AuditAction::Update, format!("account {address}"), format!("{action:?}").to_lowercase()))
        }
        Request::Backup(backup) => Some((
            AuditAction::Export,
            "whole store".into(),
            format!("backup to {}", backup.to.as_ref().map_or("the backup folder".into(), |p| p.display().to_string())),
        )),
        Request::Trail(p::Trail { message }) => {
            Some((AuditAction::Read, format!("message trail {message}"), String::new()))
        }
        Request::DrillStart(_) => Some((AuditAction::Read, "whole store".into(), "restore drill from a backup".into())),
        Request::AuditExport(p::AuditExport { from, to }) => {
            Some((AuditAction::Export, "audit trail".into(), format!("entries from {} to {}", from.0, to.0)))
        }
        Request::Announce(p::Announce { subject, .. }) => Some((
            AuditAction::Read,
            "account list".into(),
            format!("announcement {subject:?} to every contact e-mail"),
        )),
        Request::RightsRequests(_) => Some((AuditAction::Read, "data-protection requests".into(), String::new())),
        // Senders' and recipients' addresses: personal data.
        Request::QueueListing(_) => Some((AuditAction::Read, "outbound queue".into(), String::new())),
        Request::QueueShow(p::QueueShow { id }) => {
            Some((AuditAction::Read, "outbound queue".into(), format!("entry {id}")))
        }
        Request::DirectoryExport(p::DirectoryExport { format }) => {
            Some((AuditAction::Export, "directory".into(), format!("{format:?}").to_lowercase()))
        }
        Request::Fsck(_)
        | Request::MonitorRun(_)
        | Request::AuditVerify(_)
        | Request::Keys(_)
        | Request::DirectorySet(_)
        | Request::DirectoryImport(_)
        | Request::TermsPublish(_)
        | Request::TrustImport(_)
        | Request::TrustListing(_)
        | Request::TrustShow(_)
        | Request::QueueAct(_)
        | Request::RightsRequestClose(_)
        | Request::Alerts(_)
        | Request::AlertAcknowledge(_)
        | Request::DrillStatus(_)
        | Request::DrillFailed(_)
        | Request::BackupList(_)
        | Request::UserQuota(_)
        | Request::UserResetPassword(_)
        | Request::UserEdit(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consoles_refresh_is_not_audited_again_but_the_first_reading_is() {
        let first: Request = serde_json::from_str(r#"{"command":"status"}"#).expect("a status request");
        assert!(matches!(of(&first), Some((AuditAction::Read, object, _)) if object == "account list"));
        let refresh: Request = serde_json::from_str(r#"{"command":"status","refresh":true}"#).expect("a refresh");
        assert_eq!(of(&refresh), None);
    }
}
