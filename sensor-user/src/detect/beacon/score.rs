//! The statistics behind the beacon score: pure functions over connection
//! start times (seconds), hourly connection counts and component scores.
//! Every component is 0 (nothing like a beacon) to 1 (a perfect beacon).
//!
//! Sources (read, not copied): Active Countermeasures' RITA,
//! `pkg/beacon/analyzer.go` of `activecm/rita-legacy` (v3 and v4) and
//! `analysis/beacons.go` of `activecm/rita` (v5). Where this module departs
//! from RITA it says so and why.

/// Connection starts needed for the quartiles: 4 starts give 3 intervals
/// (RITA refuses fewer: "need at least 3 intervals, which requires at least
/// 4 timestamps", v5 `getTimestampScore`).
pub const MIN_STARTS: usize = 4;

/// The Bowley skewness is taken as 0 (symmetric) when the quartile spread
/// `Q3 - Q1` is below this many seconds. RITA v4/v5 use 10 s with whole-second
/// timestamps; ours have sub-second resolution, and 1 s is the jitter that
/// scheduling and network latency alone put on a sleeping loop.
pub const SKEW_MIN_SPREAD_SECS: f64 = 1.0;

/// ... or below this share of the median interval: quartiles within ±12.5 %
/// of the median are a tight beacon whatever their asymmetry, and their
/// skewness is noise (a beacon every 60 s ± 10 % has a spread of about 6 s).
pub const SKEW_MIN_SPREAD_SHARE: f64 = 0.25;

/// Slope of the dispersion score: `1 - MAD_SLOPE * MAD / median`. RITA v4/v5
/// use 1 (`(median - MAD) / median`), which gives random (Poisson) arrivals
/// 0.31 (their MAD is 0.69 of the median), close to half of a perfect
/// beacon. With 2 they score 0 while jittered beacons keep most of it
/// (uniform ±10 %: 0.9; every 2 to 3 s: 0.8).
pub const MAD_SLOPE: f64 = 2.0;

/// The rate score leaves out the longest intervals, one per this many
/// (5 %, rounded down: none below 20 intervals).
pub const RATE_TRIM_PER: usize = 20;

/// RITA's `histogram_mode_sensitivity` (v5 default): hourly counts within
/// 5 % of the largest fall in the same bucket of the bimodal fit.
pub const HIST_MODE_SENSITIVITY: f64 = 0.05;

/// RITA's `histogram_bimodal_min_hours_seen` (v5 default 11): the bimodal
/// fit needs this many hours with connections.
pub const HIST_BIMODAL_MIN_HOURS: usize = 11;

/// RITA's `histogram_bimodal_outlier_removal` (v5 default 1): hours allowed
/// outside the two main buckets.
pub const HIST_BIMODAL_OUTLIERS: usize = 1;

/// The regularity of the intervals between connection starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Intervals measured (starts - 1).
    pub intervals: usize,
    /// Median interval, seconds.
    pub median_secs: f64,
    /// Mean interval (span / intervals), seconds.
    pub mean_secs: f64,
    /// Bowley skewness of the intervals, -1 to 1 (0 when the spread is too
    /// small to judge, see [`SKEW_MIN_SPREAD_SECS`]).
    pub skew: f64,
    /// Median absolute deviation of the intervals about their median, seconds.
    pub mad_secs: f64,
    /// `1 - |skew|`.
    pub skew_score: f64,
    /// `max(0, 1 - MAD_SLOPE * MAD / median)`.
    pub mad_score: f64,
    /// `min(median / mean', mean' / median)`, `mean'` without the longest
    /// 5 % ([`RATE_TRIM_PER`]) of the intervals.
    pub rate_score: f64,
    /// `sqrt(skew_score * mad_score) * rate_score`.
    pub score: f64,
}

/// Nearest-rank quantile of sorted values: `sorted[round(p * (len - 1))]`,
/// as RITA v3/v4 index them (0 for an empty slice).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let index = (p.clamp(0.0, 1.0) * last as f64).round() as usize;
    sorted.get(index.min(last)).copied().unwrap_or(0.0)
}

/// Bowley (quartile) skewness of sorted values, `(Q1 + Q3 - 2 Q2) / (Q3 - Q1)`,
/// taken as 0 when `Q2` equals `Q1` or `Q3` (RITA: "bowley skew is
/// unreliable if Q2 = Q1 or Q2 = Q3") or when the spread is below
/// [`SKEW_MIN_SPREAD_SECS`] or [`SKEW_MIN_SPREAD_SHARE`] of the median.
pub fn bowley_skew(sorted: &[f64]) -> f64 {
    let (q1, q2, q3) = (
        quantile(sorted, 0.25),
        quantile(sorted, 0.5),
        quantile(sorted, 0.75),
    );
    let spread = q3 - q1;
    let wide_enough = spread >= SKEW_MIN_SPREAD_SECS.max(SKEW_MIN_SPREAD_SHARE * q2);
    if !wide_enough || q2 == q1 || q2 == q3 {
        return 0.0;
    }
    ((q1 + q3 - 2.0 * q2) / spread).clamp(-1.0, 1.0)
}

