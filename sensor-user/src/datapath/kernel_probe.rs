//! Does the running kernel have every BPF feature the XDP program needs?
//!
//! Before the object is loaded, each feature is asked of the kernel itself
//! (a map created, a tiny XDP program loaded with the helper or flag, a
//! link request), never guessed from the version number: vendor kernels
//! backport BPF features, and a kernel built without some is missing them
//! whatever it is called. The release (`uname -r`) only goes into the
//! messages. A kernel that lacks a required feature is refused with one
//! error naming each missing feature, the Linux version that introduced it
//! and what the sensor uses it for, instead of the verifier's log.
//!
//! The probes tell "missing" (the kernel answered with the error that
//! version gives for that very feature) apart from "not permitted" (EPERM,
//! EACCES: reported as such, never as a missing feature) and from any other
//! answer ("undetermined": logged, and loading goes ahead, so that a probe
//! that misreads a good kernel cannot stop a sensor). Probing costs a few
//! milliseconds and runs once per process ([`require`]).
//!
//! The versions are those of mainline Linux, from the kernel's history (the
//! commits that added each feature, as listed in bcc's
//! `docs/kernel-versions.md`).

mod features;
mod probes;
#[cfg(test)]
mod tests;

use std::{sync::OnceLock, time::Duration};

pub use features::{
    minimum_kernel, older_verifier_note, release_version, Feature, LinuxVersion, TESTED_ON,
};

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The kernel accepted the probe.
    Present,
    /// The kernel refused it the way a kernel without the feature does.
    Missing {
        /// The kernel's answer (errno, verifier message).
        evidence: String,
    },
    /// The kernel did not allow the probe (EPERM or EACCES): nothing is
    /// known about the feature.
    Denied { errno: i32 },
    /// Any other answer: the feature is not reported missing.
    Undetermined { detail: String },
}

/// One feature and what its probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureProbe {
    pub feature: Feature,
    pub outcome: Outcome,
}

/// With the feature's name, version, use and whether it is required.
impl serde::Serialize for FeatureProbe {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            feature: Feature,
            name: &'static str,
            since: LinuxVersion,
            required: bool,
            used_for: &'static str,
            #[serde(flatten)]
            outcome: &'a Outcome,
        }
        let feature = self.feature;
        Row {
            feature,
            name: feature.name(),
            since: feature.since(),
            required: feature.required(),
            used_for: feature.used_for(),
            outcome: &self.outcome,
        }
        .serialize(serializer)
    }
}

/// What the running kernel has.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KernelReport {
    /// The kernel release, as `uname -r` prints it.
    pub release: String,
    /// One entry per [`Feature::ALL`], in that order.
    pub probes: Vec<FeatureProbe>,
    /// How long probing took (JSON: `elapsed_us`, microseconds).
    #[serde(rename = "elapsed_us", serialize_with = "micros")]
    pub elapsed: Duration,
}

fn micros<S: serde::Serializer>(elapsed: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
}

/// Why the XDP program is not loaded on this kernel.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("kernel {release} lacks {}: the XDP program cannot load without {}; use Linux {TESTED_ON} or newer, the oldest kernel the sensor is verified on; `vantage kernel-check` lists every feature", list(missing), if missing.len() == 1 { "it" } else { "them" })]
    Missing {
        /// `uname -r`.
        release: String,
        /// Each required feature the kernel refused, in [`Feature::ALL`] order.
        missing: Vec<Feature>,
    },
    #[error("kernel {release} did not allow probing for {} ({}): loading XDP programs needs root, or CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN before Linux 5.8); kernels before 5.11 also refuse BPF maps beyond RLIMIT_MEMLOCK", denied(features), errno_name(*errno))]
    Denied {
        /// `uname -r`.
        release: String,
        /// The first errno the kernel gave (EPERM or EACCES).
        errno: i32,
        /// Each required feature whose probe was not allowed.
        features: Vec<Feature>,
    },
}

/// "a (Linux x; use), b (...) and c (...)".
fn list(missing: &[Feature]) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|f| format!("{} (Linux {}; {})", f.name(), f.since(), f.used_for()))
        .collect();
    join_and(&items)
}

/// The features named, or "any BPF feature" when no probe was allowed.
fn denied(features: &[Feature]) -> String {
    if features.len() == Feature::ALL.iter().filter(|f| f.required()).count() {
        return "any BPF feature".to_owned();
    }
    let items: Vec<String> = features.iter().map(|f| f.name().to_owned()).collect();
    join_and(&items)
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `EPERM`, `EINVAL`, ... or `errno N`.
pub fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::E2BIG => "E2BIG".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        524 => "ENOTSUPP".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::ENOSPC => "ENOSPC".into(),
        other => format!("errno {other}"),
    }
}

/// Whether the XDP program may be loaded, from the probes' results: refused
/// when a required feature is missing (naming each), else when a required
/// probe was not permitted; optional features and undetermined probes never
/// refuse.
pub fn verdict(report: &KernelReport) -> Result<(), KernelError> {
    let required = || report.probes.iter().filter(|p| p.feature.required());
    let missing: Vec<Feature> = required()
        .filter(|p| matches!(p.outcome, Outcome::Missing { .. }))
        .map(|p| p.feature)
        .collect();
    if !missing.is_empty() {
        return Err(KernelError::Missing {
            release: report.release.clone(),
            missing,
        });
    }
    let denied: Vec<(Feature, i32)> = required()
        .filter_map(|p| match p.outcome {
            Outcome::Denied { errno } => Some((p.feature, errno)),
            _ => None,
        })
        .collect();
    if let Some(&(_, errno)) = denied.first() {
        return Err(KernelError::Denied {
            release: report.release.clone(),
            errno,
            features: denied.into_iter().map(|(feature, _)| feature).collect(),
        });
    }
    Ok(())
}

/// Probes the running kernel for every feature now (a few ms).
pub fn probe() -> KernelReport {
    probes::run()
}

/// Probes once per process (the first call; later calls reuse the
/// result) and refuses a kernel the XDP program cannot load on.
/// Undetermined probes are logged once as warnings.
pub fn require() -> Result<(), KernelError> {
    static REPORT: OnceLock<KernelReport> = OnceLock::new();
    let report = REPORT.get_or_init(|| {
        let report = probe();
        for probe in &report.probes {
            if let Outcome::Undetermined { detail } = &probe.outcome {
                log::warn!(
                    "kernel {}: could not tell whether it has {} ({detail}); loading anyway",
                    report.release,
                    probe.feature.name()
                );
            }
        }
        if verdict(&report).is_ok() {
            if let Some(note) = older_verifier_note(&report.release) {
                log::warn!("{note}");
            }
        }
        log::debug!(
            "kernel {}: {} BPF features probed in {} us",
            report.release,
            report.probes.len(),
            report.elapsed.as_micros()
        );
        report
    });
    verdict(report)
}
