//! Outbound calls refuse private, loopback and link-local destinations unless the
//! operator allows them (SPEC 12), so a provider URL cannot be aimed at internal services.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("destination {0} is a private or local address (set SOUK_ALLOW_PRIVATE_UPSTREAMS=1 to allow)")]
    Private(String),
    #[error("cannot resolve {0}")]
    Unresolvable(String),
}

/// True for addresses that are not on the public internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 0.0.0.0/8, 100.64.0.0/10 (carrier-grade NAT), 198.18.0.0/15
                // (benchmarking), 240.0.0.0/4 (reserved).
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link local, fec0::/10 site local
                // (deprecated, still routed by some stacks), 2001:db8::/32 documentation.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The IPv4 address an IPv6 address carries and reaches, judged as that address:
/// IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` (deprecated, but stacks
/// still route it), NAT64 `64:ff9b::a.b.c.d` (and the local-use `64:ff9b:1::/48`), and
/// 6to4 `2002:AABB:CCDD::/48`, which tunnels to `AA.BB.CC.DD`.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    use std::net::Ipv4Addr;
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // ::a.b.c.d (but not :: and ::1, judged as themselves).
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(low(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// Refuses a URL whose host is a private literal address, or `localhost` (names are
/// checked when they are resolved, at connect time: see [`shared_client`]).
pub fn check_literal_host(url: &reqwest::Url) -> Result<(), GuardError> {
    let Some(host) = url.host_str() else {
        return Err(GuardError::Unresolvable(url.to_string()));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) if is_private(ip) => Err(GuardError::Private(ip.to_string())),
        Ok(_) => Ok(()),
        Err(_) if bare.eq_ignore_ascii_case("localhost") || bare.ends_with(".localhost") => {
            Err(GuardError::Private(bare.to_owned()))
        }
        Err(_) => Ok(()),
    }
}

/// The resolver's refusal, found inside a connect error: the host that resolved only to
/// private addresses.
pub fn refused_host(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<PrivateRefused>() {
            return Some(refused.0.clone());
        }
        source = s.source();
    }
    None
}

#[derive(Debug)]
struct PrivateRefused(String);

impl std::fmt::Display for PrivateRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to private addresses", self.0)
    }
}

impl std::error::Error for PrivateRefused {}

/// Resolves names and drops private addresses: the addresses checked are the ones the
/// connection uses, so a name that resolves to a public address for a check and a
/// private one for the connection (DNS rebinding) cannot lead a call inside.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    Box::new(PrivateRefused(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why reading a body with [`read_capped`] stopped.
#[derive(Debug)]
pub enum BodyError {
    /// The connection failed or timed out mid-body.
    Transport(reqwest::Error),
    /// The body is longer than the limit.
    TooLarge,
}

/// Reads a response's body in pieces, refusing one over `max` bytes, so a hostile answer
/// cannot fill the memory.
pub async fn read_capped(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The process's one outbound HTTP client per policy: one connection pool shared by
/// every provider call (each request sets its own timeout), redirects never followed,
/// and unless private destinations are allowed, a resolver that refuses them.
pub fn shared_client(allow_private: bool) -> reqwest::Client {
    static GUARDED: OnceLock<reqwest::Client> = OnceLock::new();
    static OPEN: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if allow_private { &OPEN } else { &GUARDED };
    cell.get_or_init(|| {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("souk/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        builder.build().unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            // IPv4-compatible, NAT64 and 6to4 forms of private IPv4 addresses.
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::192.168.1.1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "2001:db8::1",
        ] {
            assert!(is_private(private.parse().expect("ip")), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(!is_private(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn literal_hosts() {
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(check_literal_host(&url("http://127.0.0.1:9/api/v2")).is_err());
        assert!(check_literal_host(&url("http://[::1]:9/")).is_err());
        assert!(check_literal_host(&url("http://localhost:9/")).is_err());
        assert!(check_literal_host(&url("https://1.1.1.1/")).is_ok());
        assert!(check_literal_host(&url("https://panel.example/api/v2")).is_ok());
    }

    /// A name that resolves only to loopback is refused when the connection is made.
    #[tokio::test]
    async fn the_resolver_refuses_private_names() {
        let e = shared_client(false)
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("refused");
        assert_eq!(refused_host(&e).as_deref(), Some("localhost"));
    }
}
