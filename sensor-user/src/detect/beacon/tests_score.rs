//! The beacon statistics against hand-computed values.

use super::score::{
    beacon_score, bowley_skew, combine, count_factor, duration_score, histogram_score, mad,
    quantile, timing, Components, Weights,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

const DEFAULT_WEIGHTS: Weights = Weights {
    timing: 0.4,
    duration: 0.2,
    histogram: 0.2,
    size: 0.2,
};

#[test]
fn quantiles_are_nearest_rank() {
    let values = [1.0, 2.0, 3.0, 4.0];
    // round(0.25 * 3) = 1, round(0.5 * 3) = 2 (half away from zero), round(0.75 * 3) = 2.
    assert_eq!(quantile(&values, 0.25), 2.0);
    assert_eq!(quantile(&values, 0.5), 3.0);
    assert_eq!(quantile(&values, 0.75), 3.0);
    assert_eq!(quantile(&values, 1.0), 4.0);
    assert_eq!(quantile(&[], 0.5), 0.0);
}

#[test]
fn bowley_skewness_and_its_guards() {
    // Q1 = 20, Q2 = 30, Q3 = 60: (20 + 60 - 60) / 40.
    assert!(close(bowley_skew(&[10.0, 20.0, 30.0, 60.0, 100.0]), 0.5));
    // Spread 0.7 s: under 1 s, symmetric by rule.
    assert_eq!(bowley_skew(&[10.0, 10.2, 10.4, 10.9, 11.0]), 0.0);
    // Spread 30 = a quarter of the median 120: judged, (110 + 140 - 240) / 30.
    assert!(close(
        bowley_skew(&[100.0, 110.0, 120.0, 140.0, 150.0]),
        1.0 / 3.0
    ));
    // Spread 25 < 30: symmetric by rule.
    assert_eq!(bowley_skew(&[100.0, 110.0, 120.0, 135.0, 150.0]), 0.0);
    // Q2 = Q1: unreliable, 0.
    assert_eq!(bowley_skew(&[5.0, 5.0, 5.0, 9.0, 20.0]), 0.0);
}

#[test]
fn mad_is_the_median_deviation() {
    // Deviations from 3: 2, 1, 0, 1, 97 -> sorted 0, 1, 1, 2, 97 -> 1.
    assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0], 3.0), 1.0);
}

#[test]
fn a_strict_series_times_perfectly() -> Result<(), Box<dyn std::error::Error>> {
    let t = timing(&[0.0, 10.0, 20.0, 30.0, 40.0]).ok_or("no timing")?;
    assert_eq!(t.intervals, 4);
    assert_eq!(
        (t.median_secs, t.mean_secs, t.skew, t.mad_secs),
        (10.0, 10.0, 0.0, 0.0)
    );
    assert_eq!(t.score, 1.0);
    Ok(())
}

#[test]
fn a_jittered_series_loses_only_dispersion() -> Result<(), Box<dyn std::error::Error>> {
    // Intervals 10, 11, 9, 12, 8: median 10, Q1 9, Q3 11 (spread 2 < 2.5:
    // symmetric), MAD 1 -> 1 - 2/10 = 0.8; mean 50/5 = 10 -> rate 1.
    let t = timing(&[0.0, 10.0, 21.0, 30.0, 42.0, 50.0]).ok_or("no timing")?;
    assert_eq!(t.skew, 0.0);
    assert_eq!(t.mad_secs, 1.0);
    assert!(close(t.mad_score, 0.8));
    assert_eq!(t.rate_score, 1.0);
    assert!(close(t.score, 0.8f64.sqrt()));
    Ok(())
}

#[test]
fn bursts_then_silence_fail_on_rate() -> Result<(), Box<dyn std::error::Error>> {
    // Intervals 1.5 x4 and 197 x2: median 1.5 = Q1 (skew 0 by rule), MAD 0:
    // regular by the median measures. Mean 400/6 (6 intervals: none
    // trimmed): rate 1.5 / 66.67 = 0.0225, and so the score.
    let t = timing(&[0.0, 1.5, 3.0, 200.0, 201.5, 203.0, 400.0]).ok_or("no timing")?;
    assert_eq!((t.skew_score, t.mad_score), (1.0, 1.0));
    assert!(close(t.rate_score, 0.0225));
    assert!(close(t.score, 0.0225));
    Ok(())
}

