//! Single sign-on against a real OpenID Connect provider (the npm `oidc-provider`, see
//! `tests/oidc-js/provider.mjs`): the whole browser flow by hand, account creation and
//! linking, and the refusals (wrong state, foreign browser, replayed code, wrong nonce,
//! expired flow, unverified addresses, auto-create off, `OIDC_ONLY`).

use mdz_tests::{Browser, OidcProvider, Options, PASSWORD, TestApp, location};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

async fn app_with(provider: &OidcProvider, extra: Vec<(&'static str, Value)>) -> TestApp {
    let mut config = provider.config();
    config.extend(extra);
    TestApp::spawn_with(Options {
        config,
        ..Options::default()
    })
    .await
}

/// `sub|email|verified|name` as a query value.
fn hint(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('|', "%7C")
        .replace('@', "%40")
        .replace(' ', "%20")
        .replace('+', "%2B")
}

/// Start a sign-in in `browser` and let the provider sign in `who`; the callback URL the
/// provider sends the browser to (not visited yet).
async fn to_callback(app: &TestApp, browser: &mut Browser, who: &str) -> String {
    let res = browser.get(&app.url("/api/v1/auth/oidc/start")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res);
    browser
        .follow_until(
            &format!("{authorize}&login_hint={}", hint(who)),
            &app.url("/api/v1/auth/oidc/callback"),
        )
        .await
}

/// The `sso_error` of a refused callback (or start).
fn sso_error(res: &reqwest::Response) -> Option<String> {
    location(res)
        .strip_prefix("/signin?sso_error=")
        .map(str::to_owned)
}

/// Replace one query parameter of `url`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn param(url: &str, name: &str) -> String {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

/// Sign in as `who` all the way; the refusal code, or the account `/auth/me` shows.
async fn sign_in(app: &TestApp, who: &str) -> Result<Value, String> {
    let mut browser = Browser::new();
    let callback = to_callback(app, &mut browser, who).await;
    let res = browser.get(&callback).await;
    if let Some(code) = sso_error(&res) {
        assert!(browser.cookie(&app.address, "mdz_refresh").is_none());
        return Err(code);
    }
    Ok(me(app, &browser).await)
}

/// The web app's next step: trade the refresh cookie for an access token, then `/auth/me`.
async fn me(app: &TestApp, browser: &Browser) -> Value {
    let refresh = browser.cookie(&app.address, "mdz_refresh").unwrap();
    let res = app
        .request(reqwest::Method::POST, "/api/v1/auth/refresh", None)
        .header("x-mdz-auth", "cookie")
        .header(header::COOKIE, format!("mdz_refresh={refresh}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let (status, me) = app
        .get("/api/v1/auth/me", body["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_makes_an_account_then_finds_it_by_subject_whatever_the_address() {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, vec![]).await;
    let mut browser = Browser::new();

    // The start: PKCE S256, state, nonce, and the flow's HttpOnly Lax cookie.
    let res = browser
        .get(&app.url("/api/v1/auth/oidc/start?return_to=/p/somewhere"))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.starts_with("mdz_oidc=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax")
            && set.contains("Path=/api/v1/auth/oidc"),
        "{set}"
    );
    let authorize = location(&res);
    assert!(authorize.starts_with(&provider.issuer), "{authorize}");
    for needle in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(authorize.contains(needle), "{needle} in {authorize}");
    }
    let callback = browser
        .follow_until(
            &format!(
                "{authorize}&login_hint={}",
                hint("ada-sub|Ada@Example.com|true|Ada L")
            ),
            &app.url("/api/v1/auth/oidc/callback"),
        )
        .await;
    let res = browser.get(&callback).await;
    assert_eq!(location(&res), "/p/somewhere");
    let cookies: Vec<&str> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("mdz_refresh=mdz_rt_") && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("mdz_oidc=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let ada = me(&app, &browser).await;
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["email_verified"], true);
    assert_eq!(ada["display_name"], "Ada L");

    // Signing in again, after the address changed at the provider: the same account, by
    // subject; the new address takes nothing over.
    let again = sign_in(&app, "ada-sub|ada.new@example.com|true|Ada")
        .await
        .unwrap();
    assert_eq!(again["id"], ada["id"]);
    assert_eq!(again["email"], "ada@example.com");
    // An account made by single sign-on has no password.
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "!sso"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sql("SELECT 1 FROM auth_oidc_identities").await, 1);
    assert_eq!(
        app.sql("SELECT 1 FROM auth_oidc_flows").await,
        0,
        "flows are spent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_links_only_verified_addresses_and_creates_nothing_when_told_not_to() {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, vec![("oidc_auto_create", json!(false))]).await;
    let bob = app
        .register_unverified("bob@example.com", PASSWORD, "Bob")
        .await;

    assert_eq!(
        sign_in(&app, "bob-sub|bob@example.com|false|Bob")
            .await
            .unwrap_err(),
        "email_unverified"
    );
    // The provider vouches, but the account never proved the address to mdz: whoever
    // registered it may not be the person at the provider.
    assert_eq!(
        sign_in(&app, "bob-sub|bob@example.com|true|Bob")
            .await
            .unwrap_err(),
        "account_unverified"
    );
    app.verify_email("bob@example.com").await;
    let linked = sign_in(&app, "bob-sub|bob@example.com|true|Bob")
        .await
        .unwrap();
    assert_eq!(linked["id"], bob["user"]["id"]);
    // Another identity at the provider claiming the same address gets nothing.
    assert_eq!(
        sign_in(&app, "mallory-sub|bob@example.com|true|Bob")
            .await
            .unwrap_err(),
        "already_linked"
    );
    assert_eq!(
        sign_in(&app, "carol-sub|carol@example.com|true|Carol")
            .await
            .unwrap_err(),
        "no_account"
    );
    assert_eq!(sign_in(&app, "deny").await.unwrap_err(), "denied");
    assert_eq!(
        app.sql("SELECT 1 FROM users WHERE email = 'carol@example.com'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_refuses_a_wrong_state_a_foreign_browser_a_replayed_code_and_a_late_callback() {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, vec![]).await;
    let who = "eve-sub|eve@example.com|true|Eve";
    let mut browser = Browser::new();
    let first = to_callback(&app, &mut browser, who).await;

    let res = browser
        .get(&with_param(&first, "state", "not-the-state"))
        .await;
    assert_eq!(sso_error(&res).as_deref(), Some("state"));
    // The right state still works once, in the browser that started it.
    let mut kept = Browser::new();
    let second = to_callback(&app, &mut kept, who).await;
    let res = browser.get(&first).await;
    assert_eq!(location(&res), "/");
    // The same callback again: the flow is spent.
    let res = browser.get(&first).await;
    assert_eq!(sso_error(&res).as_deref(), Some("state"));

    // A fresh flow with the first (used) code: the provider refuses it.
    let third = to_callback(&app, &mut browser, who).await;
    let replay = with_param(&third, "code", &param(&first, "code"));
    let res = browser.get(&replay).await;
    assert_eq!(sso_error(&res).as_deref(), Some("code"));

    // A callback URL carried to another browser (login CSRF) signs nobody in there, and is
    // spent for the one that started it.
    let mut other = Browser::new();
    let res = other.get(&second).await;
    assert_eq!(sso_error(&res).as_deref(), Some("state"));
    assert!(other.cookie(&app.address, "mdz_refresh").is_none());
    let res = kept.get(&second).await;
    assert_eq!(sso_error(&res).as_deref(), Some("state"));

    // Too late.
    let fourth = to_callback(&app, &mut browser, who).await;
    app.sql("UPDATE auth_oidc_flows SET expires_at = now() - interval '1 second'")
        .await;
    let res = browser.get(&fourth).await;
    assert_eq!(sso_error(&res).as_deref(), Some("expired"));

    // A return_to off the site is refused before anything starts.
    let res = browser
        .get(&app.url("/api/v1/auth/oidc/start?return_to=//evil.example/"))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_refuses_an_id_token_for_another_nonce() {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, vec![]).await;
    let mut browser = Browser::new();
    let callback = to_callback(&app, &mut browser, "nat-sub|nat@example.com|true|Nat").await;
    // The ID token carries the nonce the flow sent; the flow now expects another.
    assert_eq!(
        app.sql("UPDATE auth_oidc_flows SET nonce = 'another-nonce'")
            .await,
        1
    );
    let res = browser.get(&callback).await;
    assert_eq!(sso_error(&res).as_deref(), Some("token"));
    assert!(browser.cookie(&app.address, "mdz_refresh").is_none());
    assert_eq!(app.sql("SELECT 1 FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_only_turns_every_password_door_off() {
    let provider = OidcProvider::start().await;
    let app = app_with(&provider, vec![("oidc_only", json!(true))]).await;
    for (path, body) in [
        (
            "/api/v1/auth/register",
            json!({"email": "pat@example.com", "password": PASSWORD, "display_name": "Pat"}),
        ),
        (
            "/api/v1/auth/login",
            json!({"email": "pat@example.com", "password": PASSWORD}),
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "pat@example.com"}),
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": "mdz_pr_x", "password": PASSWORD}),
        ),
    ] {
        let (status, problem) = app.post(path, None, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {problem}");
        assert_eq!(
            problem["type"], "urn:mdz:problem:passwords-disabled",
            "{path}"
        );
    }
    let (status, providers) = app.get("/api/v1/auth/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        providers,
        json!({"password": false, "sso": true, "sso_start": "/api/v1/auth/oidc/start"})
    );
    let pat = sign_in(&app, "pat-sub|pat@example.com|true|Pat")
        .await
        .unwrap();
    assert_eq!(pat["email"], "pat@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_sso_the_endpoints_are_absent_and_a_provider_down_is_a_refusal() {
    let app = TestApp::spawn().await;
    let (status, providers) = app.get("/api/v1/auth/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        providers,
        json!({"password": true, "sso": false, "sso_start": null})
    );
    let (status, problem) = app.get("/api/v1/auth/oidc/start", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");

    // A provider that is not there: mdz starts anyway, a sign-in is sent back with a reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("oidc_issuer", json!(format!("http://127.0.0.1:{port}"))),
            ("oidc_client_id", json!("mdz")),
        ],
        ..Options::default()
    })
    .await;
    let res = Browser::new()
        .get(&app.url("/api/v1/auth/oidc/start"))
        .await;
    assert_eq!(sso_error(&res).as_deref(), Some("unavailable"));
}
