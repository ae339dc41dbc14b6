//! Days of the week and times of day as the configuration writes them
//! (`["mon-fri"]`, `"07:00"`, `"22:00-06:00"`), for the rules of
//! engagement's schedule and the digest time.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A set of weekdays, bit 0 Monday to bit 6 Sunday. Written as a list of
/// names and ranges: `["mon-fri"]`, `["sat", "sun"]`, `["fri-mon"]` (a
/// range may wrap past Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySet(pub u8);

/// Day names as written, Monday first.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl DaySet {
    /// Every day.
    pub const ALL: DaySet = DaySet(0x7f);

    /// True when `day` (0 Monday to 6 Sunday) is in the set.
    pub fn contains(self, day: u8) -> bool {
        day < 7 && self.0 & (1 << day) != 0
    }

    /// Parses one item: `"mon"` or `"mon-fri"` (case-insensitive).
    fn parse_item(item: &str) -> Result<u8, String> {
        let day = |name: &str| {
            let name = name.trim().to_ascii_lowercase();
            DAY_NAMES
                .iter()
                .position(|d| *d == name)
                .ok_or_else(|| format!("{item:?} is not a day or a range of days (mon, tue, wed, thu, fri, sat, sun; \"mon-fri\")"))
        };
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => {
                let d = day(item)?;
                (d, d)
            }
        };
        let mut bits = 0u8;
        let mut d = first;
        loop {
            bits |= 1 << d;
            if d == last {
                return Ok(bits);
            }
            d = (d + 1) % 7;
        }
    }

    /// Parses a list of days and ranges; an empty list is refused.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<DaySet, String> {
        if items.is_empty() {
            return Err("no day listed (leave `days` out for every day)".to_owned());
        }
        let mut bits = 0;
        for item in items {
            bits |= DaySet::parse_item(item.as_ref())?;
        }
        Ok(DaySet(bits))
    }

    /// The set as names and ranges, Monday first (`["mon-fri", "sun"]`).
    pub fn items(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut day = 0u8;
        while day < 7 {
            if !self.contains(day) {
                day += 1;
                continue;
            }
            let start = day;
            while day + 1 < 7 && self.contains(day + 1) {
                day += 1;
            }
            let (a, b) = (DAY_NAMES[usize::from(start)], DAY_NAMES[usize::from(day)]);
            out.push(if start == day {
                a.to_owned()
            } else {
                format!("{a}-{b}")
            });
            day += 1;
        }
        out
    }
}

impl Serialize for DaySet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DaySet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DaySet, D::Error> {
        let items = Vec::<String>::deserialize(deserializer)?;
        DaySet::parse(&items).map_err(de::Error::custom)
    }
}

/// A local wall-clock time of day, minutes since midnight (0 to 1440;
/// 1440 is "24:00", only as the end of an [`HourRange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u16);

impl ClockTime {
    /// Parses `"HH:MM"` (00:00 to 23:59; 24:00 when `end` is true).
    pub fn parse(text: &str, end: bool) -> Result<ClockTime, String> {
        let bad = || format!("{text:?} is not a time of day \"HH:MM\" (00:00 to 23:59)");
        let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        match (h, m) {
            (24, 0) if end => Ok(ClockTime(1440)),
            (0..=23, 0..=59) => Ok(ClockTime(h * 60 + m)),
            _ => Err(bad()),
        }
    }

    /// Hour of the day (24 for "24:00").
    pub fn hour(self) -> i8 {
        (self.0 / 60) as i8
    }

    /// Minute of the hour.
    pub fn minute(self) -> i8 {
        (self.0 % 60) as i8
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ClockTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClockTime::parse(&text, false).map_err(de::Error::custom)
    }
}

/// Local hours `"HH:MM-HH:MM"`: from `start` (included) to `end`
/// (excluded). `end` before `start` wraps past midnight (`"22:00-06:00"`);
/// `"00:00-24:00"` is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRange {
    pub start: ClockTime,
    pub end: ClockTime,
}

impl HourRange {
    /// The whole day.
    pub const ALL_DAY: HourRange = HourRange {
        start: ClockTime(0),
        end: ClockTime(1440),
    };

    /// Parses `"08:00-18:00"`; start and end must differ.
    pub fn parse(text: &str) -> Result<HourRange, String> {
        let (a, b) = text.split_once('-').ok_or_else(|| {
            format!("{text:?} is not a range of hours like \"08:00-18:00\" or \"22:00-06:00\"")
        })?;
        let range = HourRange {
            start: ClockTime::parse(a, false)?,
            end: ClockTime::parse(b, true)?,
        };
        if range.start == range.end {
            return Err(format!(
                "{text:?} is empty (write \"00:00-24:00\" for the whole day)"
            ));
        }
        Ok(range)
    }

    /// True when the range runs past midnight into the next day.
    pub fn wraps(self) -> bool {
        self.end < self.start
    }
}

impl fmt::Display for HourRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

impl Serialize for HourRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HourRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HourRange, D::Error> {
        let text = String::deserialize(deserializer)?;
        HourRange::parse(&text).map_err(de::Error::custom)
    }
}
