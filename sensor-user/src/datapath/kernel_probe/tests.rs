//! The decision and its messages, from made-up probe results.

use std::{
    collections::{BTreeSet, HashSet},
    time::Duration,
};

use super::{
    minimum_kernel, older_verifier_note, release_version, verdict, Feature, FeatureProbe,
    KernelError, KernelReport, LinuxVersion, Outcome,
};

/// A report for `release` where every feature is present except those given.
fn report(release: &str, except: &[(Feature, Outcome)]) -> KernelReport {
    KernelReport {
        release: release.to_owned(),
        probes: Feature::ALL
            .iter()
            .map(|&feature| FeatureProbe {
                feature,
                outcome: except
                    .iter()
                    .find(|(f, _)| *f == feature)
                    .map_or(Outcome::Present, |(_, outcome)| outcome.clone()),
            })
            .collect(),
        elapsed: Duration::from_millis(2),
    }
}

fn missing() -> Outcome {
    Outcome::Missing {
        evidence: "EINVAL".to_owned(),
    }
}

#[test]
fn every_feature_present_loads() {
    assert_eq!(verdict(&report("6.18.0", &[])), Ok(()));
}

#[test]
fn one_missing_feature_is_named_with_its_version_and_use() {
    let result = verdict(&report("5.15.0", &[(Feature::XdpLoadBytes, missing())]));
    assert_eq!(
        result,
        Err(KernelError::Missing {
            release: "5.15.0".to_owned(),
            missing: vec![Feature::XdpLoadBytes],
        })
    );
    let text = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        text,
        "kernel 5.15.0 lacks bpf_xdp_load_bytes (Linux 5.18; copies DNS queries and answers to the agent): \
         the XDP program cannot load without it; use Linux 6.12 or newer, the oldest kernel the \
         sensor is verified on; `vantage kernel-check` lists every feature"
    );
}

#[test]
fn a_5_15_kernel_is_refused_for_each_5_18_feature_in_one_message() {
    let result = verdict(&report(
        "5.15.0-91-generic",
        &[
            (Feature::XdpGetBuffLen, missing()),
            (Feature::XdpLoadBytes, missing()),
            (Feature::XdpFrags, missing()),
        ],
    ));
    let text = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        text,
        "kernel 5.15.0-91-generic lacks bpf_xdp_get_buff_len (Linux 5.18; measures jumbo frames), \
         bpf_xdp_load_bytes (Linux 5.18; copies DNS queries and answers to the agent) and \
         XDP multi-buffer programs (BPF_F_XDP_HAS_FRAGS) (Linux 5.18; the entry points for jumbo MTUs): \
         the XDP program cannot load without them; use Linux 6.12 or newer, the oldest kernel the \
         sensor is verified on; `vantage kernel-check` lists every feature"
    );
}

