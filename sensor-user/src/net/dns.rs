//! The DNS queries the sensor itself sends (the self-test's lookup, `vantage
//! canary`), encoded with hickory-proto.

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};

/// A query that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("a DNS query for {name:?}: {reason}")]
pub struct DnsQueryError {
    pub name: String,
    pub reason: String,
}

/// The wire bytes of a recursive `A` query for `name` (a trailing dot is
/// added when missing) with query id `id`.
///
/// # Errors
/// `name` is not a valid domain name.
pub fn a_query(name: &str, id: u16) -> Result<Vec<u8>, DnsQueryError> {
    let error = |reason: String| DnsQueryError {
        name: name.to_owned(),
        reason,
    };
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    let fqdn: Name = fqdn.parse().map_err(|e| error(format!("{e}")))?;
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(fqdn, RecordType::A));
    query.to_vec().map_err(|e| error(format!("{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recursive_a_query_for_the_name() -> Result<(), DnsQueryError> {
        let wire = a_query("vantage-self-test.example", 0x1234)?;
        // Header: id, RD set, one question; then the name, type A, class IN.
        assert_eq!(&wire[..6], &[0x12, 0x34, 0x01, 0x00, 0x00, 0x01]);
        let mut name = vec![17];
        name.extend_from_slice(b"vantage-self-test");
        name.push(7);
        name.extend_from_slice(b"example");
        name.push(0);
        assert_eq!(&wire[12..12 + name.len()], name.as_slice());
        assert_eq!(&wire[12 + name.len()..], &[0, 1, 0, 1]);
        assert_eq!(a_query("vantage-self-test.example.", 0x1234)?, wire);
        assert!(a_query("a..b", 1).is_err());
        Ok(())
    }
}
