//! SSRF guard: webhook URLs may not reach loopback, private, link-local or other internal
//! addresses (unless `WEBHOOK_ALLOW_PRIVATE`). Checked when a URL is saved and again at every
//! delivery, by the HTTP client's own resolver: the addresses it connects to are the ones it
//! checked, so a name that resolves to a public address at creation and to an internal one
//! later (DNS rebinding) is refused at delivery.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("is not a URL")]
    NotUrl,
    #[error("must be http or https")]
    Scheme,
    #[error("may not hold a user name or password")]
    Credentials,
    #[error("needs a host")]
    NoHost,
    /// The host, as written in the URL; never what a name resolved to (the answer of an
    /// internal resolver is not for the client: that goes to the log only).
    #[error("may not point at a loopback, private, link-local or reserved address ({0})")]
    Internal(String),
    #[error("{0} resolves to an internal address (loopback, private, link-local or reserved)")]
    ResolvesInternal(String),
}

/// How long the creation-time check waits for a name to resolve (a name not resolved by then
/// is accepted, as one that does not resolve: the delivery's resolver checks it).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Is `ip` an address webhooks may not reach: loopback, RFC 1918 / ULA private, link-local,
/// unspecified, broadcast, multicast, CGNAT, documentation, benchmarking or reserved ranges,
/// and IPv4 addresses of those inside IPv6 (mapped, compatible, NAT64)?
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved 240.0.0.0/4
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    let embedded = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return internal_v4(embedded);
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return internal_v4(embedded);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || seg[0] == 0x2002 // 6to4 2002::/16 (embeds an IPv4 address: refused whole)
        || (seg[0] == 0x2001 && seg[1] == 0) // Teredo 2001::/32
        || seg[..3] == [0x64, 0xff9b, 1] // local-use NAT64 64:ff9b:1::/48
        || seg[..6] == [0, 0, 0, 0, 0xffff, 0] // SIIT IPv4-translated ::ffff:0:0/96
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
}

/// Check a URL's shape, and its host when that is an address or a name of the local machine.
/// Names are resolved too (best effort: one that does not resolve within [`LOOKUP_TIMEOUT`] is
/// accepted and checked at each delivery). What a name resolved to is logged, never returned.
pub async fn check_url(raw: &str, allow_internal: bool) -> Result<Url, Refusal> {
    let url = Url::parse(raw).map_err(|_| Refusal::NotUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Credentials);
    }
    let host = url.host_str().ok_or(Refusal::NoHost)?.to_owned();
    if allow_internal {
        return Ok(url);
    }
    if let Some(ip) = literal_ip(&url) {
        if is_internal(ip) {
            return Err(Refusal::Internal(ip.to_string()));
        }
        return Ok(url);
    }
    let lower = host.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(Refusal::Internal(host));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((lower, port))).await;
    if let Ok(Ok(addrs)) = lookup
        && let Some(bad) = addrs.map(|a| a.ip()).find(|ip| is_internal(*ip))
    {
        tracing::info!(%host, address = %bad, "webhook URL refused: resolves to an internal address");
        return Err(Refusal::ResolvesInternal(host));
    }
    Ok(url)
}

/// The host of `url` when it is an IP address.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    // The URL parser writes IPv4 hosts in dotted form (`0x7f000001` becomes `127.0.0.1`) and
    // IPv6 hosts in brackets.
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The delivery client's resolver: the system's answers, refused when any address is
/// internal (all of them, so a name cannot mix a public and an internal address and have
/// the client fall back to the internal one).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_internal: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_internal;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow && let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
                tracing::info!(%host, address = %bad.ip(), "webhook delivery refused: resolves to an internal address");
                return Err(Box::new(Refusal::ResolvesInternal(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_refused() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:808:808::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:0:7f00:1",
            "::ffff:0:808:808",
        ] {
            assert!(is_internal(ip(bad)), "{bad} should be internal");
        }
        for good in [
            "8.8.8.8",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
            "2003::1",
        ] {
            assert!(!is_internal(ip(good)), "{good} should be public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked() {
        assert_eq!(
            check_url("ftp://x.example/", false).await,
            Err(Refusal::Scheme)
        );
        assert_eq!(check_url("not a url", false).await, Err(Refusal::NotUrl));
        assert_eq!(
            check_url("https://u:p@x.example/", false).await,
            Err(Refusal::Credentials)
        );
        for bad in [
            "http://127.0.0.1:8080/h",
            "http://[::1]/h",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://localhost/",
            "http://api.localhost./",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
            "http://[2001::a9fe:a9fe]/",
            "http://[::ffff:0:a9fe:a9fe]/",
        ] {
            assert!(
                matches!(check_url(bad, false).await, Err(Refusal::Internal(_))),
                "{bad}"
            );
        }
        let refused = Refusal::ResolvesInternal("db.internal".into()).to_string();
        assert_eq!(
            refused,
            "db.internal resolves to an internal address (loopback, private, link-local or reserved)"
        );
        assert!(check_url("http://127.0.0.1:8080/h", true).await.is_ok());
        assert!(check_url("https://93.184.216.34/hook", false).await.is_ok());
    }
}
