//! The syntax of one list line: `ENTRY [YYYY-MM-DD] [# comment]`, where
//! ENTRY is an IP address, a CIDR prefix or a domain name. Dates are parsed
//! here (midnight UTC) rather than with a date crate: the format is fixed
//! and the arithmetic is a dozen lines.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::list::Target;
use crate::net::Cidr;

/// One line: `None` for a blank or comment line, else the entry and its date.
pub(super) fn parse_line(raw: &str) -> Result<Option<(Target, Option<SystemTime>)>, String> {
    let content = raw.split_once('#').map_or(raw, |(before, _)| before);
    let mut tokens = content.split_whitespace();
    let Some(first) = tokens.next() else {
        return Ok(None);
    };
    let target = parse_target(first)?;
    let date = tokens.next().map(parse_date).transpose()?;
    if let Some(extra) = tokens.next() {
        return Err(format!(
            "unexpected {extra:?} after the date (expected: ENTRY [YYYY-MM-DD] [# comment])"
        ));
    }
    Ok(Some((target, date)))
}

/// An address, a prefix or a domain name.
fn parse_target(token: &str) -> Result<Target, String> {
    match token.parse::<Cidr>() {
        Ok(cidr) => return Ok(Target::Prefix(cidr)),
        Err(e) => {
            let address_like = token.contains([':', '/'])
                || token.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if address_like {
                return Err(e.to_string());
            }
        }
    }
    parse_domain(token).map(|name| Target::Domain(Arc::from(name)))
}

/// A domain name, lower-cased, without its final dot.
fn parse_domain(token: &str) -> Result<String, String> {
    if !token.is_ascii() {
        return Err(format!(
            "{token:?} is not ASCII; write internationalised names in their xn-- form"
        ));
    }
    if token.starts_with("*.") {
        return Err(format!(
            "{token:?}: write the domain without \"*.\" (an entry covers every name under it)"
        ));
    }
    let name = token
        .strip_suffix('.')
        .unwrap_or(token)
        .to_ascii_lowercase();
    if name.len() > 253 {
        return Err(format!("{token:?} is longer than 253 characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "{token:?} has an empty label or one longer than 63 characters"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "{token:?} is neither an address, a prefix nor a domain name ({bad:?} in a name)"
            ));
        }
    }
    if labels.len() < 2 {
        return Err(format!(
            "{token:?}: a domain needs at least two labels (a top-level domain alone would match every name under it)"
        ));
    }
    if labels
        .last()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{token:?} is neither an address nor a domain name (a top-level domain is never numeric)"
        ));
    }
    Ok(name)
}

/// `YYYY-MM-DD` as midnight UTC of that day (1970 or later).
pub(super) fn parse_date(token: &str) -> Result<SystemTime, String> {
    let invalid = || format!("invalid date {token:?} (expected YYYY-MM-DD)");
    let bytes = token.as_bytes();
    let digits_at = |range: std::ops::Range<usize>| {
        bytes
            .get(range.clone())
            .filter(|part| part.iter().all(u8::is_ascii_digit))
            .and_then(|_| token.get(range))
            .and_then(|part| part.parse::<u32>().ok())
    };
    if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return Err(invalid());
    }
    let (Some(year), Some(month), Some(day)) = (digits_at(0..4), digits_at(5..7), digits_at(8..10))
    else {
        return Err(invalid());
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(format!("invalid date {token:?}: no such day"));
    }
    if year < 1970 {
        return Err(format!("invalid date {token:?}: before 1970"));
    }
    let days = days_from_civil(year, month, day);
    Ok(UNIX_EPOCH + Duration::from_secs(days * 86_400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of 1970 or later (Howard Hinnant's
/// `days_from_civil`, <https://howardhinnant.github.io/date_algorithms.html>).
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let year = u64::from(if month <= 2 { year - 1 } else { year });
    let (month, day) = (u64::from(month), u64::from(day));
    let era = year / 400;
    let yoe = year - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}
