//! The agent's side of detection: the files behind the pure detection
//! stage (the device inventory, the next alert id, the known-bad lists,
//! the `--record` trace) and the effects of its decisions (policy blocks in
//! the kernel's block map, detections and digests into the spool).
//!
//! Files live in the state directory: `inventory.json` (saved every
//! [`SAVE_EVERY`] and at shutdown, mode 0600) and `next-alert-id` (the
//! collector merges revisions of one alert by its id, so ids never repeat:
//! the next id is saved, and never below the Unix time of the start).

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    net::{IpAddr, ToSocketAddrs as _},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use vantage_protocol::{Alert, AlertKind, Message, Severity};

use super::faults::{FaultKind, Faults};
use crate::{
    config::{DetectConfig, ResponseConfig, SiteConfig, SiteMode, TimeZoneError},
    datapath::Datapath,
    detect::{
        known_bad::{ListFiles, ListSet},
        new_device::Inventory,
        Site,
    },
    net::{BlockOrigin, BlockTarget, Cidr},
    pipeline::detection::{DetectionOptions, DetectionStage, StageOutputs},
    report::detection::{detection_message, digest_message, is_sent, local_day},
    respond::{Action, Switch},
    sample::Interval,
    time::unix_secs,
};

/// How often the device inventory is saved while running.
pub const SAVE_EVERY: Duration = Duration::from_secs(300);
const INVENTORY_FILE: &str = "inventory.json";
const ALERT_ID_FILE: &str = "next-alert-id";
/// Why each policy block was made (read by `vantage block list`).
pub const POLICY_BLOCKS_FILE: &str = "policy-blocks.json";
/// Policy block notes kept at most (the oldest go first).
const POLICY_NOTES_MAX: usize = 1024;

/// Why the policy blocked an address: written to [`POLICY_BLOCKS_FILE`]
/// in the state directory when the block is made, so that `vantage block
/// list` says who blocked what and why, also after the agent stopped.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyBlockNote {
    pub target: IpAddr,
    pub detector: String,
    pub alert_id: u32,
    pub score: u8,
    /// The policy's reason code (`score 92 >= block_at 90 (night)`).
    pub reason: String,
    /// Unix seconds when the block was made and when it ends.
    pub at: u64,
    pub until: u64,
}