/// Median absolute deviation about `median` (nearest rank).
pub fn mad(values: &[f64], median: f64) -> f64 {
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    quantile(&deviations, 0.5)
}

/// The timing score of connection starts (seconds, ascending, at least
/// [`MIN_STARTS`]; `None` otherwise or when the median interval is not
/// positive).
///
/// Three measures of the intervals, each 0 to 1:
/// - symmetry, `1 - |Bowley skewness|` (RITA v3 to v5, `tsSkewScore`);
/// - dispersion, `1 - 2 MAD / median` (RITA v4/v5 `tsMadmScore` is
///   `1 - MAD / median`; see [`MAD_SLOPE`]);
/// - rate, `min(median / mean', mean' / median)`, `mean'` the mean interval
///   leaving out the longest 5 % of them ([`RATE_TRIM_PER`]): the connections counted
///   against those a strict beacon at the median interval would make over
///   the same time. This is our form of RITA v3's `tsConnCountScore`
///   (connections against one every 10 s over the whole data set): it is 1
///   for any steady beacon, whatever its period, and falls when short
///   intervals inside bursts alternate with long silences (a person
///   browsing), which the median-based measures do not see: their quartiles
///   all fall inside the bursts. The trim keeps one long gap (a laptop
///   asleep, an outage) from sinking a long series.
///
/// Score: `sqrt(symmetry * dispersion) * rate`. RITA v4/v5 take the
/// arithmetic mean of symmetry and dispersion; the geometric mean lets one
/// clear sign of irregularity sink the score instead of losing half of it,
/// and the rate multiplies because bursts then silence look perfectly
/// regular to the other two.
pub fn timing(starts: &[f64]) -> Option<Timing> {
    if starts.len() < MIN_STARTS {
        return None;
    }
    let mut intervals: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    intervals.sort_by(f64::total_cmp);
    let median = quantile(&intervals, 0.5);
    if median <= 0.0 || !median.is_finite() {
        return None;
    }
    let span = starts.last().copied().unwrap_or(0.0) - starts.first().copied().unwrap_or(0.0);
    let mean = span / intervals.len() as f64;
    let kept = intervals.len() - intervals.len() / RATE_TRIM_PER;
    let trimmed_mean = intervals.iter().take(kept).sum::<f64>() / kept.max(1) as f64;
    let skew = bowley_skew(&intervals);
    let mad_secs = mad(&intervals, median);
    let skew_score = 1.0 - skew.abs();
    let mad_score = (1.0 - MAD_SLOPE * mad_secs / median).clamp(0.0, 1.0);
    let rate_score = if trimmed_mean > 0.0 {
        (median / trimmed_mean)
            .min(trimmed_mean / median)
            .clamp(0.0, 1.0)
    } else {
        0.0
    };
    let score = ((skew_score * mad_score).sqrt() * rate_score).clamp(0.0, 1.0);
    Some(Timing {
        intervals: intervals.len(),
        median_secs: median,
        mean_secs: mean,
        skew,
        mad_secs,
        skew_score,
        mad_score,
        rate_score,
        score,
    })
}

/// The duration score: the share of `full_span_secs` the connections span,
/// capped at 1.
///
/// RITA v5's `getDurationScore` takes the larger of the data set's
/// coverage (first to last connection over the data set's time range) and
/// the longest run of consecutive hours with connections over 12, and
/// gives 0 below 6 hours seen: it judges a day of logs. A sensor must
/// report a fast beacon within a minute, so the role (short-lived patterns
/// score low) is kept at that scale: a burst of a few seconds to a CDN
/// scores near 0, a pattern sustained for `full_span_secs` scores 1. The
/// day-scale shape is left to [`histogram_score`].
pub fn duration_score(span_secs: f64, full_span_secs: f64) -> f64 {
    if full_span_secs <= 0.0 {
        return 1.0;
    }
    (span_secs / full_span_secs).clamp(0.0, 1.0)
}

