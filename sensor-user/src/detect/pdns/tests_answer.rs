use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

// --- parse_answer: hand-built messages ---

const IN: u16 = 1;
const A: u16 = 1;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const AAAA: u16 = 28;
/// QR=1, opcode QUERY, RD, RA.
const RESPONSE: u16 = 0x8180;
/// Pointer to the question name, right after the 12-byte header.
const QNAME_PTR: [u8; 2] = [0xc0, 0x0c];

fn header(flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut out = vec![0x12, 0x34];
    for field in [flags, qd, an, ns, ar] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

fn wire_name(dotted: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in dotted.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn question(name: &str, qtype: u16) -> Vec<u8> {
    let mut out = wire_name(name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&IN.to_be_bytes());
    out
}

fn record(owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

fn message(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn a_response() -> Vec<u8> {
    message(&[
        header(RESPONSE, 1, 2, 0, 0),
        question("WWW.Example.com", A),
        record(&QNAME_PTR, A, 300, &[93, 184, 216, 34]),
        record(&QNAME_PTR, A, 60, &[93, 184, 216, 35]),
    ])
}

#[test]
fn a_records_of_the_question_name() -> Result {
    let answer = parse_answer(&a_response())?;
    assert_eq!(
        answer,
        DnsAnswer {
            name: "www.example.com".to_owned(),
            qtype: 1,
            rcode: 0,
            addrs: vec![v4(93, 184, 216, 34), v4(93, 184, 216, 35)],
            min_ttl_secs: Some(60),
        }
    );
    Ok(())
}

#[test]
fn aaaa_record() -> Result {
    let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    let bytes = message(&[
        header(RESPONSE, 1, 1, 0, 0),
        question("ipv6.example.org", AAAA),
        record(&QNAME_PTR, AAAA, 120, &addr.octets()),
    ]);
    let answer = parse_answer(&bytes)?;
    assert_eq!(answer.name, "ipv6.example.org");
    assert_eq!(answer.qtype, 28);
    assert_eq!(answer.addrs, vec![IpAddr::V6(addr)]);
    assert_eq!(answer.min_ttl_secs, Some(120));
    Ok(())
}

#[test]
fn cname_chain_is_followed_and_strangers_are_ignored() -> Result {
    // www.shop.example -> shop.cdn.example.net -> edge.cdn.example.net -> A;
    // the address comes first in the message, an unrelated A last.
    let shop = wire_name("shop.cdn.example.net");
    let edge = wire_name("edge.cdn.example.net");
    let bytes = message(&[
        header(RESPONSE, 1, 4, 0, 0),
        question("www.shop.example", A),
        record(&edge, A, 60, &[192, 0, 2, 7]),
        record(&QNAME_PTR, CNAME, 3600, &shop),
        record(&shop, CNAME, 20, &edge),
        record(&wire_name("other.example"), A, 5, &[198, 51, 100, 1]),
    ]);
    let answer = parse_answer(&bytes)?;
    assert_eq!(answer.name, "www.shop.example");
    assert_eq!(answer.addrs, vec![v4(192, 0, 2, 7)]);
    // min(3600, 20, 60); the stranger's 5 s does not count.
    assert_eq!(answer.min_ttl_secs, Some(20));
    Ok(())
}

#[test]
fn cname_loop_ends() -> Result {
    let (a, b) = (wire_name("a.example"), wire_name("b.example"));
    let bytes = message(&[
        header(RESPONSE, 1, 2, 0, 0),
        question("a.example", A),
        record(&a, CNAME, 40, &b),
        record(&b, CNAME, 30, &a),
    ]);
    let answer = parse_answer(&bytes)?;
    assert!(answer.addrs.is_empty());
    // The step back to a.example is not taken, so only a -> b counts.
    assert_eq!(answer.min_ttl_secs, Some(40));
    Ok(())
}

#[test]
fn nxdomain_takes_the_negative_ttl_of_the_soa() -> Result {
    let mut soa = vec![0, 0]; // MNAME and RNAME: the root, to keep it short
    for field in [2024_u32, 7200, 3600, 1_209_600, 300] {
        soa.extend_from_slice(&field.to_be_bytes());
    }
    let bytes = message(&[
        header(RESPONSE | 3, 1, 0, 1, 0),
        question("nope.example.com", A),
        record(&wire_name("example.com"), SOA, 900, &soa),
    ]);
    let answer = parse_answer(&bytes)?;
    assert_eq!(answer.rcode, 3);
    assert!(answer.addrs.is_empty());
    // RFC 2308: min(SOA TTL 900, MINIMUM 300).
    assert_eq!(answer.min_ttl_secs, Some(300));
    Ok(())
}

#[test]
fn a_cut_message_is_truncated_with_what_came_before() {
    let full = a_response();
    // Cut 2 bytes into the second address.
    let cut = &full[..full.len() - 2];
    let expected = DnsAnswer {
        name: "www.example.com".to_owned(),
        qtype: 1,
        rcode: 0,
        addrs: vec![v4(93, 184, 216, 34)],
        min_ttl_secs: Some(300),
    };
    assert_eq!(
        parse_answer(cut),
        Err(AnswerError::Truncated {
            partial: Some(Box::new(expected))
        })
    );
    // Cut inside the second record's fixed part (after its name pointer).
    let question_end = 12 + wire_name("www.example.com").len() + 4;
    let second = question_end + 16;
    assert!(matches!(
        parse_answer(&full[..second + 5]),
        Err(AnswerError::Truncated { partial: Some(p) }) if p.addrs.len() == 1
    ));
    // Cut inside the question, and inside the header: nothing to keep.
    assert_eq!(
        parse_answer(&full[..20]),
        Err(AnswerError::Truncated { partial: None })
    );
    assert_eq!(
        parse_answer(&full[..5]),
        Err(AnswerError::Truncated { partial: None })
    );
}

#[test]
fn a_cut_after_the_answers_still_counts_as_truncated() -> Result {
    // Claims one additional record that is not there (as if cut at 512
    // bytes after the answers): truncated, with the whole answer.
    let mut bytes = a_response();
    bytes[11] = 1;
    assert_eq!(
        parse_answer(&bytes),
        Err(AnswerError::Truncated {
            partial: Some(Box::new(parse_answer(&a_response())?))
        })
    );
    // With an EDNS OPT record there, it parses.
    bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse_answer(&bytes)?.addrs.len(), 2);
    Ok(())
}

#[test]
fn a_query_is_refused() {
    let bytes = message(&[header(0x0100, 1, 0, 0, 0), question("example.com", A)]);
    assert_eq!(parse_answer(&bytes), Err(AnswerError::NotAResponse));
}

#[test]
fn malformed_messages_say_why() {
    // A label length with the reserved high bits 10.
    let mut bad_label = header(RESPONSE, 1, 0, 0, 0);
    bad_label.extend_from_slice(&[0x80, b'a', 0, 0, 1, 0, 1]);
    // Two questions; opcode NOTIFY (4).
    let two = message(&[
        header(RESPONSE, 2, 0, 0, 0),
        question("a.example", A),
        question("b.example", A),
    ]);
    let notify = message(&[
        header(RESPONSE | (4 << 11), 1, 0, 0, 0),
        question("a.example", A),
    ]);
    // An answer whose RDATA length fits the message but not the type (an
    // A record of 3 bytes).
    let short_a = message(&[
        header(RESPONSE, 1, 1, 0, 0),
        question("a.example", A),
        record(&QNAME_PTR, A, 60, &[1, 2, 3]),
    ]);
    for (what, bytes) in [
        ("label code", bad_label),
        ("two questions", two),
        ("notify", notify),
        ("short A", short_a),
    ] {
        assert!(
            matches!(parse_answer(&bytes), Err(AnswerError::Malformed { .. })),
            "{what}: {:?}",
            parse_answer(&bytes)
        );
    }
}

#[test]
fn odd_bytes_in_names_are_escaped_like_the_datapath() -> Result {
    let mut bytes = header(RESPONSE, 1, 0, 0, 0);
    bytes.extend_from_slice(&[3, b'A', 0xfb, b'.', 3, b's', b'e', b'a', 0, 0, 10, 0, 1]);
    let answer = parse_answer(&bytes)?;
    assert_eq!(answer.name, "a\\251\\046.sea");
    assert_eq!(answer.qtype, 10);
    assert_eq!(answer.min_ttl_secs, None);
    Ok(())
}