#[test]
fn a_5_4_kernel_lists_every_feature_after_5_3() {
    let after_5_4: Vec<(Feature, Outcome)> = Feature::ALL
        .iter()
        .filter(|f| f.since() > LinuxVersion::new(5, 4))
        .map(|&f| (f, missing()))
        .collect();
    match verdict(&report("5.4.0", &after_5_4)) {
        Err(KernelError::Missing { missing, .. }) => assert_eq!(
            missing,
            [
                Feature::Jiffies64,
                Feature::RingBuffer,
                Feature::RingbufReserve,
                Feature::RingbufSubmit,
                Feature::KtimeGetCoarseNs,
                Feature::XdpGetBuffLen,
                Feature::XdpLoadBytes,
                Feature::XdpFrags,
            ],
            "XDP links are optional and not listed"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_denied_probe_is_a_permission_problem_not_a_missing_feature() {
    let result = verdict(&report(
        "6.18.0",
        &[
            (Feature::XdpPrograms, Outcome::Denied { errno: libc::EPERM }),
            (Feature::RingBuffer, Outcome::Denied { errno: libc::EPERM }),
        ],
    ));
    assert_eq!(
        result,
        Err(KernelError::Denied {
            release: "6.18.0".to_owned(),
            errno: libc::EPERM,
            features: vec![Feature::XdpPrograms, Feature::RingBuffer],
        })
    );
    let text = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!text.contains("lacks"), "{text}");
    assert!(
        text.starts_with(
            "kernel 6.18.0 did not allow probing for XDP programs and the BPF ring buffer \
             (BPF_MAP_TYPE_RINGBUF) (EPERM): loading XDP programs needs root"
        ),
        "{text}"
    );
}

#[test]
fn missing_features_are_reported_before_denied_probes() {
    let result = verdict(&report(
        "5.10.0",
        &[
            (Feature::KtimeGetCoarseNs, missing()),
            (Feature::RingBuffer, Outcome::Denied { errno: libc::EPERM }),
        ],
    ));
    assert_eq!(
        result,
        Err(KernelError::Missing {
            release: "5.10.0".to_owned(),
            missing: vec![Feature::KtimeGetCoarseNs],
        })
    );
}

#[test]
fn undetermined_probes_and_optional_features_never_refuse() {
    let result = verdict(&report(
        "6.18.0",
        &[
            (
                Feature::BoundedLoops,
                Outcome::Undetermined {
                    detail: "BPF_PROG_LOAD: ENOMEM".to_owned(),
                },
            ),
            (Feature::XdpLinks, missing()),
            (
                Feature::XdpFrags,
                Outcome::Denied {
                    errno: libc::EACCES,
                },
            ),
        ],
    ));
    // Only the denied required probe counts.
    assert!(matches!(
        result,
        Err(KernelError::Denied { ref features, errno, .. })
            if features == &[Feature::XdpFrags] && errno == libc::EACCES
    ));
    let result = verdict(&report(
        "6.18.0",
        &[
            (
                Feature::BoundedLoops,
                Outcome::Undetermined {
                    detail: "BPF_PROG_LOAD: ENOMEM".to_owned(),
                },
            ),
            (Feature::XdpLinks, missing()),
        ],
    ));
    assert_eq!(result, Ok(()));
}

#[test]
fn the_feature_table_is_consistent() {
    let ids: HashSet<&str> = Feature::ALL.iter().map(|f| f.id()).collect();
    assert_eq!(ids.len(), Feature::ALL.len(), "ids are unique");
    let names: HashSet<&str> = Feature::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names.len(), Feature::ALL.len(), "names are unique");
    assert_eq!(minimum_kernel(), LinuxVersion::new(5, 18));
    assert_eq!(
        Feature::ALL.iter().filter(|f| !f.required()).count(),
        1,
        "only XDP links are optional"
    );
    let required: Vec<LinuxVersion> = Feature::ALL[..Feature::ALL.len() - 1]
        .iter()
        .map(|f| f.since())
        .collect();
    assert!(
        required.windows(2).all(|pair| pair[0] <= pair[1]),
        "oldest first: {required:?}"
    );
    assert_eq!(Feature::ALL.last(), Some(&Feature::XdpLinks));
    assert_eq!(Feature::XdpLoadBytes.id(), "xdp_load_bytes");
    assert_eq!(LinuxVersion::new(5, 18).to_string(), "5.18");
}

#[test]
fn the_report_serialises_each_feature_with_its_status() -> Result<(), serde_json::Error> {
    let json = serde_json::to_value(report(
        "5.15.0",
        &[(
            Feature::XdpFrags,
            Outcome::Missing {
                evidence: "EINVAL".to_owned(),
            },
        )],
    ))?;
    assert_eq!(json["release"], "5.15.0");
    assert_eq!(json["elapsed_us"], 2000);
    assert_eq!(json["probes"][0]["feature"], "hash_maps");
    assert_eq!(json["probes"][0]["status"], "present");
    assert_eq!(json["probes"][14]["feature"], "xdp_frags");
    assert_eq!(json["probes"][14]["status"], "missing");
    assert_eq!(json["probes"][14]["evidence"], "EINVAL");
    assert_eq!(json["probes"][14]["since"], "5.18");
    assert_eq!(json["probes"][14]["required"], true);
    assert_eq!(json["probes"][15]["required"], false);
    Ok(())
}

#[test]
fn an_older_kernel_with_every_feature_gets_a_note_not_a_refusal() {
    assert_eq!(
        release_version("6.1.0-57-cloud-amd64"),
        Some(LinuxVersion::new(6, 1))
    );
    assert_eq!(
        release_version("6.18.44-fc-v669"),
        Some(LinuxVersion::new(6, 18))
    );
    assert_eq!(release_version("5.4"), Some(LinuxVersion::new(5, 4)));
    assert_eq!(release_version("weird"), None);
    assert_eq!(verdict(&report("6.1.0-57-cloud-amd64", &[])), Ok(()));
    assert!(older_verifier_note("6.1.0-57-cloud-amd64")
        .is_some_and(|note| note.contains("its verifier may still refuse")));
    assert_eq!(older_verifier_note("6.12.117+deb12-cloud-amd64"), None);
    assert_eq!(older_verifier_note("6.18.0"), None);
    assert_eq!(older_verifier_note("7.0.1"), None);
}

/// The helpers (`call N`, source register 0) in the executable sections of
/// an ELF64 little-endian BPF object, the type of each legacy map
/// definition (`maps`, 28 bytes each, the type first) and the section names.
fn object_uses(elf: &[u8]) -> Option<(BTreeSet<u32>, BTreeSet<u32>, Vec<String>)> {
    object_scan(elf).map(|scan| (scan.helpers, scan.maps, scan.sections))
}

/// What [`object_uses`] reads, and the BPF-to-BPF calls (`call` with source
/// register 1, `BPF_PSEUDO_CALL`) in the executable sections.
struct ObjectScan {
    helpers: BTreeSet<u32>,
    maps: BTreeSet<u32>,
    sections: Vec<String>,
    function_calls: usize,
}

fn object_scan(elf: &[u8]) -> Option<ObjectScan> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at =
        |at: usize| usize::try_from(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?)).ok();
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(0x28)?,
        usize::from(u16_at(0x3a)?),
        usize::from(u16_at(0x3c)?),
        usize::from(u16_at(0x3e)?),
    );
    let header = |index: usize| shoff + index * shentsize;
    let names_at = u64_at(header(shstrndx) + 24)?;
    let (mut helpers, mut maps, mut sections) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    let mut function_calls = 0;
    for index in 0..shnum {
        let at = header(index);
        let name_at = names_at + usize::try_from(u32_at(at)?).ok()?;
        let name_len = elf.get(name_at..)?.iter().position(|&b| b == 0)?;
        let name = String::from_utf8_lossy(&elf[name_at..name_at + name_len]).into_owned();
        let (flags, offset, size) = (u64_at(at + 8)?, u64_at(at + 24)?, u64_at(at + 32)?);
        let body = elf.get(offset..offset + size)?;
        if flags & 0x4 != 0 {
            // SHF_EXECINSTR: 8-byte instructions.
            for insn in body.chunks_exact(8) {
                if insn[0] == 0x85 && insn[1] >> 4 == 0 {
                    helpers.insert(u32::from_le_bytes(insn[4..8].try_into().ok()?));
                }
                if insn[0] == 0x85 && insn[1] >> 4 == 1 {
                    function_calls += 1;
                }
            }
        }
        if name == "maps" {
            for def in body.chunks_exact(28) {
                maps.insert(u32::from_le_bytes(def[0..4].try_into().ok()?));
            }
        }
        sections.push(name);
    }
    Some(ObjectScan {
        helpers,
        maps,
        sections,
        function_calls,
    })
}

