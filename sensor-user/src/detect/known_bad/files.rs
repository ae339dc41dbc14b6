//! Watching the list files: the agent asks each tick whether any changed
//! (modification time or length) and reloads all of them when one did.

use std::{path::PathBuf, time::SystemTime};

use super::list::{ListError, ListSet};

/// What a file looked like when last checked: modification time and length
/// in bytes, or `None` when it could not be read.
type Stamp = Option<(SystemTime, u64)>;

/// The configured list files and what they looked like at the last load.
#[derive(Clone, Debug)]
pub struct ListFiles {
    paths: Vec<PathBuf>,
    /// `None` until the first load.
    seen: Option<Vec<Stamp>>,
}

impl ListFiles {
    /// Nothing loaded yet: the first [`ListFiles::reload_if_changed`] loads.
    pub fn new(paths: Vec<PathBuf>) -> ListFiles {
        ListFiles { paths, seen: None }
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// `None` when no file changed since the last call; otherwise every
    /// list loaded again (or why not). A file that fails is not retried
    /// until it changes again, so its error is reported once; the caller
    /// keeps its previous lists meanwhile.
    pub fn reload_if_changed(&mut self) -> Option<Result<ListSet, ListError>> {
        // Stamp before reading: a change during the load shows next time.
        let now: Vec<Stamp> = self
            .paths
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect();
        if self.seen.as_ref() == Some(&now) {
            return None;
        }
        self.seen = Some(now);
        Some(ListSet::load(&self.paths))
    }
}
