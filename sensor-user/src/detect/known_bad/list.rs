//! Lists of known-bad peers: parsing the operator's list files and looking
//! addresses and names up in them.
//!
//! A list file has one entry per line: an IP address, a CIDR prefix or a
//! domain name (which covers the domain and every name under it, label by
//! label), optionally followed by whitespace and the date it was listed
//! (`YYYY-MM-DD`, midnight UTC). `#` starts a comment; blank lines are
//! ignored. An entry without a date takes the file's modification time.
//!
//! ```text
//! # C2 servers from the incident of March
//! 203.0.113.7          2024-03-02
//! 198.51.100.0/24      2024-01-15   # bulletproof hosting
//! 2001:db8:bad::/48
//! evil.example                      # and every name under it
//! ```
//!
//! A malformed line refuses the whole file with `file:line: problem`; the
//! caller keeps the lists it had.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use super::parse::parse_line;
use crate::{detect::Site, net::Cidr};

/// What one list entry covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An address (a /32 or /128) or a prefix.
    Prefix(Cidr),
    /// A domain (lower case, no final dot) and every name under it.
    Domain(Arc<str>),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Prefix(cidr) if cidr.prefix_len == crate::net::max_len(&cidr.addr) => {
                write!(f, "{}", cidr.addr)
            }
            Target::Prefix(cidr) => write!(f, "{cidr}"),
            Target::Domain(name) => f.write_str(name),
        }
    }
}

/// One entry of one list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of its list among the configured lists (0-based).
    pub list: usize,
    /// Line in its list file (1-based).
    pub line: u32,
    pub target: Target,
    /// When it was listed: its date (midnight UTC) or the file's
    /// modification time.
    pub listed: SystemTime,
}

impl Entry {
    /// Whole days from the listing to `at` (0 when listed after `at`).
    pub fn age_days(&self, at: SystemTime) -> u32 {
        at.duration_since(self.listed).map_or(0, |d| {
            (d.as_secs() / 86_400).min(u64::from(u32::MAX)) as u32
        })
    }

    /// The site infrastructure this entry would cover, if any: a resolver,
    /// the collector or the gateway inside its prefix, or a protected
    /// prefix it covers wholly. Such an entry is a list problem, never a
    /// detection. Domain entries are never flagged (the site knows no
    /// names).
    pub fn infrastructure(&self, site: &Site) -> Option<Infrastructure> {
        let Target::Prefix(cidr) = &self.target else {
            return None;
        };
        let inside = |addrs: &[IpAddr]| addrs.iter().copied().find(|a| cidr.contains(*a));
        if let Some(addr) = inside(&site.resolvers) {
            return Some(Infrastructure::Resolver(addr));
        }
        if let Some(addr) = inside(&site.collector) {
            return Some(Infrastructure::Collector(addr));
        }
        if let Some(addr) = inside(&site.gateway) {
            return Some(Infrastructure::Gateway(addr));
        }
        site.protected
            .iter()
            .find(|net| net.prefix_len >= cidr.prefix_len && cidr.contains(net.addr))
            .map(|net| Infrastructure::Protected(*net))
    }
}

/// The site's own infrastructure an entry covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Infrastructure {
    Resolver(IpAddr),
    Collector(IpAddr),
    Gateway(IpAddr),
    /// A protected prefix (`sensor.local_nets`) the entry covers wholly.
    Protected(Cidr),
}

impl fmt::Display for Infrastructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Infrastructure::Resolver(a) => write!(f, "the site's resolver {a}"),
            Infrastructure::Collector(a) => write!(f, "the collector {a}"),
            Infrastructure::Gateway(a) => write!(f, "the gateway {a}"),
            Infrastructure::Protected(net) => write!(f, "the protected network {net}"),
        }
    }
}

/// A list entry that covers the site's own infrastructure: reported to the
/// operator, never matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListProblem {
    /// Index of the list (0-based) and its name (the file's path).
    pub list: usize,
    pub list_name: String,
    /// Line of the entry (1-based).
    pub line: u32,
    /// The entry as text (`198.51.100.0/24`, `203.0.113.7`).
    pub entry: String,
    pub infrastructure: Infrastructure,
}

impl fmt::Display for ListProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} covers {}; the entry is ignored",
            self.list_name, self.line, self.entry, self.infrastructure
        )
    }
}

/// Why lists could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{file}:{line}: {problem}")]
    Line {
        file: String,
        line: u32,
        problem: String,
    },
    #[error("reading list {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: the lists hold more than {max} entries in all")]
    TooMany { file: String, max: usize },
}

/// No further entry with the same key.
const NONE: u32 = u32::MAX;

/// Every configured list, indexed for lookups: exact prefixes by length
/// (longest first), domains by name (walking up label by label).
#[derive(Clone, Debug, Default)]
pub struct ListSet {
    names: Vec<String>,
    entries: Vec<Entry>,
    /// Per entry, the next entry with the same key (or [`NONE`]).
    next: Vec<u32>,
    prefixes: HashMap<Cidr, u32>,
    /// Distinct prefix lengths present, longest first.
    v4_lens: Vec<u8>,
    v6_lens: Vec<u8>,
    domains: HashMap<Arc<str>, u32>,
}

impl ListSet {
    /// Entries all lists may hold together. Measured: 250,000 entries
    /// (100,000 addresses, 50,000 prefixes, 100,000 domains) take 34 MB
    /// with the index, about 140 bytes each, so 36 MB at most. A larger set
    /// is refused, not cut.
    pub const MAX_ENTRIES: usize = 262_144;

    /// No lists.
    pub fn empty() -> ListSet {
        ListSet::default()
    }

