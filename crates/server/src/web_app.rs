//! The web app: the committed bundle in `web/dist/` embedded in the binary and served at `/`.
//!
//! `index.html` (and any path that looks like a client route) is answered with the app shell,
//! `Cache-Control: no-cache`; `/assets/*` are content-hashed names, `immutable` for a year. Each
//! file is stored with its `.gz` and `.br` siblings, picked by `Accept-Encoding`. The server's
//! own prefixes are never shadowed: anything under them that no route took stays a problem+json
//! 404.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use mdz_core::config::Config;
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../../web/dist/"]
struct Bundle;

/// What the shell's policy admits beyond its own origin: the attachment store's origin when
/// attachments live in S3, since the browser uploads to a presigned URL there and the download
/// redirects there (the app fetches both).
#[derive(Debug, Clone, Default)]
pub struct ShellPolicy {
    store_origin: Option<String>,
}

impl ShellPolicy {
    pub fn from_config(config: &Config) -> Self {
        if config.s3_bucket.is_none() {
            return Self::default();
        }
        let origin = match &config.s3_endpoint {
            Some(endpoint) => origin_of(endpoint),
            None => Some(format!("https://s3.{}.amazonaws.com", config.s3_region)),
        };
        // Only what a CSP source may hold: no spaces, quotes or `;` from the configuration.
        let store_origin = origin.filter(|o| {
            o.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c))
        });
        Self { store_origin }
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| format!("{}://{host}", scheme.to_ascii_lowercase()))
}

/// The policy of the app's pages: no inline script, no eval. Style sheets come from the
/// bundle or carry the page's nonce (CodeMirror injects its themes as `<style nonce>`); inline
/// style *attributes* are allowed (the remote cursors are coloured with them).
fn csp(nonce: &str, policy: &ShellPolicy) -> String {
    let connect = match &policy.store_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data: blob:; connect-src {connect}; \
         worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The service worker's own policy (the middleware's API default would forbid its fetches).
const CSP_WORKER: &str = "default-src 'self'";

/// Where the shell names its nonce (`<meta name="csp-nonce" content="…">`).
const NONCE_SLOT: &str = "__CSP_NONCE__";

/// Paths the app never answers: the API, the docs, operations and the MCP endpoint.
const RESERVED: [&str; 6] = [
    "/api",
    "/docs",
    "/health",
    "/metrics",
    "/.well-known",
    "/mcp",
];

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether a path belongs to the server, however it is spelled: the router decodes `%61` to
/// `a` before matching (so `/%61pi/v1/…` reaches the API), and `//api` is `/api` to a proxy
/// that merges slashes. The check runs on the decoded path with runs of `/` merged.
fn reserved(path: &str) -> bool {
    let path = canonical(path);
    RESERVED.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `path` percent-decoded (every `%XX`, `%2F` included), with runs of `/` merged into one.
fn canonical(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Which encodings the client takes (`br`, `gzip`), ignoring those refused with `q=0`.
fn accepted(req: &HttpRequest) -> (bool, bool) {
    let Some(value) = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return (false, false);
    };
    let (mut br, mut gzip) = (false, false);
    for part in value.split(',') {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = it.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        if refused {
            continue;
        }
        match coding.as_str() {
            "br" => br = true,
            "gzip" | "x-gzip" => gzip = true,
            "*" => (br, gzip) = (true, true),
            _ => {}
        }
    }
    (br, gzip)
}

/// The file of the bundle a path names: itself, or the app shell for a client route.
fn resolve(path: &str) -> Option<&str> {
    let name = path.trim_start_matches('/');
    if name.is_empty() {
        return Some(INDEX);
    }
    if name.ends_with(".gz") || name.ends_with(".br") {
        return None;
    }
    if Bundle::get(name).is_some() {
        return Some(name);
    }
    // A client route (`/p/…`) has no extension in its last segment; a missing asset has one.
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.starts_with("assets/") || last.contains('.') {
        return None;
    }
    Some(INDEX)
}

/// The default service: the app for GET/HEAD outside the reserved prefixes, else a 404 problem.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || reserved(path) {
        return crate::middleware::not_found().await;
    }
    let Some(name) = resolve(path).map(str::to_owned) else {
        return crate::middleware::not_found().await;
    };
    let Some(file) = Bundle::get(&name) else {
        return crate::middleware::not_found().await;
    };
    if name == INDEX {
        let policy = req
            .app_data::<web::Data<ShellPolicy>>()
            .map(|p| p.get_ref().clone())
            .unwrap_or_default();
        return shell(&req, &file.data, &policy);
    }
    let etag = format!("\"{}\"", hex_prefix(&file.metadata.sha256_hash()));
    let immutable = name.starts_with("assets/");
    let mut res = HttpResponse::build(StatusCode::OK);
    res.insert_header((header::CONTENT_TYPE, content_type(&name)))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((
            header::CACHE_CONTROL,
            if immutable { IMMUTABLE } else { "no-cache" },
        ));
    if name == "sw.js" {
        // A worker runs under its own script's policy: it fetches the shell and the assets.
        res.insert_header(("service-worker-allowed", "/"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP_WORKER));
    }
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return res.status(StatusCode::NOT_MODIFIED).finish();
    }
    let (br, gzip) = accepted(&req);
    let encoded = [(br, "br"), (gzip, "gzip")]
        .into_iter()
        .filter(|(ok, _)| *ok)
        .find_map(|(_, enc)| {
            let ext = if enc == "br" { "br" } else { "gz" };
            Bundle::get(&format!("{name}.{ext}")).map(|f| (enc, f))
        });
    let body = match encoded {
        Some((enc, f)) => {
            res.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(enc)));
            f.data
        }
        None => file.data,
    };
    if req.method() == Method::HEAD {
        return res.finish();
    }
    res.body(body.into_owned())
}

