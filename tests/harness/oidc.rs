//! A real OpenID Connect provider for the single sign-on tests (`tests/oidc-js/provider.mjs`,
//! the npm `oidc-provider` run by Node, installed by `scripts/test.sh`), and a browser that
//! follows redirects by hand and keeps each site's cookies.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The provider's one client.
pub const OIDC_CLIENT_ID: &str = "mdz";
pub const OIDC_CLIENT_SECRET: &str = "mdz-secret";

/// A running provider; it stops when dropped.
pub struct OidcProvider {
    pub issuer: String,
    _child: Child,
    /// The script serves until its stdin closes.
    _stdin: ChildStdin,
}

impl OidcProvider {
    pub async fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-js/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (installed by scripts/test.sh)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::time::timeout(Duration::from_secs(30), async {
            BufReader::new(stdout).lines().next_line().await
        })
        .await
        .expect("the provider started in time")
        .expect("read the provider's first line")
        .expect("the provider printed its issuer (is tests/oidc-js installed?)");
        let first: Value = serde_json::from_str(&line).expect("json from the provider");
        Self {
            issuer: first["issuer"].as_str().expect("issuer").to_owned(),
            _child: child,
            _stdin: stdin,
        }
    }

    /// The mdz configuration keys for this provider.
    pub fn config(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("oidc_issuer", json!(self.issuer)),
            ("oidc_client_id", json!(OIDC_CLIENT_ID)),
            ("oidc_client_secret", json!(OIDC_CLIENT_SECRET)),
        ]
    }
}

/// What a browser needs here: cookies per site (scheme + host + port), redirects followed by
/// hand so a test sees and can change every step.
pub struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

fn site(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            cookies: HashMap::new(),
        }
    }

    /// The cookie `name` this browser holds for the site of `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.get(&site(url))?.get(name).cloned()
    }

    /// GET `url` with this browser's cookies for its site, keeping the ones it sets.
    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let jar = self.cookies.entry(site(url)).or_default();
        let mut request = self.client.get(url);
        if !jar.is_empty() {
            let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(header::COOKIE, cookie.join("; "));
        }
        let res = request.send().await.expect("browser request");
        for set in res.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            let pair = set.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let gone = value.is_empty()
                || set.contains("Max-Age=0")
                || set.contains("expires=Thu, 01 Jan 1970");
            if gone {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        res
    }

    /// Follow redirects from `url` until one points at a URL starting with `stop` (returned,
    /// not visited).
    pub async fn follow_until(&mut self, url: &str, stop: &str) -> String {
        let mut next = url.to_owned();
        for _ in 0..10 {
            let res = self.get(&next).await;
            let status = res.status();
            assert!(
                status.is_redirection(),
                "{next}: {status} {}",
                res.text().await.unwrap_or_default()
            );
            let location = location(&res);
            next = if location.starts_with('/') {
                format!("http://{}{location}", site(&next))
            } else {
                location
            };
            if next.starts_with(stop) {
                return next;
            }
        }
        panic!("no redirect to {stop} within 10 steps (last: {next})");
    }
}

/// The `Location` of a redirect.
pub fn location(res: &reqwest::Response) -> String {
    assert!(
        res.status() == StatusCode::SEE_OTHER || res.status().is_redirection(),
        "not a redirect: {}",
        res.status()
    );
    res.headers()
        .get(header::LOCATION)
        .expect("a Location")
        .to_str()
        .expect("ascii Location")
        .to_owned()
}
