//! The synthetic Internet of the detection benchmark
//! (`bench::detect_site`): the protected hosts' addresses, the names and
//! the addresses they resolve to, the incidents' peers, the known-bad list,
//! and a deterministic random generator.

use std::net::{IpAddr, Ipv4Addr};

/// Registered domains of the synthetic Internet.
pub const DOMAINS: u64 = 4_000;
/// The names of each domain (`www.site17.com`, ...).
pub const LABELS: [&str; 8] = [
    "www", "api", "static", "cdn", "img", "login", "update", "mail",
];
/// Addresses of 198.18.0.0/15 names resolve to (its last /24 is the incidents').
const POOL: u64 = (1 << 17) - 256;

/// The incidents' peers, listed address and domains (198.19.255.0/24 is
/// outside the pool).
pub const SCAN_TARGET: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 1);
pub const BEACON_PEER: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 2);
pub const LISTED_PEER: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 3);
pub const LISTED_DOMAIN: &str = "c2-bench.net";
pub const TUNNEL_DOMAIN: &str = "exfil-bench.net";

/// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): deterministic, so every run sees the same
/// traffic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// splitmix64's finaliser: a well-mixed 64-bit hash of `z`.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Address `n` of the 198.18.0.0/15 pool.
pub fn pool_addr(n: u64) -> IpAddr {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    IpAddr::V4(Ipv4Addr::from(base + (n % POOL) as u32))
}

/// Protected host `i` (0-based): 10.0.0.1, 10.0.0.2, ... as in the XDP benchmark.
pub fn host_addr(i: u32) -> IpAddr {
    let n = i + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

/// Name `index` of the synthetic Internet (`LABELS` varies fastest).
pub fn name_of(index: u64) -> String {
    let label = LABELS[(index % LABELS.len() as u64) as usize];
    format!("{label}.site{}.com", index / LABELS.len() as u64)
}

/// The 1 to 4 addresses name `index` resolves to.
pub fn addrs_of(index: u64) -> Vec<IpAddr> {
    let h = mix(index ^ 0x5eed);
    (0..1 + h % 4)
        .map(|j| pool_addr((h >> 8) + j * 7919))
        .collect()
}

/// The known-bad list of the benchmark: the incidents' listed address and
/// domain, then `addresses` addresses of 45.0.0.0/8 and `domains` domains
/// the traffic never meets (a list of a usual feed's size).
pub fn known_bad_list(addresses: u32, domains: u32) -> String {
    let mut text = format!("# vantage-detect-bench\n{LISTED_PEER}\n{LISTED_DOMAIN}\n");
    for n in 0..addresses {
        text.push_str(&format!(
            "45.{}.{}.{}\n",
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8
        ));
    }
    for n in 0..domains {
        text.push_str(&format!("bad{n}.example\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_one_to_four_pool_addresses() {
        for index in 0..1_000 {
            let addrs = addrs_of(index);
            assert!((1..=4).contains(&addrs.len()));
            assert!(addrs
                .iter()
                .all(|a| matches!(a, IpAddr::V4(v4) if v4.octets()[0] == 198)));
        }
        assert_eq!(name_of(17), "api.site2.com");
        assert_eq!(host_addr(0), IpAddr::from([10, 0, 0, 1]));
        assert_eq!(host_addr(9_999), IpAddr::from([10, 0, 39, 16]));
    }

    #[test]
    fn the_list_holds_the_incidents_and_its_entries() {
        let list = known_bad_list(3, 2);
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(
            lines,
            vec![
                "# vantage-detect-bench",
                "198.19.255.3",
                "c2-bench.net",
                "45.0.0.0",
                "45.0.0.1",
                "45.0.0.2",
                "bad0.example",
                "bad1.example"
            ]
        );
    }
}
