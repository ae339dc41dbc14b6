//! The shape of one name below its registered domain (length, longest
//! label, entropy), the measures of a (host, domain) window, and the score
//! that combines them.

use super::DnsTunnelSettings;

/// Share of the queries of known type at which the unusual-type part of
/// the score starts, and where it is full.
const UNUSUAL_LOW: f64 = 0.1;
const UNUSUAL_HIGH: f64 = 0.5;
/// Queries per minute at which the rate part starts, and where it is full:
/// a person's lookups under one domain come in bursts of a few names per
/// page, a tunnel sends tens to hundreds a minute for as long as it runs.
const RATE_LOW: f64 = 10.0;
const RATE_HIGH: f64 = 60.0;
/// How much of the score the rate can take away: 15%. The rate alone never
/// makes a finding (many queries for the same few names carry no data).
const RATE_WEIGHT: f64 = 0.15;

/// Shannon entropy of `bytes`, bits per byte: `-sum(p * log2 p)` over the
/// frequencies `p` of the byte values present; 0 for no bytes.
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0_u32; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }
    let total = bytes.len() as f64;
    let sum: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / total;
            p * p.log2()
        })
        .sum();
    if sum < 0.0 {
        -sum
    } else {
        0.0
    }
}

/// The labels of a name as the datapath writes it (dotted, `\ddd` decimal
/// escapes for odd bytes and for `.` or `\` inside a label), as the bytes
/// the DNS message carried. An empty text has no label.
pub(super) fn wire_labels(text: &str) -> Vec<Vec<u8>> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut labels = vec![Vec::new()];
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        let value = match byte {
            b'.' => {
                labels.push(Vec::new());
                continue;
            }
            b'\\' => {
                let digits = bytes
                    .get(at..at + 3)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                match digits.map(|d| d.iter().fold(0_u32, |v, x| v * 10 + u32::from(x - b'0'))) {
                    Some(value) if value <= 255 => {
                        at += 3;
                        value as u8
                    }
                    _ => match bytes.get(at) {
                        Some(&escaped) => {
                            at += 1;
                            escaped
                        }
                        None => b'\\',
                    },
                }
            }
            other => other,
        };
        if let Some(label) = labels.last_mut() {
            label.push(value);
        }
    }
    labels
}

/// What one name looks like below its registered domain.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct NameShape {
    /// Bytes of the part below the domain, dots between labels included.
    pub len: u16,
    /// Bytes of its labels (dots excluded): the weight of its entropy.
    pub payload: u16,
    /// Longest label, bytes.
    pub max_label: u8,
    /// Shannon entropy of its label bytes, bits per byte.
    pub entropy: f32,
}

/// The shape of `below`, the part of a name below its registered domain
/// (or all of a name the sensor cut), written as the datapath writes names.
pub(super) fn name_shape(below: &str) -> NameShape {
    let labels = wire_labels(below);
    if labels.is_empty() {
        return NameShape::default();
    }
    let bytes: Vec<u8> = labels.concat();
    let clamp16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    NameShape {
        len: clamp16(bytes.len() + labels.len() - 1),
        payload: clamp16(bytes.len()),
        max_label: u8::try_from(labels.iter().map(Vec::len).max().unwrap_or(0)).unwrap_or(u8::MAX),
        entropy: shannon_entropy(&bytes) as f32,
    }
}

/// The measures of one (host, domain) over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TunnelMeasures {
    /// Distinct names (up to the `max_names` remembered).
    pub distinct_names: usize,
    /// Longest label below the domain among them, bytes.
    pub max_label: usize,
    /// Mean length of the part below the domain, bytes, over the names.
    pub mean_name_len: f64,
    /// Entropy of the labels below the domain, bits per byte: each name's
    /// own, weighted by its label bytes.
    pub entropy_bits: f64,
    /// Queries counted (repeats included).
    pub queries: u64,
    /// Queries whose record type was known (not 0).
    pub typed_queries: u64,
    /// Queries of an unusual record type.
    pub unusual_queries: u64,
    /// Queries per minute: `queries` over the time from the first to the
    /// last of them, one minute at least.
    pub queries_per_minute: f64,
}

impl TunnelMeasures {
    /// Unusual queries among those of known type, 0 to 1 (0 without any).
    pub fn unusual_share(&self) -> f64 {
        if self.typed_queries == 0 {
            0.0
        } else {
            self.unusual_queries as f64 / self.typed_queries as f64
        }
    }
}

/// The parts of the score, each 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Evidence {
    /// Distinct names over `distinct_names`, at most 1.
    pub volume: f64,
    /// Longest label, from `long_label / 2` to `long_label`.
    pub label: f64,
    /// Mean name length, from `long_label / 2` to `long_label`.
    pub length: f64,
    /// Entropy, from `entropy_bits - 1` to `entropy_bits`.
    pub entropy: f64,
    /// Unusual share, from 10% to 50%.
    pub types: f64,
    /// Queries per minute, from 10 to 60.
    pub rate: f64,
}

/// 0 at `low` and below, 1 at `high` and above, linear between.
fn ramp(value: f64, low: f64, high: f64) -> f64 {
    if high <= low {
        return if value >= high { 1.0 } else { 0.0 };
    }
    ((value - low) / (high - low)).clamp(0.0, 1.0)
}

impl Evidence {
    pub fn of(measures: &TunnelMeasures, settings: &DnsTunnelSettings) -> Evidence {
        let long = settings.long_label as f64;
        let names = settings.distinct_names.max(1) as f64;
        Evidence {
            volume: (measures.distinct_names as f64 / names).min(1.0),
            label: ramp(measures.max_label as f64, long / 2.0, long),
            length: ramp(measures.mean_name_len, long / 2.0, long),
            entropy: ramp(
                measures.entropy_bits,
                settings.entropy_bits - 1.0,
                settings.entropy_bits,
            ),
            types: ramp(measures.unusual_share(), UNUSUAL_LOW, UNUSUAL_HIGH),
            rate: ramp(measures.queries_per_minute, RATE_LOW, RATE_HIGH),
        }
    }

    /// How much the names and types look like a tunnel's: the strongest of
    /// the label, length, entropy and type parts. Any one suffices (iodine's
    /// many short polls keep its mean length and entropy low, but not its
    /// longest label; a TXT tunnel may use short names).
    pub fn shape(&self) -> f64 {
        self.label
            .max(self.length)
            .max(self.entropy)
            .max(self.types)
    }

    /// `100 * volume * shape * (0.85 + 0.15 * rate)`, rounded: both many
    /// distinct names and tunnel-shaped names (or types) are needed.
    pub fn score(&self) -> u8 {
        let rate = 1.0 - RATE_WEIGHT + RATE_WEIGHT * self.rate;
        let score = 100.0 * self.volume * self.shape() * rate;
        score.round().clamp(0.0, 100.0) as u8
    }

    /// 20 for each of the label, length, entropy, type and rate parts at
    /// least half-way: how many independent signs agree.
    pub fn confidence(&self) -> u8 {
        let parts = [self.label, self.length, self.entropy, self.types, self.rate];
        20 * parts.iter().filter(|&&part| part >= 0.5).count() as u8
    }
}