    /// Reads and parses `paths` in order (list `i` is `paths[i]`, named by
    /// its path). Undated entries take each file's modification time.
    pub fn load(paths: &[PathBuf]) -> Result<ListSet, ListError> {
        let mut set = ListSet::default();
        for path in paths {
            let read = |path: &Path| -> std::io::Result<(String, SystemTime)> {
                let modified = std::fs::metadata(path)?.modified()?;
                Ok((std::fs::read_to_string(path)?, modified))
            };
            let (text, modified) = read(path).map_err(|source| ListError::Read {
                path: path.clone(),
                source,
            })?;
            set.add(&path.display().to_string(), &text, modified)?;
        }
        set.build_index();
        Ok(set)
    }

    /// Parses one list's text (list index 0, named `name`); undated
    /// entries take `file_date`.
    pub fn parse(name: &str, text: &str, file_date: SystemTime) -> Result<ListSet, ListError> {
        let mut set = ListSet::default();
        set.add(name, text, file_date)?;
        set.build_index();
        Ok(set)
    }

    /// Entries in all lists.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lists in the set (empty ones included).
    pub fn list_count(&self) -> usize {
        self.names.len()
    }

    /// The name (path) of list `index`.
    pub fn list_name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// Every entry, in list and line order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Entries that cover the site's own infrastructure, in list and line order.
    pub fn problems(&self, site: &Site) -> Vec<ListProblem> {
        self.entries
            .iter()
            .filter_map(|entry| {
                entry
                    .infrastructure(site)
                    .map(|infrastructure| ListProblem {
                        list: entry.list,
                        list_name: self.names.get(entry.list).cloned().unwrap_or_default(),
                        line: entry.line,
                        entry: entry.target.to_string(),
                        infrastructure,
                    })
            })
            .collect()
    }

    /// The entry that lists `addr`: the longest matching prefix; among
    /// entries of that prefix the most recently listed (then the first
    /// list and line). Entries covering the site's infrastructure are
    /// skipped.
    pub fn match_addr(&self, addr: IpAddr, site: &Site) -> Option<&Entry> {
        let lens = match addr {
            IpAddr::V4(_) => &self.v4_lens,
            IpAddr::V6(_) => &self.v6_lens,
        };
        lens.iter().find_map(|&len| {
            let key = Cidr {
                addr: mask(addr, len),
                prefix_len: len,
            };
            self.best(self.prefixes.get(&key).copied(), site)
        })
    }

    /// The entry that lists `name` (dotted; case and a final dot are
    /// ignored): the longest listed domain equal to `name` or a parent of
    /// it, label by label (`evil.com` lists `a.evil.com`, not
    /// `notevil.com`). Same tie-breaks and exclusions as
    /// [`ListSet::match_addr`].
    pub fn match_name(&self, name: &str, site: &Site) -> Option<&Entry> {
        if self.domains.is_empty() {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        let lowered;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        let mut rest = name;
        loop {
            if let Some(found) = self.best(self.domains.get(rest).copied(), site) {
                return Some(found);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return None,
            }
        }
    }

    /// Among the chain of entries starting at `head`, the most recently
    /// listed one not covering infrastructure (ties: first list, first line).
    fn best(&self, head: Option<u32>, site: &Site) -> Option<&Entry> {
        let mut at = head.unwrap_or(NONE);
        let mut best: Option<&Entry> = None;
        while let Some(entry) = self.entries.get(at as usize) {
            if entry.infrastructure(site).is_none() {
                let better = best.is_none_or(|b| {
                    entry.listed > b.listed
                        || (entry.listed == b.listed && (entry.list, entry.line) < (b.list, b.line))
                });
                if better {
                    best = Some(entry);
                }
            }
            at = self.next.get(at as usize).copied().unwrap_or(NONE);
        }
        best
    }

    /// Parses one list into the set as the next list.
    fn add(&mut self, name: &str, text: &str, file_date: SystemTime) -> Result<(), ListError> {
        let list = self.names.len();
        self.names.push(name.to_owned());
        for (index, raw) in text.lines().enumerate() {
            let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let bad = |problem: String| ListError::Line {
                file: name.to_owned(),
                line,
                problem,
            };
            let raw = if index == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            let Some((target, date)) = parse_line(raw).map_err(bad)? else {
                continue;
            };
            if self.entries.len() >= ListSet::MAX_ENTRIES {
                return Err(ListError::TooMany {
                    file: name.to_owned(),
                    max: ListSet::MAX_ENTRIES,
                });
            }
            self.entries.push(Entry {
                list,
                line,
                target,
                listed: date.unwrap_or(file_date),
            });
        }
        Ok(())
    }

    /// Builds the lookup maps over `entries` (chains keep list and line order).
    fn build_index(&mut self) {
        self.next = vec![NONE; self.entries.len()];
        self.prefixes.clear();
        self.domains.clear();
        // Walk backwards so each chain's head is its first entry.
        for (index, entry) in self.entries.iter().enumerate().rev() {
            let index = index as u32;
            let previous = match &entry.target {
                Target::Prefix(cidr) => self.prefixes.insert(*cidr, index),
                Target::Domain(name) => self.domains.insert(Arc::clone(name), index),
            };
            if let (Some(previous), Some(slot)) = (previous, self.next.get_mut(index as usize)) {
                *slot = previous;
            }
        }
        let lens = |v6: bool| {
            let mut lens: Vec<u8> = self
                .prefixes
                .keys()
                .filter(|c| c.addr.is_ipv6() == v6)
                .map(|c| c.prefix_len)
                .collect();
            lens.sort_unstable_by(|a, b| b.cmp(a));
            lens.dedup();
            lens
        };
        self.v4_lens = lens(false);
        self.v6_lens = lens(true);
    }
}

/// `addr` with the bits beyond `len` cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}