#[test]
fn one_long_gap_in_twenty_is_left_out_of_the_rate() -> Result<(), Box<dyn std::error::Error>> {
    // 19 intervals of 60 s and one of an hour: the mean is 237 s, but the
    // longest of 20 intervals is trimmed, so the rate is 60 / 60.
    let mut starts: Vec<f64> = (0..20).map(|i| f64::from(i) * 60.0).collect();
    starts.push(1140.0 + 3600.0);
    let t = timing(&starts).ok_or("no timing")?;
    assert_eq!(t.intervals, 20);
    assert_eq!(t.mean_secs, 237.0);
    assert_eq!((t.rate_score, t.score), (1.0, 1.0));
    // With 19 intervals nothing is trimmed: (1080 + 3600) / 19 = 246.3.
    starts.remove(0);
    let t = timing(&starts).ok_or("no timing")?;
    assert!(close(t.rate_score, 60.0 / (4680.0 / 19.0)));
    Ok(())
}

#[test]
fn timing_needs_four_starts() {
    assert!(timing(&[0.0, 60.0, 120.0]).is_none());
}

#[test]
fn duration_is_the_share_of_the_full_span() {
    assert_eq!(duration_score(45.0, 90.0), 0.5);
    assert_eq!(duration_score(200.0, 90.0), 1.0);
    assert_eq!(duration_score(2.0, 0.0), 1.0);
}

#[test]
fn histogram_flatness_and_bimodal_fit() {
    // Mean 3, standard deviation 1: 1 - 1/3.
    assert!(close(histogram_score(&[2, 4, 2, 4]), 2.0 / 3.0));
    // Mean 3, sd sqrt(27): cv 1.73 > 1, fewer than 11 hours: 0.
    assert_eq!(histogram_score(&[0, 0, 0, 12]), 0.0);
    assert_eq!(histogram_score(&[0, 0, 0]), 0.0);
    assert_eq!(histogram_score(&[]), 0.0);
    // 12 hours alternating 10 and 20 with one outlier: flatness 0.60, but
    // the two buckets (10: 6 hours, 20: 5) hold 11 of 12 - 1 hours: 1.
    let alternating = [10, 10, 10, 10, 10, 10, 20, 20, 20, 20, 20, 5];
    assert_eq!(histogram_score(&alternating), 1.0);
    // 11 hours, bucket size ceil(40 * 0.05) = 2: buckets 5 (10 s), 10 (20 s),
    // 1 (3), 20 (40): 5 + 4 hours of 11 - 1; flatness only 0.40.
    let bimodal = [10, 10, 10, 10, 10, 20, 20, 20, 20, 3, 40];
    assert!(close(histogram_score(&bimodal), 0.9));
}

#[test]
fn absent_components_are_left_out_and_the_rest_renormalised() {
    let timing_and_duration = Components {
        timing: 1.0,
        duration: 0.5,
        histogram: None,
        size: None,
    };
    // 0.5 ^ (0.2 / 0.6); timing and duration hold 0.6 of the weight.
    let (c, share) = combine(&timing_and_duration, &DEFAULT_WEIGHTS);
    assert!(close(c, 0.5f64.powf(1.0 / 3.0)));
    assert!(close(share, 0.6));
    // With a size score of 0.5 and no histogram: 0.5 ^ ((0.2 + 0.2) / 0.8).
    let with_size = Components {
        size: Some(0.5),
        ..timing_and_duration
    };
    let (c, share) = combine(&with_size, &DEFAULT_WEIGHTS);
    assert!(close(c, 0.5f64.sqrt()));
    assert!(close(share, 0.8));
    // Everything present, only the size at 0.5: 0.5 ^ 0.2.
    let all = Components {
        timing: 1.0,
        duration: 1.0,
        histogram: Some(1.0),
        size: Some(0.5),
    };
    let (c, share) = combine(&all, &DEFAULT_WEIGHTS);
    assert!(close(c, 0.5f64.powf(0.2)));
    assert!(close(share, 1.0));
    // Equal components: their value. A zero component: zero.
    let even = Components {
        timing: 0.7,
        duration: 0.7,
        histogram: Some(0.7),
        size: None,
    };
    assert!(close(combine(&even, &DEFAULT_WEIGHTS).0, 0.7));
    let burst = Components {
        timing: 1.0,
        duration: 0.0,
        histogram: None,
        size: None,
    };
    let (c, share) = combine(&burst, &DEFAULT_WEIGHTS);
    assert_eq!(c, 0.0);
    assert!(close(share, 0.6));
}

#[test]
fn the_score_scales_with_the_count() {
    assert_eq!(count_factor(4, 16), 0.25);
    assert_eq!(count_factor(40, 16), 1.0);
    assert_eq!(beacon_score(1.0, 0.25), 25);
    // 79.37 * 0.625 = 49.6.
    assert_eq!(beacon_score(0.5f64.powf(1.0 / 3.0), 0.625), 50);
    assert_eq!(beacon_score(1.0, 1.0), 100);
    assert_eq!(beacon_score(0.0, 1.0), 0);
}
