//! DNS responses as the kernel copies them (from the DNS header on, possibly
//! cut at 512 bytes), parsed with hickory-proto into what passive DNS needs:
//! the question, the response code, the addresses the question name
//! resolves to (following CNAME chains inside the message) and the
//! shortest TTL among the records used.
//!
//! Every section is read (hickory's record parser checks each record), so
//! a message cut anywhere is reported as [`AnswerError::Truncated`]; when
//! the cut falls after the answer section, the partial answer it carries
//! is complete.

use std::{fmt::Write as _, net::IpAddr};

use hickory_proto::{
    op::{Header, MessageType, OpCode, Query},
    rr::{Name, RData, Record},
    serialize::binary::{BinDecodable, BinDecoder, DecodeError},
};

/// What a DNS response says about its question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The question name: dotted, lower case, no final dot; bytes other
    /// than printable ASCII (and `.` or `\` inside a label) written `\ddd`
    /// in decimal, as the datapath writes query names. Empty for the root.
    pub name: String,
    /// The question's record type (1 A, 28 AAAA, 16 TXT, ...).
    pub qtype: u16,
    /// The header's response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...);
    /// the extended bits an EDNS OPT record may carry are not merged.
    pub rcode: u16,
    /// The A and AAAA addresses of the question name, directly or through
    /// the CNAME chain the answer section holds, in message order. Records
    /// for names outside the chain are ignored.
    pub addrs: Vec<IpAddr>,
    /// The shortest TTL, seconds, among the CNAMEs of the chain and the
    /// addresses; without any, the negative-caching TTL of an SOA in the
    /// authority section (the smaller of its TTL and its MINIMUM field,
    /// RFC 2308 section 5); `None` when neither is there.
    pub min_ttl_secs: Option<u32>,
}

/// A message [`parse_answer`] cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The message ends before the records its header counts (the kernel
    /// copies at most 512 bytes). `partial` holds what was read before the
    /// cut when the question itself is complete: its addresses are real
    /// but may be fewer than the response carried (all of them when the
    /// cut is past the answer section).
    #[error("the DNS message is cut short")]
    Truncated { partial: Option<Box<DnsAnswer>> },
    /// The QR bit is 0: a query, not a response.
    #[error("the DNS message is a query, not a response")]
    NotAResponse,
    /// Anything else that makes the message unusable, with the reason.
    #[error("malformed DNS response: {reason}")]
    Malformed { reason: String },
}

/// Why reading one part of the message failed.
enum ReadError {
    /// The message ended first.
    Cut,
    /// The bytes there are not valid DNS.
    Bad(String),
}

impl From<DecodeError> for ReadError {
    fn from(error: DecodeError) -> ReadError {
        match error {
            DecodeError::InsufficientBytes => ReadError::Cut,
            other => ReadError::Bad(other.to_string()),
        }
    }
}

impl ReadError {
    fn into_answer_error(self, partial: Option<DnsAnswer>) -> AnswerError {
        match self {
            ReadError::Cut => AnswerError::Truncated {
                partial: partial.map(Box::new),
            },
            ReadError::Bad(reason) => AnswerError::Malformed { reason },
        }
    }
}

