//! `vantage kernel-check`: asks the running kernel for each BPF feature the
//! XDP program needs (the probes `vantage run` makes before loading) and
//! prints the release and each feature, present or missing, with the Linux
//! version that introduced it and what the sensor uses it for. Fails (exit
//! 1, with the agent's own refusal) where the program would not be loaded.

use vantage::datapath::kernel_probe::{self, errno_name, KernelReport, Outcome};

pub(super) fn kernel_check(json: bool) -> anyhow::Result<()> {
    let report = kernel_probe::probe();
    let verdict = kernel_probe::verdict(&report);
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("loads".into(), verdict.is_ok().into());
            object.insert(
                "note".into(),
                kernel_probe::older_verifier_note(&report.release).into(),
            );
            object.insert(
                "refusal".into(),
                verdict.as_ref().err().map(ToString::to_string).into(),
            );
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", table(&report));
        if verdict.is_ok() {
            println!(
                "ok: every BPF feature the XDP program uses is here (all are in Linux {} and newer)",
                kernel_probe::minimum_kernel()
            );
            if let Some(note) = kernel_probe::older_verifier_note(&report.release) {
                println!("note: {note}");
            }
        }
    }
    verdict.map_err(anyhow::Error::from)
}

/// The release, then one line per feature (and the kernel's answer under
/// a feature that is not plainly present).
fn table(report: &KernelReport) -> String {
    let mut out = format!(
        "kernel {}: {} BPF features probed in {:.1} ms\n{:<50} {:<6} {:<8} used for\n",
        report.release,
        report.probes.len(),
        report.elapsed.as_secs_f64() * 1e3,
        "feature",
        "linux",
        "status"
    );
    for probe in &report.probes {
        let feature = probe.feature;
        let name = if feature.required() {
            feature.name().to_owned()
        } else {
            format!("{} (optional)", feature.name())
        };
        let (status, said) = match &probe.outcome {
            Outcome::Present => ("present", None),
            Outcome::Missing { evidence } => ("missing", Some(evidence.clone())),
            Outcome::Denied { errno } => (
                "denied",
                Some(format!(
                    "the kernel did not allow the probe ({})",
                    errno_name(*errno)
                )),
            ),
            Outcome::Undetermined { detail } => ("unknown", Some(detail.clone())),
        };
        out.push_str(&format!(
            "{name:<50} {:<6} {status:<8} {}\n",
            feature.since().to_string(),
            feature.used_for()
        ));
        if let Some(said) = said {
            out.push_str(&format!("    kernel: {said}\n"));
        }
    }
    out
}
