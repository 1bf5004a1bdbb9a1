//! The backup folder: scheduled backups named by their time, listed, the latest found, and
//! rotated (the newest of each recent day and ISO week kept).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use caducee_storage::Millis;

/// `20261126T010203Z`: the UTC time in backup and folder names, sortable as text.
pub fn stamp(at: Millis) -> String {
    at.utc_stamp().to_string()
}

fn parse_stamp(name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = name.strip_prefix("caducee-")?.strip_suffix(".cbk")?;
    let naive = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
    Some(naive.and_utc())
}

/// The name a scheduled backup gets in the backup folder.
pub fn scheduled_name(at: Millis) -> String {
    format!("caducee-{}.cbk", stamp(at))
}

/// Backups in `folder` to delete so that the newest backup of each of the last `daily`
/// days and of each of the last `weekly` ISO weeks remain. Files not named by
/// [`scheduled_name`] are never touched.
pub fn rotation(folder: &Path, daily: usize, weekly: usize) -> anyhow::Result<Vec<PathBuf>> {
    use chrono::Datelike as _;
    let mut backups = Vec::new();
    for entry in fs::read_dir(folder)? {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            backups.push((at, entry.path()));
        }
    }
    backups.sort_by_key(|b| std::cmp::Reverse(b.0)); // newest first
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    let mut delete = Vec::new();
    for (at, path) in backups {
        let day = at.date_naive();
        let week = (at.iso_week().year(), at.iso_week().week());
        let mut keep = false;
        if !days.contains(&day) && days.len() < daily {
            days.push(day);
            keep = true;
        }
        if !weeks.contains(&week) && weeks.len() < weekly {
            weeks.push(week);
            keep = true;
        }
        if !keep {
            delete.push(path);
        }
    }
    Ok(delete)
}

/// The scheduled backups in `folder`, newest first: file, time, size.
pub fn list(folder: &Path) -> anyhow::Result<Vec<(PathBuf, Millis, u64)>> {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", folder.display())),
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            let bytes = entry.metadata()?.len();
            backups.push((entry.path(), Millis(at.timestamp_millis().max(0) as u64), bytes));
        }
    }
    backups.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(backups)
}

/// The newest scheduled backup in `folder`.
pub fn latest(folder: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut newest: Option<(chrono::DateTime<chrono::Utc>, PathBuf)> = None;
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", folder.display())),
    };
    for entry in entries {
        let entry = entry?;
        if let Some(at) = entry.file_name().to_str().and_then(parse_stamp) {
            if newest.as_ref().is_none_or(|(best, _)| at > *best) {
                newest = Some((at, entry.path()));
            }
        }
    }
    Ok(newest.map(|(_, path)| path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduled backups named by `stamps` in a folder, and those rotation deletes, sorted.
    fn deleted_by_rotation(stamps: &[&str], daily: usize, weekly: usize) -> Vec<String> {
        let folder = tempfile::tempdir().expect("tempdir");
        for stamp in stamps {
            fs::write(folder.path().join(format!("caducee-{stamp}.cbk")), b"").expect("write");
        }
        let mut deleted: Vec<String> = rotation(folder.path(), daily, weekly)
            .expect("rotation")
            .iter()
            .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned())
            .collect();
        deleted.sort();
        deleted
    }

    #[test]
    fn rotation_keeps_the_newest_of_each_recent_day_and_week() {
        // Mondays to Sundays of ISO weeks 1–3 of 2026, two backups on the last day.
        let names = [
            "20260105T010000Z", // week 2 Monday
            "20260111T010000Z", // week 2 Sunday
            "20260112T010000Z", // week 3 Monday
            "20260118T010000Z", // week 3 Sunday
            "20260118T130000Z", // week 3 Sunday, later
            "20260101T010000Z", // week 1 Thursday
        ];
        let deleted = deleted_by_rotation(&names, 2, 2);
        // Kept: 18th 13:00 (day + week 3), 12th (second day), 11th (week 2).
        assert_eq!(
            deleted,
            ["caducee-20260101T010000Z.cbk", "caducee-20260105T010000Z.cbk", "caducee-20260118T010000Z.cbk"]
        );
    }

    #[test]
    fn a_week_that_spans_new_year_is_one_week() {
        // ISO week 53 of 2026 runs from Monday 28 December 2026 to Sunday 3 January 2027; week
        // 52 ends on Sunday 27 December.
        let names = [
            "20261227T010000Z", // week 52 Sunday
            "20261228T010000Z", // week 53 Monday
            "20261231T235900Z", // week 53 Thursday, the last minute of the year
            "20270101T000100Z", // week 53 Friday, the first minute of the next
            "20270103T010000Z", // week 53 Sunday
            "20270104T010000Z", // 2027 week 1 Monday
        ];
        let deleted = deleted_by_rotation(&names, 1, 3);
        // Kept: 4 January (the day, and week 1), 3 January (week 53 of 2026), 27 December
        // (week 52): one backup for the week across New Year, not one for each of its years.
        assert_eq!(
            deleted,
            ["caducee-20261228T010000Z.cbk", "caducee-20261231T235900Z.cbk", "caducee-20270101T000100Z.cbk"]
        );
    }
}
