//! `[detect.dns_tunnel]`: the window, the thresholds of the score, the
//! exemptions and the caps of [`super::DnsTunnel`].

use std::time::Duration;

use crate::config::duration::HumanDuration;

/// Record types that carry a tunnel's data better than A or AAAA and that
/// clients seldom ask for (default for `unusual_types`):
/// - 10 NULL and 65399 (a private-use type): iodine's preferred downstream
///   types (iodine's documentation; the Zeek package jbaggs/anomalous-dns
///   blacklists both for that reason);
/// - 16 TXT: dnscat2, DNSExfiltrator, Cobalt Strike's DNS beacon and
///   iodine fall back to it (Farnham, "Detecting DNS Tunneling", SANS
///   2013, lists uncommon record types such as TXT among the payload
///   indicators); ordinary clients rarely ask for TXT (mail servers do, for
///   SPF and DKIM, one name per sending domain);
/// - 5 CNAME asked directly: resolvers follow CNAMEs for their clients, so
///   a client asking for the CNAME itself is a tunnel trick (iodine,
///   dnscat2);
/// - 15 MX: a mail server asks it once per recipient domain, not for many
///   names under one domain (iodine and dnscat2 can use it);
/// - 255 ANY: deprecated for clients (RFC 8482); a few old tools.
///
/// SRV (33) is left out: Active Directory, SIP and XMPP clients ask for it
/// all day under the site's own domain.
pub const DEFAULT_UNUSUAL_TYPES: &[u16] = &[5, 10, 15, 16, 255, 65_399];

/// Third-party services that answer a different name for every question
/// by design, whose name servers only their operator controls (so nobody
/// else can tunnel through them), and which make hundreds of distinct
/// names under one domain from one host (default for `known_benign`):
/// - DNS blocklists and reputation lists that mail servers and spam
///   filters query once per IP address, domain or hash (Spamhaus ZEN, DBL,
///   DQS and HBL, SpamCop, SORBS, Barracuda, SURBL, URIBL, DNSWL,
///   Mailspike, the CBL, Validity's Sender Score), and Team Cymru's IP to
///   ASN service that the same filters use;
/// - anti-malware reputation lookups over DNS, names made of file and URL
///   hashes: Sophos Live Protection (`sophosxl.net`), McAfee GTI
///   (`avqs.mcafee.com`, `avts.mcafee.com`).
///
/// Content delivery networks and telemetry with hashed names are not here:
/// they rarely reach both the name count and the shape of a tunnel from
/// one host, and some hosting services let customers run their own name
/// servers under their domain. Add them to `ignore_domains` when a
/// finding shows one.
pub const DEFAULT_KNOWN_BENIGN: &[&str] = &[
    "spamhaus.org",
    "spamhaus.net",
    "spamcop.net",
    "sorbs.net",
    "barracudacentral.org",
    "surbl.org",
    "uribl.com",
    "dnswl.org",
    "mailspike.net",
    "abuseat.org",
    "senderscore.com",
    "cymru.com",
    "sophosxl.net",
    "avqs.mcafee.com",
    "avts.mcafee.com",
];

/// Names remembered per (host, domain) at most, the highest `max_names`
/// may be set to.
pub const MAX_NAMES_LIMIT: usize = 65_536;