/// The app shell with a fresh style nonce: never cached as is (`no-cache`, no validator, since
/// each copy has its own nonce), a few hundred bytes, so not compressed.
fn shell(req: &HttpRequest, template: &[u8], policy: &ShellPolicy) -> HttpResponse {
    let mut bytes = [0u8; 16];
    if let Err(e) = getrandom::fill(&mut bytes) {
        tracing::error!(error = %e, "no randomness for the page's style nonce");
        return HttpResponse::ServiceUnavailable().finish();
    }
    let nonce = base64::engine::general_purpose::STANDARD.encode(bytes);
    let html = String::from_utf8_lossy(template).replace(NONCE_SLOT, &nonce);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type(INDEX)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp(&nonce, policy)));
    if req.method() == Method::HEAD {
        return res.finish();
    }
    res.body(html)
}

fn hex_prefix(hash: &[u8; 32]) -> String {
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefixes_are_whole_segments() {
        assert!(reserved("/api"));
        assert!(reserved("/api/v1/x"));
        assert!(reserved("/.well-known/jwks.json"));
        assert!(reserved("/metrics"));
        assert!(!reserved("/apiary"));
        assert!(!reserved("/p/123"));
    }

    #[test]
    fn the_store_origin_is_the_endpoint_without_path_or_credentials() {
        assert_eq!(
            origin_of("http://127.0.0.1:9000/base").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            origin_of("HTTPS://u:p@minio.example?x").as_deref(),
            Some("https://minio.example")
        );
        assert_eq!(origin_of("minio.example"), None);
    }

    #[test]
    fn reserved_prefixes_are_found_encoded_or_with_doubled_slashes() {
        assert!(reserved("/%61pi/v1/x"));
        assert!(reserved("/%61%70%69"));
        assert!(reserved("//api/v1/x"));
        assert!(reserved("/api%2Fv1"));
        assert!(reserved("/%2ewell-known/x"));
        assert!(!reserved("/%61piary"));
        assert!(!reserved("/p/%zz"));
        assert_eq!(canonical("/a%"), "/a%");
    }

    #[test]
    fn client_routes_get_the_shell_and_missing_assets_do_not() {
        assert_eq!(resolve("/"), Some(INDEX));
        assert_eq!(resolve("/p/0190/f/0191"), Some(INDEX));
        assert_eq!(resolve("/assets/nope-123.js"), None);
        assert_eq!(resolve("/nope.png"), None);
        assert_eq!(resolve("/index.html.gz"), None);
    }
}