/// The notes in `state_dir` (none if the file is missing or unreadable).
pub fn read_policy_notes(state_dir: &Path) -> Vec<PolicyBlockNote> {
    std::fs::read(state_dir.join(POLICY_BLOCKS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// What the agent needs to build the stage.
#[derive(Clone, Debug)]
pub struct DetectionSettings {
    pub detect: DetectConfig,
    pub response: ResponseConfig,
    /// Append every interval to this file (`vantage run --record`).
    pub record: Option<PathBuf>,
}

/// The files and counters around the stage.
pub struct DetectionFiles {
    state_dir: PathBuf,
    lists: ListFiles,
    next_save: SystemTime,
    saved_alert_id: u32,
    record: Option<(PathBuf, BufWriter<File>)>,
    /// Alerts the rate caps suppressed when the last digest was made.
    suppressed_at_last_digest: u64,
    notes: Vec<PolicyBlockNote>,
}

/// The site as the detectors see it: protected prefixes, resolvers,
/// gateway, and the collector's addresses (its name resolved once, now).
pub fn site_of(local_nets: &[Cidr], site: &SiteConfig, collector: Option<&str>) -> Site {
    let collector = collector
        .and_then(|address| address.to_socket_addrs().ok())
        .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<IpAddr>>())
        .unwrap_or_default();
    Site {
        protected: local_nets.to_vec(),
        resolvers: site.resolvers.clone(),
        collector,
        gateway: site.gateway.into_iter().collect(),
    }
}

/// Builds the stage and its files; problems with the files are faults
/// (logged, counted), never fatal: a corrupt inventory starts a new one
/// (learning again), a bad list is left out until it is fixed.
pub fn start(
    settings: &DetectionSettings,
    site: Site,
    allow: &[Cidr],
    mode: SiteMode,
    state_dir: &Path,
    faults: &mut Faults,
    now: SystemTime,
) -> Result<(DetectionStage, DetectionFiles), TimeZoneError> {
    let inventory_path = state_dir.join(INVENTORY_FILE);
    let inventory = match Inventory::load(&inventory_path) {
        Ok(Some(inventory)) => inventory,
        Ok(None) => Inventory::new(now),
        Err(error) => {
            faults.failed(
                FaultKind::DetectFiles,
                &format!("{error}; starting a new inventory (learning again)"),
                now,
            );
            Inventory::new(now)
        }
    };
    let mut lists = ListFiles::new(settings.detect.known_bad.lists.clone());
    let initial = match lists.reload_if_changed() {
        Some(Ok(set)) => set,
        Some(Err(error)) => {
            faults.failed(
                FaultKind::DetectFiles,
                &format!("known-bad lists: {error}; running without them until fixed"),
                now,
            );
            ListSet::empty()
        }
        None => ListSet::empty(),
    };
    let saved_alert_id = read_alert_id(state_dir);
    let first_alert_id = saved_alert_id.max(u32::try_from(unix_secs(now)).unwrap_or(u32::MAX));
    let stage = DetectionStage::new(
        DetectionOptions {
            detect: settings.detect.clone(),
            response: settings.response.clone(),
            site,
            never_block: allow.to_vec(),
            can_block: mode != SiteMode::Mirror,
            first_alert_id,
            lists: initial,
            inventory,
        },
        now,
    )?;
    for problem in stage.list_problems() {
        log::warn!("known-bad list problem (entry ignored): {problem}");
    }
    let record = settings.record.as_ref().and_then(|path| {
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| (path.clone(), BufWriter::new(file)));
        faults.check(
            FaultKind::DetectFiles,
            opened.map_err(|e| format!("--record {}: {e}", path.display())),
            now,
        )
    });
    Ok((
        stage,
        DetectionFiles {
            state_dir: state_dir.to_path_buf(),
            lists,
            next_save: now + SAVE_EVERY,
            saved_alert_id,
            record,
            suppressed_at_last_digest: 0,
            notes: read_policy_notes(state_dir),
        },
    ))
}

fn read_alert_id(state_dir: &Path) -> u32 {
    std::fs::read_to_string(state_dir.join(ALERT_ID_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn write_small_file(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

impl DetectionFiles {
    /// Before a step: appends the interval to the trace (when recording).
    pub fn record(&mut self, interval: &Interval, faults: &mut Faults, now: SystemTime) {
        if let Some((path, out)) = &mut self.record {
            let written =
                crate::replay::trace::write_interval(out, interval).and_then(|()| out.flush());
            faults.check(
                FaultKind::DetectFiles,
                written.map_err(|e| format!("--record {}: {e}", path.display())),
                now,
            );
        }
    }

    /// After a step: reloads changed lists, saves the alert id and, when
    /// due, the inventory.
    pub fn maintain(&mut self, stage: &mut DetectionStage, faults: &mut Faults, now: SystemTime) {
        match self.lists.reload_if_changed() {
            Some(Ok(set)) => {
                log::info!("known-bad lists reloaded: {} entries", set.len());
                stage.replace_lists(set);
                for problem in stage.list_problems() {
                    log::warn!("known-bad list problem (entry ignored): {problem}");
                }
            }
            Some(Err(error)) => faults.failed(
                FaultKind::DetectFiles,
                &format!("known-bad lists: {error}; keeping the lists loaded before"),
                now,
            ),
            None => {}
        }
        let next_id = stage.next_alert_id();
        if next_id != self.saved_alert_id {
            let written =
                write_small_file(&self.state_dir.join(ALERT_ID_FILE), &format!("{next_id}\n"));
            if faults.check(FaultKind::DetectFiles, written, now).is_some() {
                self.saved_alert_id = next_id;
            }
        }
        if now >= self.next_save {
            self.save_inventory(stage, faults, now);
        }
    }

    /// Saves the device inventory now.
    pub fn save_inventory(&mut self, stage: &DetectionStage, faults: &mut Faults, now: SystemTime) {
        self.next_save = now + SAVE_EVERY;
        let saved = stage.inventory().save(&self.state_dir.join(INVENTORY_FILE));
        faults.check(FaultKind::DetectFiles, saved, now);
    }

    fn note_block(
        &mut self,
        output: &crate::pipeline::detection::DetectionOutput,
        target: IpAddr,
        ttl: Duration,
        faults: &mut Faults,
        now: SystemTime,
    ) {
        let at = unix_secs(now);
        self.notes
            .retain(|note| note.until > at && note.target != target);
        if self.notes.len() >= POLICY_NOTES_MAX {
            self.notes.remove(0);
        }
        self.notes.push(PolicyBlockNote {
            target,
            detector: output.raised.finding.detector.name().to_owned(),
            alert_id: output.raised.id,
            score: output.raised.finding.score,
            reason: output.decision.reason.clone(),
            at,
            until: at + ttl.as_secs(),
        });
        let written = serde_json::to_string_pretty(&self.notes)
            .map_err(std::io::Error::other)
            .and_then(|text| write_small_file(&self.state_dir.join(POLICY_BLOCKS_FILE), &text));
        faults.check(FaultKind::DetectFiles, written, now);
    }

    /// Applies a step's outputs: policy blocks into the kernel, and the
    /// messages to sign (detections a person is told about, the digest,
    /// a switch of the policy).
    pub fn apply(
        &mut self,
        outputs: &StageOutputs,
        stage: &DetectionStage,
        datapath: &mut Datapath,
        monotonic_ns: u64,
        faults: &mut Faults,
        now: SystemTime,
    ) -> Vec<Message> {
        let mut messages = Vec::new();
        for output in &outputs.detections {
            if let Action::Block { target, ttl } = &output.decision.action {
                let added = datapath.maps_mut().block_add(
                    &BlockTarget::Host(*target),
                    *ttl,
                    BlockOrigin::Policy,
                    monotonic_ns,
                );
                if faults.check(FaultKind::Response, added, now).is_some() {
                    log::warn!(
                        "blocked {target} for {}s: {} alert {} ({})",
                        ttl.as_secs(),
                        output.raised.finding.detector.name(),
                        output.raised.id,
                        output.decision.reason
                    );
                    self.note_block(output, *target, *ttl, faults, now);
                }
            }
            if is_sent(output) {
                messages.push(detection_message(output));
            }
        }
        if let Some(switch) = outputs.switched {
            messages.push(Message::Alert(switch_alert(switch, now)));
        }
        if let Some(report) = &outputs.digest {
            let suppressed = stage.stats().alerts.suppressed_total();
            let since = suppressed.saturating_sub(self.suppressed_at_last_digest);
            self.suppressed_at_last_digest = suppressed;
            let day = local_day(report.from, stage.time_zone());
            messages.push(digest_message(report, day, since, now));
        }
        messages
    }
}

/// The alert saying the policy switched to alert-only or resumed blocking.
fn switch_alert(switch: Switch, now: SystemTime) -> Alert {
    let (severity, detail) = match switch {
        Switch::ToAlertOnly(cap) => (
            Severity::High,
            format!("alert-only: {} reached", <&str>::from(cap)),
        ),
        Switch::Resumed => (Severity::Info, "blocking resumed".to_owned()),
    };
    Alert {
        at: unix_secs(now),
        severity,
        kind: AlertKind::Response,
        host: IpAddr::from([0, 0, 0, 0]).into(),
        peer: None,
        port: 0,
        count: 1,
        detail: vantage_protocol::message::bounded(&detail),
    }
}
