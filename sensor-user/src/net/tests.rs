//! Parsing and printing of prefixes, flows and block targets, and their map keys.

use super::*;

fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cidr_parses_and_prints() {
    let net: Cidr = ok("10.0.0.0/8".parse());
    assert_eq!(net.to_string(), "10.0.0.0/8");
    assert_eq!(ok("192.0.2.7".parse::<Cidr>()).prefix_len, 32);
    assert_eq!(ok("fd00::/8".parse::<Cidr>()).to_string(), "fd00::/8");
    assert!(net.contains(
        "10.1.2.3"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    ));
    assert!(!net.contains(
        "11.0.0.1"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    ));
}

#[test]
fn cidr_rejects_host_bits_and_bad_lengths() {
    assert_eq!(
        "10.0.0.1/8".parse::<Cidr>(),
        Err(NetError::HostBits {
            input: "10.0.0.1/8".into(),
            canonical: "10.0.0.0/8".into()
        })
    );
    assert!(matches!(
        "10.0.0.0/33".parse::<Cidr>(),
        Err(NetError::PrefixLength { max: 32, .. })
    ));
    assert!(matches!(
        "fd00::/129".parse::<Cidr>(),
        Err(NetError::PrefixLength { max: 128, .. })
    ));
    assert!(matches!(
        "10.0.0/8".parse::<Cidr>(),
        Err(NetError::Address { .. })
    ));
}

#[test]
fn lpm_keys_use_the_mapped_form() {
    let (len, addr) = ok("10.0.0.0/8".parse::<Cidr>()).lpm_key();
    assert_eq!(len, 104);
    assert_eq!(addr, v4_mapped([10, 0, 0, 0]));
    let (len, addr) = ok("fc00::/7".parse::<Cidr>()).lpm_key();
    assert_eq!(len, 7);
    assert_eq!(addr[0], 0xfc);
    for text in ["10.0.0.0/8", "fc00::/7", "192.0.2.1/32", "::/0"] {
        let net: Cidr = ok(text.parse());
        let (len, addr) = net.lpm_key();
        assert_eq!(Cidr::from_lpm_key(len, addr), net, "{text}");
    }
}

#[test]
fn block_targets_round_trip() {
    for text in [
        "203.0.113.7",
        "203.0.113.0/24",
        "2001:db8::/32",
        "tcp/10.0.0.5:*/203.0.113.7:443",
        "udp/10.0.0.5:5353/203.0.113.53:53",
        "tcp/[fd00::2]:40000/[2001:db8::1]:443",
        "1/10.0.0.5:*/203.0.113.7:0",
    ] {
        let target: BlockTarget = ok(text.parse());
        assert_eq!(target.to_string(), text);
    }
    assert_eq!(
        ok("203.0.113.7/32".parse::<BlockTarget>()),
        BlockTarget::Host(
            "203.0.113.7"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        )
    );
}

#[test]
fn flows_reject_mixed_families_and_bad_ports() {
    for text in [
        "tcp/10.0.0.5:*/[2001:db8::1]:443",
        "tcp/10.0.0.5:0/203.0.113.7:443",
        "tcp/10.0.0.5/203.0.113.7:443",
        "gre/10.0.0.5:*/203.0.113.7:1",
        "tcp/[fd00::1:40000/[fd00::2]:1",
    ] {
        assert!(
            matches!(text.parse::<BlockTarget>(), Err(NetError::Flow { .. })),
            "{text}"
        );
    }
}

#[test]
fn flow_keys_round_trip() {
    let flow: FlowSpec = ok("tcp/10.0.0.5:*/203.0.113.7:443".parse());
    let key = flow.key();
    assert_eq!(key.src_port, 0);
    assert_eq!(key.dst_port, 443);
    assert_eq!(key.protocol, 6);
    assert_eq!(FlowSpec::from_key(&key), flow);
}
