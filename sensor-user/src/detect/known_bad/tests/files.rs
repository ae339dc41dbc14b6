//! Loading list files and reloading them when they change (in a temporary
//! directory).

use std::path::PathBuf;

use super::{ip, TestResult};
use crate::detect::{
    known_bad::{ListError, ListFiles, ListSet},
    Site,
};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> std::io::Result<TempDir> {
        let dir =
            std::env::temp_dir().join(format!("vantage-known-bad-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_numbers_lists_in_order_and_dates_undated_entries_by_mtime() -> TestResult {
    let dir = TempDir::new("load")?;
    let first = dir.0.join("first.txt");
    let second = dir.0.join("second.txt");
    std::fs::write(&first, "203.0.113.7 2024-01-01\n")?;
    std::fs::write(&second, "# two\nevil.com\n198.51.100.0/24\n")?;
    let set = ListSet::load(&[first.clone(), second.clone()])?;
    assert_eq!(set.len(), 3);
    assert_eq!(set.list_count(), 2);
    assert_eq!(
        set.list_name(1),
        Some(second.display().to_string().as_str())
    );
    let site = Site::default();
    let entry = set.match_name("a.evil.com", &site).ok_or("no match")?;
    assert_eq!((entry.list, entry.line), (1, 2));
    assert_eq!(entry.listed, std::fs::metadata(&second)?.modified()?);
    let entry = set
        .match_addr(ip("203.0.113.7")?, &site)
        .ok_or("no match")?;
    assert_eq!((entry.list, entry.line), (0, 1));
    Ok(())
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() -> TestResult {
    let dir = TempDir::new("missing")?;
    let path = dir.0.join("absent.txt");
    match ListSet::load(std::slice::from_ref(&path)) {
        Err(ListError::Read { path: named, .. }) => assert_eq!(named, path),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn lists_reload_when_a_file_changes() -> TestResult {
    let dir = TempDir::new("reload")?;
    let path = dir.0.join("intel.txt");
    std::fs::write(&path, "203.0.113.7\n")?;
    let mut files = ListFiles::new(vec![path.clone()]);
    assert_eq!(files.paths(), std::slice::from_ref(&path));

    // The first call loads; an unchanged file is not read again.
    assert!(matches!(files.reload_if_changed(), Some(Ok(set)) if set.len() == 1));
    assert!(files.reload_if_changed().is_none());
    assert!(files.reload_if_changed().is_none());

    // A new line (the length changes, whatever the clock's resolution).
    std::fs::write(&path, "203.0.113.7\n203.0.113.8\n")?;
    assert!(matches!(files.reload_if_changed(), Some(Ok(set)) if set.len() == 2));
    assert!(files.reload_if_changed().is_none());

    // A broken file is reported once, then not retried until it changes.
    std::fs::write(&path, "203.0.113.7\nnot an entry!\n")?;
    assert!(matches!(
        files.reload_if_changed(),
        Some(Err(ListError::Line { line: 2, .. }))
    ));
    assert!(files.reload_if_changed().is_none());

    // Fixed.
    std::fs::write(&path, "203.0.113.9\n")?;
    assert!(matches!(files.reload_if_changed(), Some(Ok(set)) if set.len() == 1));

    // Removed: an error naming it.
    std::fs::remove_file(&path)?;
    assert!(matches!(
        files.reload_if_changed(),
        Some(Err(ListError::Read { path: named, .. })) if named == path
    ));
    assert!(files.reload_if_changed().is_none());
    Ok(())
}

#[test]
fn no_files_is_an_empty_set_loaded_once() {
    let mut files = ListFiles::new(Vec::new());
    assert!(matches!(files.reload_if_changed(), Some(Ok(set)) if set.is_empty()));
    assert!(files.reload_if_changed().is_none());
}
