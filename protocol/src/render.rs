//! Text for people, from the codes and numbers a [`Detection`] carries: one
//! sentence per detector ([`explain`]) and what the rules of engagement did
//! ([`response`]). The sensor's CLI and the collector both print these, so
//! an analyst reads the same words on the box and at the SOC.
//!
//! What each detector's sentence reads (the sensor must fill these in):
//!
//! | detector | `observed` | peer / port / domain | facts read |
//! |---|---|---|---|
//! | port_scan | distinct ports | peer scanned | unanswered |
//! | host_sweep | distinct peers | port swept (0: ICMP echo) | unanswered |
//! | lateral_movement | protected hosts reached | port (0: several) | distinct_ports |
//! | beacon | connections | domain, else peer and port | mean_interval_secs, timing_score |
//! | dns_tunnel | distinct names | domain | max_label_len, entropy_bits |
//! | known_bad | (not shown) | peer and port, or domain | list_index, list_line, entry_age_days |
//! | new_device | (not shown) | | learned_days, local_mac |
//!
//! `threshold` is printed as "(threshold N)" after the measure it bounds
//! (not for known_bad and new_device, whose single sighting is the
//! evidence); `window_secs` as "in N s" (whole hours as "in N h"), left out
//! when 0. A fact that is absent leaves its clause out.

use std::{
    fmt::Write as _,
    net::{IpAddr, SocketAddr},
};

use crate::{
    detected::Detection,
    detection::{Detector, Fact},
    response::{Action, ActionReason, Response},
};

/// The detection in one sentence, e.g. "172.16.0.8 tried 312 ports of
/// 64.13.134.52 in 300 s, 295 unanswered (threshold 15)".
pub fn explain(detection: &Detection) -> String {
    let d = detection;
    let e = &d.explanation;
    let host = IpAddr::from(d.host);
    let observed = number(e.observed);
    let window = window(e.window_secs);
    let threshold = format!(" (threshold {})", number(e.threshold));
    let fact = |fact: Fact| e.fact(fact);
    // "(179 attempts: 173 unanswered, 6 refused; threshold 15)"
    let attempts = {
        let mut parts = Vec::new();
        if let Some(n) = fact(Fact::Unanswered) {
            parts.push(format!("{} unanswered", number(n)));
        }
        if let Some(n) = fact(Fact::Refused) {
            parts.push(format!("{} refused", number(n)));
        }
        match (fact(Fact::Attempts), parts.is_empty()) {
            (Some(n), false) => format!(
                " ({} {}: {}; threshold {})",
                number(n),
                noun(n, "attempt", "attempts"),
                parts.join(", "),
                number(e.threshold)
            ),
            (Some(n), true) => format!(
                " ({} {}; threshold {})",
                number(n),
                noun(n, "attempt", "attempts"),
                number(e.threshold)
            ),
            (None, false) => format!(" ({}; threshold {})", parts.join(", "), number(e.threshold)),
            (None, true) => threshold.clone(),
        }
    };
    match d.detector {
        Detector::PortScan => {
            let peer = d
                .peer
                .map(|peer| format!(" of {}", IpAddr::from(peer)))
                .unwrap_or_default();
            let ports = noun(e.observed, "port", "ports");
            format!("{host} got no connection on {observed} {ports}{peer}{window}{attempts}")
        }
        Detector::HostSweep => {
            let peers = noun(e.observed, "peer", "peers");
            let tried = if d.port == 0 {
                format!("sent echo requests to {observed} {peers} without an answer")
            } else {
                format!("got no connection on port {} of {observed} {peers}", d.port)
            };
            format!("{host} {tried}{window}{attempts}")
        }
        Detector::LateralMovement => {
            let hosts = noun(e.observed, "protected host", "protected hosts");
            let ports = match (d.port, fact(Fact::DistinctPorts)) {
                (0, Some(n)) => format!("{} {}", number(n), noun(n, "admin port", "admin ports")),
                (0, None) => "admin ports".to_owned(),
                (port, _) => format!("port {port}"),
            };
            format!("{host} reached {observed} {hosts} on {ports}{window}{threshold}")
        }
        Detector::Beacon => {
            // `observed` is the regularity (0-100), `threshold` the
            // regularity this many connections need to be reported.
            let mut text = format!("{host} connected to {}", target(d));
            if let Some(n) = fact(Fact::Connections) {
                let _ = write!(text, " {} {}", number(n), noun(n, "time", "times"));
            }
            if let Some(mean) = fact(Fact::MeanIntervalSecs) {
                let _ = write!(text, ", every {} s on average", number(mean));
            }
            let _ = write!(
                text,
                ", regularity {} of 100 (reported from {})",
                number(e.observed.round()),
                number(e.threshold.round())
            );
            if let Some(timing) = fact(Fact::TimingScore) {
                let _ = write!(text, ", timing score {}", number(timing));
            }
            text
        }
        Detector::DnsTunnel => {
            let names = noun(e.observed, "distinct name", "distinct names");
            let domain = d.domain().unwrap_or("one domain");
            let mut text = format!("{host} queried {observed} {names} under {domain}{window}");
            if let Some(label) = fact(Fact::MaxLabelLen) {
                let chars = noun(label, "character", "characters");
                let _ = write!(text, ", longest label {} {chars}", number(label));
            }
            if let Some(bits) = fact(Fact::EntropyBits) {
                let _ = write!(text, ", {} bits per character", number(bits));
            }
            let _ = write!(
                text,
                " (volume counts fully from {} names)",
                number(e.threshold)
            );
            text
        }
        Detector::KnownBad => {
            let mut entry = Vec::new();
            if let Some(list) = fact(Fact::ListIndex) {
                entry.push(format!("list {}", number(list)));
            }
            if let Some(line) = fact(Fact::ListLine) {
                entry.push(format!("line {}", number(line)));
            }
            if let Some(age) = fact(Fact::EntryAgeDays) {
                entry.push(format!(
                    "entry {} {} old",
                    number(age),
                    noun(age, "day", "days")
                ));
            }
            let entry = if entry.is_empty() {
                String::new()
            } else {
                format!(" ({})", entry.join(", "))
            };
            format!("{host} contacted known-bad {}{entry}", target(d))
        }
        Detector::NewDevice => {
            let mut text = format!("{host} appeared for the first time");
            if let Some(days) = fact(Fact::LearnedDays) {
                let _ = write!(
                    text,
                    " after {} {} of learning",
                    number(days),
                    noun(days, "day", "days")
                );
            }
            if fact(Fact::LocalMac).is_some_and(|flag| flag >= 1.0) {
                text.push_str(", with a locally administered (randomised) MAC");
            }
            text
        }
    }
}

