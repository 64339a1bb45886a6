//! Login lockout under parallel guesses, bounded password hashing, client addresses behind
//! proxies, the password rules of a password change, and the separate metrics listener.

use futures_util::future::join_all;
use mdz_tests::{Options, PASSWORD, Redis, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Send `n` requests at once; their statuses and bodies.
async fn at_once(
    n: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Vec<(StatusCode, Option<String>, Value)> {
    join_all((0..n).map(|i| {
        let rb = make(i);
        async move {
            let res = rb.send().await.unwrap();
            let status = res.status();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = res.json::<Value>().await.unwrap_or(Value::Null);
            (status, retry, body)
        }
    }))
    .await
}

fn count(results: &[(StatusCode, Option<String>, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _, _)| *s == status).count()
}

async fn parallel_guesses_are_evaluated_at_most_the_limit(app: &TestApp) {
    let user = app.new_user().await;
    let results = at_once(40, |_| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": user.email, "password": "wrong-password-x"}))
    })
    .await;
    let evaluated = count(&results, StatusCode::UNAUTHORIZED);
    let limited = count(&results, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        evaluated <= 10,
        "{evaluated} of 40 parallel guesses were evaluated"
    );
    assert_eq!(evaluated + limited, 40, "{results:?}");
    for (_, retry, body) in results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
    {
        assert!(retry.is_some());
        assert_eq!(body["type"], "urn:mdz:problem:rate-limited");
    }
    // Locked out: the right password too.
    let (status, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

fn roomy_hashing() -> Vec<(&'static str, Value)> {
    // Enough hashing slots and queue that only the rate limit answers for the guesses.
    vec![
        ("password_hash_concurrency", json!(2)),
        ("password_hash_queue", json!(100)),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_wrong_guesses_are_evaluated_at_most_the_limit_in_process() {
    let app = TestApp::spawn_with(Options {
        config: roomy_hashing(),
        ..Options::default()
    })
    .await;
    parallel_guesses_are_evaluated_at_most_the_limit(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_wrong_guesses_are_evaluated_at_most_the_limit_in_redis() {
    let app = TestApp::spawn_with(Options {
        redis: Redis::Shared,
        config: roomy_hashing(),
        ..Options::default()
    })
    .await;
    parallel_guesses_are_evaluated_at_most_the_limit(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_login_gives_its_reservation_back() {
    let app = TestApp::spawn_with(Options {
        config: vec![("login_max_failures", json!(3))],
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    let login = |pw: &str| json!({"email": user.email, "password": pw});
    // Successes from one address never use up its failure allowance.
    for _ in 0..5 {
        let (status, body) = app.post("/api/v1/auth/login", None, login(PASSWORD)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for _ in 0..3 {
        let (status, _) = app
            .post("/api/v1/auth/login", None, login("wrong-password-x"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = app.post("/api/v1/auth/login", None, login(PASSWORD)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_beyond_the_hashing_slots_get_a_quick_503() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("password_hash_concurrency", json!(1)),
            ("password_hash_queue", json!(2)),
            ("login_max_failures", json!(1_000_000)),
        ],
        ..Options::default()
    })
    .await;
    let results = at_once(300, |i| {
        app.client.post(app.url("/api/v1/auth/login")).json(
            &json!({"email": format!("nobody-{i}@example.com"), "password": "wrong-password-x"}),
        )
    })
    .await;
    let checked = count(&results, StatusCode::UNAUTHORIZED);
    let busy = count(&results, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(checked + busy, 300, "{results:?}");
    assert!(checked >= 1, "some are checked");
    assert!(
        busy >= 1,
        "300 at once do not all queue for one hashing slot"
    );
    for (_, retry, body) in results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
    {
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["type"], "urn:mdz:problem:busy");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_share_the_hashing_bound() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("password_hash_concurrency", json!(1)),
            ("password_hash_queue", json!(0)),
        ],
        ..Options::default()
    })
    .await;
    let results = at_once(60, |i| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({
                "email": format!("burst-{i}@example.com"),
                "password": PASSWORD,
                "display_name": "Burst",
            }))
    })
    .await;
    let created = count(&results, StatusCode::CREATED);
    let busy = count(&results, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(created + busy, 60, "{results:?}");
    assert!(created >= 1 && busy >= 1, "{created} created, {busy} busy");
}

/// As a proxy in front would send it: what the client wrote, then the address the proxy saw.
fn via_proxy(rb: reqwest::RequestBuilder, spoofed: &str, seen: &str) -> reqwest::RequestBuilder {
    rb.header("x-forwarded-for", format!("{spoofed}, {seen}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_forwarded_for_does_not_escape_the_login_limit() {
    let app = TestApp::spawn_with(Options {
        config: vec![("trust_proxy", json!(true))],
        ..Options::default()
    })
    .await;
    // Ten failures from one address, each for another account and with another spoofed hop.
    for i in 0..10 {
        let res = via_proxy(
            app.client.post(app.url("/api/v1/auth/login")),
            &format!("192.0.2.{i}"),
            "203.0.113.5",
        )
        .json(&json!({"email": format!("x{i}@example.com"), "password": "wrong-password-x"}))
        .send()
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = via_proxy(
        app.client.post(app.url("/api/v1/auth/login")),
        "192.0.2.200",
        "203.0.113.5",
    )
    .json(&json!({"email": "fresh@example.com", "password": "wrong-password-x"}))
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address the proxy saw is not limited.
    let res = via_proxy(
        app.client.post(app.url("/api/v1/auth/login")),
        "192.0.2.200",
        "203.0.113.6",
    )
    .json(&json!({"email": "fresh@example.com", "password": "wrong-password-x"}))
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_forwarded_for_does_not_escape_the_register_limit() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("trust_proxy", json!(true)),
            ("register_max_per_ip", json!(3)),
        ],
        ..Options::default()
    })
    .await;
    let register = |i: usize| {
        via_proxy(
            app.client.post(app.url("/api/v1/auth/register")),
            &format!("192.0.2.{i}"),
            "203.0.113.5",
        )
        .json(&json!({
            "email": format!("r{i}@example.com"),
            "password": PASSWORD,
            "display_name": "R",
        }))
        .send()
    };
    for i in 0..3 {
        assert_eq!(register(i).await.unwrap().status(), StatusCode::CREATED);
    }
    assert_eq!(
        register(3).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_records_the_address_the_nearest_trusted_proxy_saw() {
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("trust_proxy", json!(true)),
            ("trusted_proxies", json!("127.0.0.0/8, 10.0.0.0/8")),
        ],
        ..Options::default()
    })
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3")
        .json(&json!({"email": "ip@example.com", "password": PASSWORD, "display_name": "Ip"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let (status, sessions) = app.get("/api/v1/auth/sessions", Some(access)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions["items"][0]["ip"], "198.51.100.7");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_password_follows_the_rules_of_registration() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    for new in [
        user.email.clone(),
        user.email.split('@').next().unwrap().to_owned(),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/auth/password",
                Some(&user.access),
                json!({"current_password": PASSWORD, "new_password": new}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{new}: {body}");
        assert_eq!(body["errors"][0]["field"], "new_password");
    }
    for common in ["password123", "qwertyuiop", "zzzzzzzzzzzz"] {
        let (status, _) = app
            .post(
                "/api/v1/auth/password",
                Some(&user.access),
                json!({"current_password": PASSWORD, "new_password": common}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{common}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_live_on_their_own_listener() {
    let app = TestApp::spawn_with(Options {
        config: vec![("metrics_listen", json!("127.0.0.1:0"))],
        ..Options::default()
    })
    .await;
    let (status, body) = app.get("/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["type"], "urn:mdz:problem:not-found");
    let port = app.metrics_port.unwrap();
    let res = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("mdz_db_pool_max"), "{text}");
    // Only metrics there.
    let res = app
        .client
        .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // And without the key, /metrics is on the main listener as before.
    let plain = TestApp::spawn().await;
    assert!(plain.metrics_port.is_none());
    assert_eq!(plain.get("/metrics", None).await.0, StatusCode::OK);
}
