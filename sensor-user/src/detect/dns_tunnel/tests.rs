use std::time::Duration;

use super::{
    shape::{name_shape, wire_labels},
    *,
};
use crate::config::duration::HumanDuration;

// --- entropy and name shape ---

#[test]
fn entropy_of_known_strings() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert_eq!(shannon_entropy(b"ab"), 1.0);
    assert_eq!(shannon_entropy(b"aabb"), 1.0);
    assert_eq!(shannon_entropy(b"abcd"), 2.0);
    assert_eq!(shannon_entropy(b"abcdefgh"), 3.0);
    assert_eq!(shannon_entropy(b"0123456789abcdef"), 4.0);
    assert_eq!(shannon_entropy(b"abcdefghijklmnopqrstuvwxyz234567"), 5.0);
    // -(2/3 log2 2/3 + 1/3 log2 1/3) = log2 3 - 2/3
    let aab = 3_f64.log2() - 2.0 / 3.0;
    assert!((shannon_entropy(b"aab") - aab).abs() < 1e-12);
    // "google": g 2, o 2, l 1, e 1 -> 2 (1/3) log2 3 + 2 (1/6) log2 6
    let google = 2.0 / 3.0 * 3_f64.log2() + 6_f64.log2() / 3.0;
    assert!((shannon_entropy(b"google") - google).abs() < 1e-12);
}

#[test]
fn names_are_measured_in_the_bytes_the_message_carried() {
    assert_eq!(wire_labels(""), Vec::<Vec<u8>>::new());
    assert_eq!(wire_labels("www"), vec![b"www".to_vec()]);
    assert_eq!(
        wire_labels("ab\\046c.d\\255"),
        vec![b"ab.c".to_vec(), vec![b'd', 255]]
    );
    let shape = name_shape("ab\\046c.d\\255");
    assert_eq!((shape.len, shape.payload, shape.max_label), (7, 6, 4));
    // Four bytes of 255, escaped to 16 characters: one label of 4 bytes,
    // entropy 0.
    let shape = name_shape("\\255\\255\\255\\255");
    assert_eq!((shape.len, shape.max_label, shape.entropy), (4, 4, 0.0));
    assert_eq!(name_shape(""), shape::NameShape::default());
    assert!((f64::from(name_shape("abcd.ef").entropy) - 6_f64.log2()).abs() < 1e-6);
}

// --- the score ---

#[test]
fn score_parts_and_their_combination() {
    let settings = DnsTunnelSettings::default();
    let clear = TunnelMeasures {
        distinct_names: 100,
        max_label: 52,
        mean_name_len: 60.0,
        entropy_bits: 5.0,
        queries: 100,
        typed_queries: 100,
        unusual_queries: 100,
        queries_per_minute: 60.0,
    };
    let evidence = Evidence::of(&clear, &settings);
    assert_eq!(evidence.score(), 100);
    assert_eq!(evidence.confidence(), 100);

    // Half the names, labels half-way from 26 to 52, no entropy, no odd
    // types, 10 per minute: 100 * 0.5 * 0.5 * 0.85 = 21.25.
    let half = TunnelMeasures {
        distinct_names: 50,
        max_label: 39,
        mean_name_len: 39.0,
        entropy_bits: 1.0,
        queries: 50,
        typed_queries: 50,
        unusual_queries: 0,
        queries_per_minute: 10.0,
    };
    let evidence = Evidence::of(&half, &settings);
    assert_eq!(
        (evidence.volume, evidence.label, evidence.length),
        (0.5, 0.5, 0.5)
    );
    assert_eq!(
        (evidence.entropy, evidence.types, evidence.rate),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(evidence.score(), 21);
    assert_eq!(evidence.confidence(), 40);

    // Many names, but ordinary ones: nothing.
    let ordinary = TunnelMeasures {
        distinct_names: 400,
        max_label: 26,
        mean_name_len: 12.0,
        entropy_bits: 3.5,
        queries: 400,
        typed_queries: 400,
        unusual_queries: 40,
        queries_per_minute: 80.0,
    };
    assert_eq!(Evidence::of(&ordinary, &settings).score(), 0);

    // The unusual share alone: 30% -> (0.3 - 0.1) / 0.4 = 0.5; 400 names,
    // 60 per minute: 50.
    let txt = TunnelMeasures {
        unusual_queries: 120,
        queries_per_minute: 60.0,
        ..ordinary
    };
    let evidence = Evidence::of(&txt, &settings);
    assert!((evidence.types - 0.5).abs() < 1e-12);
    assert_eq!(evidence.score(), 50);
}

// --- settings ---

#[test]
fn default_settings_pass_their_checks_and_bad_ones_are_named() {
    assert!(DnsTunnelSettings::default().check().is_empty());
    let bad = DnsTunnelSettings {
        window: HumanDuration(Duration::from_secs(30)),
        distinct_names: 1,
        long_label: 64,
        entropy_bits: 9.0,
        unusual_types: vec![16, 0],
        ignore_domains: vec!["corp example".to_owned(), "..".to_owned()],
        known_benign: vec!["a..b".to_owned()],
        report_from: 0,
        max_tracked: 0,
        max_names: 70_000,
        max_total_names: 1,
    };
    let keys: Vec<&str> = bad.check().iter().map(|(key, _)| *key).collect();
    assert_eq!(
        keys,
        [
            "distinct_names",
            "long_label",
            "max_tracked",
            "max_names",
            "max_total_names",
            "report_from",
            "window",
            "entropy_bits",
            "unusual_types",
            "ignore_domains",
            "ignore_domains",
            "known_benign"
        ]
    );
}

#[test]
fn settings_read_from_toml() -> Result<(), Box<dyn std::error::Error>> {
    let settings: DnsTunnelSettings = toml::from_str(
        "window = \"10m\"\ndistinct_names = 200\nignore_domains = [\"corp.example\"]\n",
    )?;
    assert_eq!(settings.window.0, Duration::from_secs(600));
    assert_eq!(settings.distinct_names, 200);
    assert_eq!(settings.ignore_domains, ["corp.example"]);
    assert_eq!(settings.known_benign.len(), DEFAULT_KNOWN_BENIGN.len());
    assert!(toml::from_str::<DnsTunnelSettings>("windw = \"10m\"").is_err());
    Ok(())
}
