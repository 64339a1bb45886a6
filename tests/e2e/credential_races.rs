//! Credentials minted while a password reset runs: a login or a token created from a hash or
//! a session read before the reset committed must not outlive it.

use mdz_tests::{Options, PASSWORD, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn logins_racing_a_reset_leave_no_session_alive() {
    // One hash at a time: the logins below read the old hash while the reset's new one is
    // being computed, and check the old password against it only after the reset commits.
    let app = TestApp::spawn_with(Options {
        config: vec![
            ("password_hash_concurrency", json!(1)),
            ("password_hash_queue", json!(32)),
            ("login_max_failures", json!(100)),
        ],
        ..Options::default()
    })
    .await;
    let user = app.new_user().await;
    let (status, body) = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": user.email}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let token = app.outbox_token(&user.email, "password-reset").await;

    let reset = app.post(
        "/api/v1/auth/password/reset",
        None,
        json!({"token": token, "password": "amber-lighthouse-77"}),
    );
    let logins = async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let login = json!({"email": user.email, "password": PASSWORD});
        futures_util::future::join_all(
            (0..8).map(|_| app.post("/api/v1/auth/login", None, login.clone())),
        )
        .await
    };
    let ((status, body), logins) = tokio::join!(reset, logins);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for (status, body) in logins {
        if status != StatusCode::OK {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            continue;
        }
        // A login that got in before the reset: the reset must have ended its session.
        let (status, _) = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": body["refresh_token"]}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a session outlived the reset"
        );
    }
    let live = app
        .sql(&format!(
            "UPDATE auth_sessions SET revoked_at = revoked_at \
             WHERE user_id = '{}' AND revoked_at IS NULL",
            user.id
        ))
        .await;
    assert_eq!(live, 0, "live sessions after the reset");
}