/// `[detect.dns_tunnel]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsTunnelSettings {
    /// Sliding window the names and queries of a (host, domain) are counted
    /// over (default `5m`; 1m to 1h). Long enough for a tunnel that is
    /// merely steady (dnscat2 polls about once a second, 300 names in 5
    /// minutes; iodine sends hundreds a minute) to pass the name threshold,
    /// short enough to report while the session still runs and to keep the
    /// names of one key few; the same horizon as the scan detectors.
    pub window: HumanDuration,
    /// Distinct names under one domain from one host within the window at
    /// which the volume part of the score is full (default 100; 2 to
    /// `max_names`). Farnham (SANS 2013) lists the number of hostnames per
    /// domain among the traffic-analysis indicators; 100 is the commonly
    /// quoted bar for it. Below it the score shrinks in proportion: a
    /// tunnel needs many distinct names to carry data (Paxson et al.,
    /// USENIX Security 2013, bound what a domain can receive by the
    /// information in the queries it gets).
    pub distinct_names: usize,
    /// Length, bytes, at which the length parts of the score are full
    /// (default 52, the length heuristic quoted from Farnham, SANS 2013;
    /// 8 to 63). The longest label and the mean name length below the
    /// registered domain both rise from half of it (26: longer than
    /// ordinary labels, and than the hashed labels CDNs use) to it.
    pub long_label: usize,
    /// Shannon entropy, bits per byte, of the labels below the domain at
    /// which the entropy part is full (default 4.5; 2 to 8); it rises from
    /// one bit less. Measured over each name and weighted by its length:
    /// ordinary names give 2.2 to 3.6 (30 Google or Microsoft names 2.5
    /// and 3.0; googlevideo's `rr3---sn-...` labels 3.6), base32-encoded
    /// payload labels of 60 bytes 4.5 and more (log2 32 = 5 at most), raw
    /// bytes more still.
    pub entropy_bits: f64,
    /// Record types counted as unusual (default [`DEFAULT_UNUSUAL_TYPES`]:
    /// CNAME, NULL, MX, TXT, ANY, 65399). The unusual part of the score
    /// rises from 10% of the queries of known type to 50%.
    pub unusual_types: Vec<u16>,
    /// The site's own domains (default none): names equal to or under one
    /// of them are not tracked (Active Directory and service discovery
    /// produce many names there).
    pub ignore_domains: Vec<String>,
    /// Services known to produce tunnel-like names by design (default
    /// [`DEFAULT_KNOWN_BENIGN`]), not tracked either; setting the key
    /// replaces the whole list.
    pub known_benign: Vec<String>,
    /// Findings are reported from this score (default 30, the digest level
    /// of the shared responses; 1 to 100).
    pub report_from: u8,
    /// (host, domain) keys tracked at most (default 4,096; 1 to 1,048,576);
    /// beyond it the least recently active key is forgotten and counted as
    /// evicted. The same cap bounds the hosts whose last long-label domain
    /// is remembered.
    pub max_tracked: usize,
    /// Distinct names remembered per key (default 1,024; `distinct_names`
    /// to 65,536), as 64-bit hashes with their length, longest label and
    /// entropy; beyond it the least recently seen name is forgotten and
    /// counted as evicted, so `DistinctNames` reads at most this.
    pub max_names: usize,
    /// Names remembered over all keys (default 65,536, about 3 MiB;
    /// `max_names` to 16,777,216); beyond it the least recently active keys
    /// are forgotten and counted as evicted.
    pub max_total_names: usize,
}

impl Default for DnsTunnelSettings {
    fn default() -> DnsTunnelSettings {
        DnsTunnelSettings {
            window: HumanDuration(Duration::from_secs(300)),
            distinct_names: 100,
            long_label: 52,
            entropy_bits: 4.5,
            unusual_types: DEFAULT_UNUSUAL_TYPES.to_vec(),
            ignore_domains: Vec::new(),
            known_benign: DEFAULT_KNOWN_BENIGN
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            report_from: 30,
            max_tracked: 4096,
            max_names: 1024,
            max_total_names: 65_536,
        }
    }
}

impl DnsTunnelSettings {
    /// (key, problem) for each value out of range.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut count = |key: &'static str, value: usize, low: usize, high: usize| {
            if !(low..=high).contains(&value) {
                out.push((key, format!("{value} is out of range ({low} to {high})")));
            }
        };
        count(
            "distinct_names",
            self.distinct_names,
            2,
            self.max_names.max(2),
        );
        count("long_label", self.long_label, 8, 63);
        count("max_tracked", self.max_tracked, 1, 1 << 20);
        count(
            "max_names",
            self.max_names,
            self.distinct_names.max(2),
            MAX_NAMES_LIMIT,
        );
        count(
            "max_total_names",
            self.max_total_names,
            self.max_names,
            1 << 24,
        );
        count("report_from", usize::from(self.report_from), 1, 100);
        if !(60..=3600).contains(&self.window.0.as_secs()) {
            out.push(("window", "must be between 1m and 1h".to_owned()));
        }
        if !(2.0..=8.0).contains(&self.entropy_bits) {
            out.push((
                "entropy_bits",
                format!("{} is out of range (2 to 8)", self.entropy_bits),
            ));
        }
        if self.unusual_types.contains(&0) {
            out.push((
                "unusual_types",
                "0 is not a record type (it stands for an unknown type)".to_owned(),
            ));
        }
        for (key, list) in [
            ("ignore_domains", &self.ignore_domains),
            ("known_benign", &self.known_benign),
        ] {
            for entry in list {
                if normalize_domain(entry).is_none() {
                    out.push((key, format!("{entry:?} is not a domain name")));
                }
            }
        }
        out
    }
}

/// `entry` lower-cased without leading or trailing dots, when it is a
/// usable name: not empty, no empty label, no white space.
pub(super) fn normalize_domain(entry: &str) -> Option<String> {
    let name = entry.trim_matches('.').to_ascii_lowercase();
    let usable = !name.is_empty()
        && !name.split('.').any(str::is_empty)
        && !name.chars().any(char::is_whitespace);
    usable.then_some(name)
}

/// True when `name` is `domain` or a name under it.
pub(super) fn is_under(name: &str, domain: &str) -> bool {
    match name.strip_suffix(domain) {
        Some("") => true,
        Some(head) => head.ends_with('.'),
        None => false,
    }
}
