//! The machine's own traffic: IP packets its network stack delivered to
//! itself (the uplink's acknowledgements, its own lookups). On a gateway the
//! sensor sees these arrive on its WAN side, between its own address and the
//! collector: neither end is protected, so unless they are discounted a
//! quiet site would look like a sensor outside the firewall.

use std::{fs, io, path::Path};

/// Packets the local IP stacks (v4 and v6) have delivered to this machine,
/// since boot: `Ip: InDelivers` of `/proc/net/snmp` plus `Ip6InDelivers` of
/// `/proc/net/snmp6` (per network namespace). Loopback deliveries count too,
/// so the figure errs on the high side, which only makes the judge slower to
/// call a site unprotected.
///
/// # Errors
/// The IPv4 file cannot be read or has no `InDelivers` column. A missing
/// IPv6 file (IPv6 disabled) counts as 0.
pub fn delivered_here() -> io::Result<u64> {
    let v4 = fs::read_to_string(Path::new("/proc/net/snmp"))?;
    let v4 = ip_in_delivers(&v4).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "/proc/net/snmp has no Ip InDelivers",
        )
    })?;
    let v6 = fs::read_to_string(Path::new("/proc/net/snmp6"))
        .ok()
        .and_then(|text| ip6_in_delivers(&text))
        .unwrap_or(0);
    Ok(v4.saturating_add(v6))
}

/// `InDelivers` from the two `Ip:` lines of `/proc/net/snmp` (a header line
/// of names, then a line of values).
fn ip_in_delivers(snmp: &str) -> Option<u64> {
    let mut ip = snmp.lines().filter(|line| line.starts_with("Ip: "));
    let names = ip.next()?;
    let values = ip.next()?;
    let column = names.split_whitespace().position(|n| n == "InDelivers")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// `Ip6InDelivers` from `/proc/net/snmp6` (one `name value` pair per line).
fn ip6_in_delivers(snmp6: &str) -> Option<u64> {
    snmp6.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == "Ip6InDelivers")
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

/// Turns the running total into one figure per interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct OwnTraffic {
    last: Option<u64>,
}

impl OwnTraffic {
    /// Packets delivered here since the previous call (0 on the first call,
    /// when the file cannot be read, or if the counter went backwards).
    pub fn delta(&mut self) -> u64 {
        let Ok(now) = delivered_here() else {
            return 0;
        };
        let delta = self.last.map_or(0, |last| now.saturating_sub(last));
        self.last = Some(now);
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_delivered_columns() {
        let snmp = "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests\n\
                    Ip: 1 64 9000 0 3 120 0 0 8877 4000\n\
                    Icmp: InMsgs InErrors\n\
                    Icmp: 5 0\n";
        assert_eq!(ip_in_delivers(snmp), Some(8877));
        assert_eq!(ip_in_delivers("Icmp: InMsgs\nIcmp: 5\n"), None);
        let snmp6 =
            "Ip6InReceives                   \t120\nIp6InDelivers \t 77\nIp6OutRequests 9\n";
        assert_eq!(ip6_in_delivers(snmp6), Some(77));
        assert_eq!(ip6_in_delivers("Ip6InReceives 1\n"), None);
    }

    #[test]
    fn a_datagram_delivered_here_is_counted() -> io::Result<()> {
        let mut own = OwnTraffic::default();
        assert_eq!(own.delta(), 0, "the first call only takes the reading");
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
        for _ in 0..5 {
            sender.send_to(b"vantage", receiver.local_addr()?)?;
            let mut buf = [0u8; 16];
            assert_eq!(receiver.recv(&mut buf)?, 7);
        }
        // Five deliveries at least; other processes may add their own.
        assert!(own.delta() >= 5);
        Ok(())
    }
}