/// Kernels before 6.4 stop tracking precision at a BPF-to-BPF call and then
/// exceed the verifier's instruction limit on this program (Debian's 6.12
/// loads it only without calls): every body is inlined, and no copy may
/// become a call to `memcpy`, `memmove` or `memset`.
#[test]
fn the_built_program_makes_no_function_calls() {
    let object = crate::datapath::SENSOR_OBJECT;
    assert!(!object.is_empty(), "built without the XDP object");
    let Some(scan) = object_scan(object) else {
        panic!("the XDP object is not an ELF64 file this test can read");
    };
    assert_eq!(scan.function_calls, 0, "BPF-to-BPF calls in the XDP object");
}

#[test]
fn the_probes_cover_every_helper_and_map_type_the_built_program_uses() {
    let object = crate::datapath::SENSOR_OBJECT;
    assert!(!object.is_empty(), "built without the XDP object");
    let Some((helpers, maps, sections)) = object_uses(object) else {
        panic!("the XDP object is not an ELF64 file this test can read");
    };
    // `enum bpf_func_id`: 1 is bpf_map_lookup_elem (3.19, part of any map).
    let probed_helpers: BTreeSet<u32> = [1, 118, 131, 132, 160, 188, 189].into();
    assert_eq!(helpers, probed_helpers, "helpers called by the XDP program");
    // `enum bpf_map_type`: hash, array, per-CPU array, LPM trie, ring buffer.
    let probed_maps: BTreeSet<u32> = [1, 2, 6, 11, 27].into();
    assert_eq!(maps, probed_maps, "map types the XDP program defines");
    assert!(
        sections.iter().any(|name| name == "xdp.frags"),
        "multi-buffer programs: {sections:?}"
    );
}