/// The histogram score of hourly connection counts (complete hours, in
/// order, zeros included), after RITA v4/v5's `getTsHistogramScore`: the
/// larger of
/// - the flatness, `1 - cv` (0 when the coefficient of variation of the
///   hourly counts, population standard deviation over mean, exceeds 1);
/// - the bimodal fit, when at least [`HIST_BIMODAL_MIN_HOURS`] hours have
///   connections: the counts are put in buckets of `ceil(5 % of the largest
///   count)`, and the fit is the hours in the two fullest buckets over the
///   hours with connections less [`HIST_BIMODAL_OUTLIERS`] (a beacon that
///   alternates between two rates), capped at 1.
///
/// 0 when there are no counts or no connections.
pub fn histogram_score(counts: &[u32]) -> f64 {
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if counts.is_empty() || total == 0 {
        return 0.0;
    }
    let len = counts.len() as f64;
    let mean = total as f64 / len;
    let variance = counts
        .iter()
        .map(|&c| (f64::from(c) - mean).powi(2))
        .sum::<f64>()
        / len;
    let cv = variance.sqrt() / mean;
    let flatness = (1.0 - cv).clamp(0.0, 1.0);
    flatness.max(bimodal_fit(counts))
}

fn bimodal_fit(counts: &[u32]) -> f64 {
    let bars: Vec<u32> = counts.iter().copied().filter(|&c| c > 0).collect();
    if bars.len() < HIST_BIMODAL_MIN_HOURS {
        return 0.0;
    }
    let largest = bars.iter().copied().max().unwrap_or(0);
    let size = (f64::from(largest) * HIST_MODE_SENSITIVITY).ceil().max(1.0);
    let mut buckets: Vec<(u64, usize)> = Vec::new();
    for &bar in &bars {
        let bucket = (f64::from(bar) / size).floor() as u64;
        match buckets.iter_mut().find(|(b, _)| *b == bucket) {
            Some((_, n)) => *n += 1,
            None => buckets.push((bucket, 1)),
        }
    }
    let mut sizes: Vec<usize> = buckets.iter().map(|(_, n)| *n).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let top_two: usize = sizes.iter().take(2).sum();
    let denominator = bars.len().saturating_sub(HIST_BIMODAL_OUTLIERS).max(1);
    (top_two as f64 / denominator as f64).min(1.0)
}

/// The component scores of one key, 0 to 1; `None` for a component that
/// cannot be measured (yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Components {
    pub timing: f64,
    pub duration: f64,
    /// Present once the key has enough complete hours (see the settings).
    pub histogram: Option<f64>,
    /// RITA's data size score. The datapath reports connection starts only,
    /// so this is `None` today; it is ready for per-connection sizes.
    pub size: Option<f64>,
}

/// The weight of each component (RITA v5: `timestamp_score_weight`,
/// `datasize_score_weight`, `duration_score_weight`,
/// `histogram_score_weight`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    pub timing: f64,
    pub duration: f64,
    pub histogram: f64,
    pub size: f64,
}

impl Weights {
    fn total(&self) -> f64 {
        self.timing + self.duration + self.histogram + self.size
    }
}

/// Combines the components present into one score, 0 to 1, and returns it
/// with the share of the total weight that was present (0 to 1).
///
/// A weighted geometric mean, `prod(c_i ^ (w_i / sum of present w))`: the
/// weights of absent components (no sizes, too few hours for a histogram)
/// are left out and the rest renormalised. RITA takes the weighted
/// arithmetic mean of all four; with the geometric mean every component must
/// be high, so a perfectly regular burst of a few seconds (timing 1,
/// duration near 0) stays near 0 instead of scoring the timing's share.
pub fn combine(components: &Components, weights: &Weights) -> (f64, f64) {
    let parts = [
        (Some(components.timing), weights.timing),
        (Some(components.duration), weights.duration),
        (components.histogram, weights.histogram),
        (components.size, weights.size),
    ];
    let present: f64 = parts
        .iter()
        .filter(|(value, weight)| value.is_some() && *weight > 0.0)
        .map(|(_, weight)| weight)
        .sum();
    if present <= 0.0 {
        return (0.0, 0.0);
    }
    let present_share = share(present, weights.total());
    let mut log_sum = 0.0;
    for (value, weight) in parts {
        let Some(value) = value else { continue };
        if weight <= 0.0 {
            continue;
        }
        if value <= 0.0 || !value.is_finite() {
            return (0.0, present_share);
        }
        log_sum += weight * value.min(1.0).ln();
    }
    ((log_sum / present).exp().clamp(0.0, 1.0), present_share)
}

fn share(part: f64, total: f64) -> f64 {
    if total <= 0.0 {
        0.0
    } else {
        (part / total).clamp(0.0, 1.0)
    }
}

/// How far the connection count supports a verdict, 0 to 1:
/// `min(1, connections / full_connections)`.
pub fn count_factor(connections: usize, full_connections: usize) -> f64 {
    if full_connections == 0 {
        return 1.0;
    }
    (connections as f64 / full_connections as f64).min(1.0)
}

/// The finding's score, 0 to 100: `round(100 * combined * count factor)`.
pub fn beacon_score(combined: f64, count_factor: f64) -> u8 {
    (100.0 * combined * count_factor).round().clamp(0.0, 100.0) as u8
}
