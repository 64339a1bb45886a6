//! Who is on the other end of a request: the client address, honouring proxy headers only when
//! the deployment says a trusted proxy sits in front.

use actix_web::HttpRequest;

/// Registered by the server as app data: trust `Forwarded`/`X-Forwarded-For` or not.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientIpPolicy {
    pub trust_proxy: bool,
}

/// The client's IP address (without port).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let trust = req
        .app_data::<ClientIpPolicy>()
        .is_some_and(|p| p.trust_proxy);
    if trust {
        let info = req.connection_info();
        if let Some(ip) = info.realip_remote_addr() {
            return Some(strip_port(ip));
        }
    }
    req.peer_addr().map(|a| a.ip().to_string())
}

/// The `User-Agent`, cut to a sane length.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect())
}

fn strip_port(addr: &str) -> String {
    if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
        return sock.ip().to_string();
    }
    addr.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}
