//! Who is asking: the client address that rate limits and sign-in throttles count by.
//!
//! Without a trusted proxy it is the socket's peer. Behind `hops` trusted proxies
//! (`SOUK_TRUSTED_PROXY_HOPS`, or `SOUK_TRUST_PROXY=1` for one) each proxy appends the
//! address it received the request from to `X-Forwarded-For`, so the entry `hops` from
//! the right was written by the outermost trusted proxy and is the client. Everything to
//! its left came from the client and is never believed: taking the leftmost hop let a
//! client pick a fresh address per request.
//!
//! An IPv6 client is counted by its /64: one subscriber gets a whole /64 (often more),
//! so counting single addresses would give them 2^64 buckets.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

/// The client's address (see the module comment).
pub fn client_ip(trusted_hops: usize, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if trusted_hops == 0 {
        return peer.ip();
    }
    // Several X-Forwarded-For headers are one list, in order (RFC 9110, 5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if hops.is_empty() {
        return peer.ip();
    }
    // A chain shorter than configured: its leftmost entry was still written by a proxy.
    let index = hops.len().saturating_sub(trusted_hops);
    parse_hop(hops[index]).unwrap_or_else(|| peer.ip())
}

/// The bucket a client address counts in: the address itself, or an IPv6 address's /64.
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    const PEER: &str = "10.0.0.2:40000";

    fn ip(hops: usize, values: &[&str]) -> String {
        client_ip(hops, &headers(values), PEER.parse().expect("peer")).to_string()
    }

    #[test]
    fn the_peer_unless_a_proxy_is_trusted() {
        assert_eq!(ip(0, &["1.1.1.1"]), "10.0.0.2");
        assert_eq!(ip(1, &[]), "10.0.0.2");
    }

    #[test]
    fn the_hop_the_trusted_proxy_wrote_not_the_clients() {
        // The client wrote "6.6.6.6, 7.7.7.7"; our one proxy appended the real address.
        assert_eq!(ip(1, &["6.6.6.6, 7.7.7.7, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(ip(1, &["6.6.6.6", "203.0.113.9"]), "203.0.113.9");
        // Two proxies: a CDN wrote the client, our balancer the CDN's edge.
        assert_eq!(
            ip(2, &["6.6.6.6, 203.0.113.9, 198.51.100.7"]),
            "203.0.113.9"
        );
        // Shorter than configured: the leftmost still came from a proxy.
        assert_eq!(ip(3, &["203.0.113.9, 198.51.100.7"]), "203.0.113.9");
        assert_eq!(ip(1, &["[2001:db8::5]:443"]), "2001:db8::5");
        assert_eq!(ip(1, &["203.0.113.9:5555"]), "203.0.113.9");
        assert_eq!(ip(1, &["unknown"]), "10.0.0.2");
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(limit_key(a), limit_key(b));
        assert_eq!(limit_key(a), "2001:db8:1:2::/64");
        assert_eq!(limit_key("::ffff:1.2.3.4".parse().expect("ip")), "1.2.3.4");
        assert_eq!(limit_key("1.2.3.4".parse().expect("ip")), "1.2.3.4");
    }
}