/// What the rules of engagement did, e.g. "notify", "block for 3600 s",
/// "shadow_block for 1 h, 3 other hosts talk to it", "refused (never_block)".
/// The reason is named unless it is the plain score threshold.
pub fn response(response: &Response) -> String {
    let mut text = response.action.name().to_owned();
    let blocks = matches!(response.action, Action::Block | Action::ShadowBlock);
    if blocks && response.ttl_secs > 0 {
        let _ = write!(text, " for{}", duration(response.ttl_secs));
    }
    if response.reason != ActionReason::ScoreThreshold {
        let _ = write!(text, " ({})", response.reason.name());
    }
    let touches = blocks || response.action == Action::Refused;
    if touches && response.blast_radius > 0 {
        let n = f32::from(response.blast_radius);
        let _ = write!(
            text,
            ", {} other {} to it",
            response.blast_radius,
            noun(n, "host talks", "hosts talk")
        );
    }
    text
}

/// Who a beacon or a known-bad contact went to: the domain, else the peer
/// with its port, else "a peer".
fn target(detection: &Detection) -> String {
    match (detection.domain(), detection.peer) {
        (Some(domain), _) => domain.to_owned(),
        (None, Some(peer)) if detection.port != 0 => {
            SocketAddr::new(IpAddr::from(peer), detection.port).to_string()
        }
        (None, Some(peer)) => IpAddr::from(peer).to_string(),
        (None, None) => "a peer".to_owned(),
    }
}

/// " in N s" (" in N h" for whole hours), or nothing for no window.
fn window(secs: u32) -> String {
    if secs == 0 {
        return String::new();
    }
    format!(" within a{} window", duration(secs))
}

/// " N s", or " N h" for whole hours.
fn duration(secs: u32) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!(" {} h", secs / 3600)
    } else {
        format!(" {secs} s")
    }
}

/// A figure as people write it: whole numbers without decimals, others
/// with at most two ("0.8", "3.14"); "?" for what is not a number.
pub fn number(value: f32) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    if value.fract() == 0.0 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The singular for exactly one, else the plural.
fn noun(count: f32, singular: &'static str, plural: &'static str) -> &'static str {
    if count == 1.0 {
        singular
    } else {
        plural
    }
}

#[cfg(test)]
mod tests;