/// Parses a raw DNS response message, starting at its header.
///
/// # Errors
/// [`AnswerError::NotAResponse`] for a query (QR = 0);
/// [`AnswerError::Truncated`] when the message is cut before its last
/// record; [`AnswerError::Malformed`] for an opcode other than QUERY,
/// a question count other than 1, or bytes that are not valid DNS.
pub fn parse_answer(message: &[u8]) -> Result<DnsAnswer, AnswerError> {
    let mut decoder = BinDecoder::new(message);
    let header = Header::read(&mut decoder)
        .map_err(|error| ReadError::from(error).into_answer_error(None))?;
    if header.metadata.message_type != MessageType::Response {
        return Err(AnswerError::NotAResponse);
    }
    let malformed = |reason: String| AnswerError::Malformed { reason };
    if header.metadata.op_code != OpCode::Query {
        return Err(malformed(format!(
            "opcode {} is not QUERY",
            u8::from(header.metadata.op_code)
        )));
    }
    if header.counts.queries != 1 {
        return Err(malformed(format!(
            "{} questions (QUERY responses carry one)",
            header.counts.queries
        )));
    }
    let query = Query::read(&mut decoder)
        .map_err(|error| ReadError::from(error).into_answer_error(None))?;
    let mut answer = DnsAnswer {
        name: dotted(&query.name),
        qtype: u16::from(query.query_type),
        rcode: u16::from(header.metadata.response_code),
        addrs: Vec::new(),
        min_ttl_secs: None,
    };

    let mut records = Vec::with_capacity(usize::from(header.counts.answers).min(16));
    for _ in 0..header.counts.answers {
        match read_record(&mut decoder) {
            Ok(record) => records.push(record),
            Err(error) => {
                follow_chain(&records, &mut answer);
                return Err(error.into_answer_error(Some(answer)));
            }
        }
    }
    follow_chain(&records, &mut answer);

    // Negative caching: only when the chain gave no TTL.
    let from_soa = answer.min_ttl_secs.is_none();
    for _ in 0..header.counts.authorities {
        match read_record(&mut decoder) {
            Ok(record) => {
                if let (true, RData::SOA(soa)) = (from_soa, &record.data) {
                    let negative = record.ttl.min(soa.minimum);
                    answer.min_ttl_secs =
                        Some(answer.min_ttl_secs.map_or(negative, |t| t.min(negative)));
                }
            }
            Err(error) => return Err(error.into_answer_error(Some(answer))),
        }
    }
    for _ in 0..header.counts.additionals {
        if let Err(error) = read_record(&mut decoder) {
            return Err(error.into_answer_error(Some(answer)));
        }
    }
    Ok(answer)
}

/// Reads one resource record, telling a record cut by the end of the
/// message from a malformed one: hickory reports an RDLENGTH longer than
/// what is left like any other bad length, so the record's fixed part is
/// read first on a copy of the decoder.
fn read_record(decoder: &mut BinDecoder<'_>) -> Result<Record, ReadError> {
    let start = u16::try_from(decoder.index())
        .map_err(|_| ReadError::Bad("message longer than 65,535 bytes".to_owned()))?;
    let mut probe = decoder.clone(start);
    Name::read(&mut probe)?;
    probe.read_slice(8)?; // TYPE, CLASS, TTL
    let rdlength = probe.read_u16()?.unverified(/* compared with what is left */);
    if usize::from(rdlength) > probe.len() {
        return Err(ReadError::Cut);
    }
    // The record fits: whatever fails now is the record's own fault.
    Record::read(decoder).map_err(|error| ReadError::Bad(error.to_string()))
}

/// Fills `answer.addrs` and `answer.min_ttl_secs` from `records`: the CNAME
/// chain from the question name (each step at most once, so a loop ends),
/// then the A and AAAA records of any name in the chain.
fn follow_chain(records: &[Record], answer: &mut DnsAnswer) {
    let owners: Vec<String> = records.iter().map(|record| dotted(&record.name)).collect();
    let mut chain = vec![answer.name.clone()];
    let mut min_ttl: Option<u32> = None;
    let mut keep = |ttl: u32| min_ttl = Some(min_ttl.map_or(ttl, |t| t.min(ttl)));
    while let Some((ttl, target)) = chain.last().and_then(|current| {
        records
            .iter()
            .zip(&owners)
            .find_map(|(record, owner)| match &record.data {
                RData::CNAME(target) if owner == current => Some((record.ttl, dotted(&target.0))),
                _ => None,
            })
    }) {
        if chain.contains(&target) {
            break;
        }
        keep(ttl);
        chain.push(target);
    }
    for (record, owner) in records.iter().zip(&owners) {
        let addr = match &record.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
            _ => continue,
        };
        if chain.contains(owner) {
            keep(record.ttl);
            answer.addrs.push(addr);
        }
    }
    answer.min_ttl_secs = min_ttl;
}

/// A name as the datapath writes query names: labels joined by dots, ASCII
/// lower case, other bytes (and `.`, `\`) as `\ddd`; no final dot.
fn dotted(name: &Name) -> String {
    let mut out = String::new();
    for (index, label) in name.iter().enumerate() {
        if index > 0 {
            out.push('.');
        }
        for &byte in label {
            let byte = byte.to_ascii_lowercase();
            if byte.is_ascii_graphic() && byte != b'.' && byte != b'\\' {
                out.push(char::from(byte));
            } else {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
    out
}
