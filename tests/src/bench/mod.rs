//! The XDP benchmark's machinery: programs under `BPF_PROG_TEST_RUN`,
//! measured in interleaved rounds (each round runs every program once on the
//! same frame, so a slow moment of the machine hits them all alike) and
//! reported as medians.
//!
//! Every program measured is an [`aya::programs::Xdp`] opened from a pin in
//! a bpffs directory private to this process ([`PinDir`]), whoever loaded
//! it: this crate's object, xdp-filter ([`xdp_filter`]) or a running agent
//! ([`live`]).

pub mod detect_format;
pub mod detect_latency;
pub mod detect_memory;
pub mod detect_names;
pub mod detect_pcap;
pub mod detect_pipeline;
pub mod detect_replay;
pub mod detect_site;
pub mod live;
pub mod xdp_filter;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};
use aya::programs::{TestRun as _, TestRunOptions, Xdp};
use aya_obj::programs::XdpAttachType;

/// `/sys/fs/bpf/vantage-bench-<pid>`: where the benchmark pins the
/// programs it measures; removed (with the pins) on drop.
pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    pub fn create() -> anyhow::Result<PinDir> {
        let path = PathBuf::from(format!("/sys/fs/bpf/vantage-bench-{}", std::process::id()));
        if path.exists() {
            bail!("{} already exists; refusing to reuse it", path.display());
        }
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(PinDir { path })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Pins the loaded program `id` (any loader's) as `name` with bpftool
    /// and opens it.
    pub fn pin_id(&self, id: u32, name: &str) -> anyhow::Result<Xdp> {
        let path = self.path(name);
        let out = Command::new("bpftool")
            .args(["prog", "pin", "id", &id.to_string()])
            .arg(&path)
            .output()
            .context("running bpftool")?;
        if !out.status.success() {
            bail!(
                "bpftool prog pin id {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        open_pinned(&path)
    }

    /// Pins a program this process loaded as `name` and opens the pin.
    pub fn pin(&self, program: &mut Xdp, name: &str) -> anyhow::Result<Xdp> {
        let path = self.path(name);
        program
            .pin(&path)
            .with_context(|| format!("pinning {name}"))?;
        open_pinned(&path)
    }
}

fn open_pinned(path: &Path) -> anyhow::Result<Xdp> {
    Xdp::from_pin(path, XdpAttachType::Interface)
        .with_context(|| format!("opening the pinned program {}", path.display()))
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One run of `repeat` passes of `frame`: the kernel's mean ns per pass,
/// and the program's return value.
pub fn test_run(program: &Xdp, frame: &[u8], repeat: u32) -> anyhow::Result<(f64, u32)> {
    let result = program.test_run(TestRunOptions {
        data_in: Some(frame),
        repeat,
        ..TestRunOptions::default()
    })?;
    Ok((result.duration.as_nanos() as f64, result.return_value))
}

/// The median of `values` (sorted in place); NaN when empty.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Rounds and passes per run.
#[derive(Clone, Copy, Debug)]
pub struct Rounds {
    pub rounds: usize,
    pub repeat: u32,
}

/// What one program did over the rounds.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Median ns per pass.
    pub ns: f64,
    /// Lowest and highest round (ns per pass).
    pub low: f64,
    pub high: f64,
    /// The return value of the last run (`XDP_PASS` = 2, `XDP_DROP` = 1).
    pub verdict: u32,
}

/// Runs every program of `programs` on `frame` once per round, in the same
/// order each round, after one warm-up run each of `warm_up` passes.
pub fn interleaved(
    programs: &[&Xdp],
    frame: &[u8],
    rounds: Rounds,
    warm_up: u32,
) -> anyhow::Result<Vec<Measured>> {
    for program in programs {
        test_run(program, frame, warm_up)?;
    }
    let mut samples = vec![Vec::with_capacity(rounds.rounds); programs.len()];
    let mut verdicts = vec![0; programs.len()];
    for _ in 0..rounds.rounds {
        for (i, program) in programs.iter().enumerate() {
            let (ns, verdict) = test_run(program, frame, rounds.repeat)?;
            samples[i].push(ns);
            verdicts[i] = verdict;
        }
    }
    Ok(samples
        .into_iter()
        .zip(verdicts)
        .map(|(mut ns, verdict)| {
            let med = median(&mut ns);
            Measured {
                ns: med,
                low: ns.first().copied().unwrap_or(f64::NAN),
                high: ns.last().copied().unwrap_or(f64::NAN),
                verdict,
            }
        })
        .collect())
}

/// Keeps this thread (and the kernel work of its test runs) on one CPU:
/// the host table and the caches are per CPU, so hosts created by one run
/// are the ones the next run finds.
pub fn pin_to_cpu(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        bail!(
            "sched_setaffinity(cpu {cpu}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// `XDP_PASS` / `XDP_DROP` as words.
pub fn verdict_name(verdict: u32) -> &'static str {
    match verdict {
        1 => "drop",
        2 => "pass",
        _ => "other",
    }
}
