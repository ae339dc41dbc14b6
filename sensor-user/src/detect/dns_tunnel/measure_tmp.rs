// Temporary measurement harness (not part of the change).
use std::time::{Duration, UNIX_EPOCH};
use super::*;
use crate::detect::pdns::parse_answer;

fn hex(s: &str) -> Vec<u8> { (0..s.len()/2).map(|i| u8::from_str_radix(&s[2*i..2*i+2], 16).unwrap_or(0)).collect() }

#[test]
#[ignore]
fn measure_iodine() {
    let text = std::fs::read_to_string("/tmp/iodine_q.tsv").unwrap_or_default();
    for (label, real_types) in [("qtype unknown", false), ("qtype known when the name fits", true)] {
        let mut det = DnsTunnel::new(DnsTunnelSettings { report_from: 1, ..DnsTunnelSettings::default() });
        let mut next_tick = 1.0;
        let site = Site::default();
        let mut out = Vec::new();
        for line in text.lines() {
            let mut parts = line.split('\t');
            let t: f64 = parts.next().unwrap_or("0").parse().unwrap_or(0.0);
            let payload = hex(parts.next().unwrap_or(""));
            let wire = &payload[12..];
            let mut i = 0; while wire[i] != 0 { i += usize::from(wire[i]) + 1; }
            let full = &wire[..=i];
            let qtype = u16::from_be_bytes([wire[i+1], wire[i+2]]);
            let cut = full.len() > 128;
            let name = crate::sample::decode_qname(&full[..full.len().min(128)]).unwrap_or_default().to_ascii_lowercase();
            while t >= next_tick {
                det.tick(UNIX_EPOCH + Duration::from_secs_f64(next_tick), &site, &mut out);
                for f in out.drain(..) { println!("{label} t={next_tick:>4}: score {} names {} facts {:?} conf {}", f.score, f.explanation.observed, f.explanation.facts, f.explanation.confidence); }
                next_tick += 1.0;
            }
            let obs = Observation { at: UNIX_EPOCH + Duration::from_secs_f64(t), seen: Seen::DnsQuery { host: "10.0.2.30".parse().unwrap_or(std::net::IpAddr::from([0,0,0,0])), resolver: "10.0.2.20".parse().unwrap_or(std::net::IpAddr::from([0,0,0,0])), name, qtype: if real_types && !cut { qtype } else { 0 }, truncated: cut } };
            det.observe(&obs, &site, &mut out);
        }
        det.tick(UNIX_EPOCH + Duration::from_secs_f64(25.0), &site, &mut out);
        for f in out.drain(..) { println!("{label} end: score {} domain {:?} names {} facts {:?} conf {}", f.score, f.domain, f.explanation.observed, f.explanation.facts, f.explanation.confidence); }
        println!("{label} counters {:?} stats {:?}", det.counters(), det.stats());
    }
    let text = std::fs::read_to_string("/tmp/iodine_r.tsv").unwrap_or_default();
    let mut ok = 0; let mut errs = Vec::new(); let mut sample = None;
    for line in text.lines() {
        let payload = hex(line.split('\t').nth(1).unwrap_or(""));
        match parse_answer(&payload) { Ok(a) => { ok += 1; sample.get_or_insert(a); } Err(e) => errs.push(e.to_string()) }
    }
    println!("responses ok {ok} errors {errs:?} first {sample:?}");
    let text = std::fs::read_to_string("/tmp/trunc.tsv").unwrap_or_default();
    for line in text.lines() {
        let payload = hex(line.split('\t').next().unwrap_or(""));
        println!("truncated_dns: {} bytes -> {:?}", payload.len(), parse_answer(&payload));
    }
}
