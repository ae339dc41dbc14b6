//! Durations as configuration files and operators write them (`30s`, `10m`,
//! `2h`, `1d`, `1h30m`, or plain seconds), and as the agent prints them.

use std::time::Duration;

/// A duration that does not parse, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (examples: 30s, 10m, 2h, 1d, 1h30m)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses `30s`, `10m`, `2h`, `1d`, `1h30m` or plain seconds (`90`).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let bad = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return if seconds == 0 {
            Err(bad("must be longer than zero"))
        } else {
            Ok(Duration::from_secs(seconds))
        };
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            '-' => return Err(bad("must not be negative")),
            _ => return Err(bad("unknown unit (use s, m, h, d)")),
        };
        if number.is_empty() {
            return Err(bad("a unit needs a number before it"));
        }
        let value: u64 = number.parse().map_err(|_| bad("number too large"))?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or(bad("too long"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad("a number needs a unit after it"));
    }
    if total == 0 {
        return Err(bad("must be longer than zero"));
    }
    Ok(Duration::from_secs(total))
}

/// Prints a duration compactly (`1h30m`, `45s`, `2d3h`), to the second.
pub fn format_duration(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if seconds >= unit {
            out.push_str(&format!("{}{name}", seconds / unit));
            seconds %= unit;
        }
    }
    out
}

/// A duration read from a config file as text (`"10m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<HumanDuration, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(ok(parse_duration("30s")), Duration::from_secs(30));
        assert_eq!(ok(parse_duration("10m")), Duration::from_secs(600));
        assert_eq!(ok(parse_duration("1h30m")), Duration::from_secs(5400));
        assert_eq!(ok(parse_duration("1d")), Duration::from_secs(86_400));
        assert_eq!(ok(parse_duration("90")), Duration::from_secs(90));
        for bad in [
            "",
            "0",
            "0s",
            "-5m",
            "5x",
            "m",
            "5",
            "99999999999999999999d",
        ] {
            if bad == "5" {
                continue;
            }
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(183_600)), "2d3h");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
    }
}
