//! Number formatting and summaries for the detection benchmark's tables
//! (`vantage-detect-bench`).

use std::time::Duration;

use super::median;

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// MiB of `kib` KiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// "met" or "NOT MET".
pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT MET"
    }
}

/// `n` with its thousands separated by commas.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Median, lowest and highest of `values` (NaN when empty).
pub fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    let med = median(&mut values);
    let low = values.first().copied().unwrap_or(f64::NAN);
    let high = values.last().copied().unwrap_or(f64::NAN);
    (med, low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_spreads() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(spread(vec![3.0, 1.0, 2.0, 9.0, 5.0]), (3.0, 1.0, 9.0));
        assert_eq!(met(true), "met");
        assert_eq!(mib(2_560), 2.5);
    }
}
