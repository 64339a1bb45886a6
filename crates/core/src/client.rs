//! Who is on the other end of a request: the client address, honouring proxy headers only when
//! the deployment says a trusted proxy sits in front, and then only as far as the proxies it
//! trusts: the address is the one the nearest trusted proxy saw (the rightmost hop that is not
//! a trusted proxy), never a value the client wrote at the left of the list.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use std::net::IpAddr;
use std::sync::Arc;

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = raw
            .split_once('/')
            .map_or((raw, None), |(a, p)| (a, Some(p)));
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{raw}` is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parse a comma-separated list of networks (`TRUSTED_PROXIES`); empty entries are skipped.
pub fn parse_cidrs(list: &str) -> Result<Vec<Cidr>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Cidr::parse)
        .collect()
}

/// Registered by the server as app data: whether to read `Forwarded`/`X-Forwarded-For`, and
/// which proxies to believe.
#[derive(Debug, Clone, Default)]
pub struct ClientIpPolicy {
    pub trust_proxy: bool,
    /// The proxies whose word is taken. Empty: only the direct peer is trusted (one proxy in
    /// front), so the address is the last hop it appended.
    pub trusted_proxies: Arc<[Cidr]>,
}

impl ClientIpPolicy {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// The client address given the direct peer and the request headers.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(|p| p.to_canonical());
        if !self.trust_proxy {
            return peer;
        }
        let peer_trusted = match peer {
            Some(p) => self.trusted_proxies.is_empty() || self.trusts(p),
            None => false,
        };
        if !peer_trusted {
            return peer;
        }
        let hops = forwarded_hops(headers);
        // Walk from the right: each hop was appended by the proxy to its right, which is
        // trusted; the first hop that is not itself a trusted proxy is the client. A hop that
        // is not an address ends the walk at the proxy that wrote it.
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else {
                return client;
            };
            client = Some(*ip);
            if self.trusted_proxies.is_empty() || !self.trusts(*ip) {
                return client;
            }
        }
        client
    }
}

/// The hops of `Forwarded` (its `for=` values, RFC 7239) or, without it, of
/// `X-Forwarded-For`, oldest first; `None` for a hop that is not an IP address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_hop(v.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all(header::X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| parse_hop(hop.trim()))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

/// The client's IP address (without port).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<ClientIpPolicy>() {
        Some(policy) => policy.resolve(peer, req.headers()),
        None => peer,
    }
    .map(|ip| ip.to_string())
}

/// The `User-Agent`, cut to a sane length.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn policy(trusted: &str) -> ClientIpPolicy {
        ClientIpPolicy {
            trust_proxy: true,
            trusted_proxies: parse_cidrs(trusted).unwrap().into(),
        }
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.3.4")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peers");
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        assert!(parse_cidrs("").unwrap().is_empty());
        assert_eq!(parse_cidrs(" 127.0.0.1/32, ::1 ,").unwrap().len(), 2);
    }

    #[test]
    fn without_trust_the_headers_are_ignored() {
        let p = ClientIpPolicy::default();
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(p.resolve(Some(ip("10.0.0.9")), &h), Some(ip("10.0.0.9")));
    }

    #[test]
    fn with_only_the_peer_trusted_the_last_hop_wins() {
        let p = policy("");
        // The client wrote `6.6.6.6`; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(
            p.resolve(Some(ip("127.0.0.1")), &h),
            Some(ip("203.0.113.7"))
        );
        let none = headers(&[]);
        assert_eq!(
            p.resolve(Some(ip("127.0.0.1")), &none),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let p = policy("10.0.0.0/8, 127.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.0.0.5")]);
        assert_eq!(
            p.resolve(Some(ip("127.0.0.1")), &h),
            Some(ip("198.51.100.2"))
        );
        // Two header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.2, 10.0.0.5"),
        ]);
        assert_eq!(
            p.resolve(Some(ip("127.0.0.1")), &h),
            Some(ip("198.51.100.2"))
        );
        // Everything trusted: the leftmost is the best there is.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(p.resolve(Some(ip("127.0.0.1")), &h), Some(ip("10.1.1.1")));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let p = policy("10.0.0.0/8");
        let h = headers(&[("x-forwarded-for", "10.0.0.1")]);
        assert_eq!(
            p.resolve(Some(ip("203.0.113.9")), &h),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn garbage_hops_stop_at_the_proxy_that_wrote_them() {
        let p = policy("10.0.0.0/8, 127.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, not-an-ip, 10.0.0.5")]);
        assert_eq!(p.resolve(Some(ip("127.0.0.1")), &h), Some(ip("10.0.0.5")));
        let h = headers(&[("x-forwarded-for", "junk")]);
        assert_eq!(p.resolve(Some(ip("127.0.0.1")), &h), Some(ip("127.0.0.1")));
    }

    #[test]
    fn forwarded_header_is_read_and_preferred() {
        let p = policy("");
        let h = headers(&[
            (
                "forwarded",
                "for=6.6.6.6;proto=https, for=\"[2001:db8::1]:4711\";by=10.0.0.1",
            ),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        assert_eq!(
            p.resolve(Some(ip("127.0.0.1")), &h),
            Some(ip("2001:db8::1"))
        );
        let h = headers(&[("forwarded", "For=198.51.100.4:8080")]);
        assert_eq!(p.resolve(Some(ip("::1")), &h), Some(ip("198.51.100.4")));
    }
}
