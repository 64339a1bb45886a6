//! The configuration's rules, key by key.

use super::*;
use serde_json::json;

#[test]
fn defaults_are_valid() {
    let c = Config::with_overrides(&[]).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert!(c.database_url.is_none());
}

#[test]
fn unknown_key_is_named() {
    let err = Config::with_overrides(&[("colour", json!("blue"))]).unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn webhook_retries_are_checked() {
    let c = Config::with_overrides(&[]).unwrap();
    assert_eq!(c.webhook_retry_schedule().len(), 7);
    assert!(!c.webhook_allow_private);
    for bad in ["", "5,,6", "0", "5,x", "172801"] {
        let err = Config::with_overrides(&[("webhook_retry_secs", json!(bad))]).unwrap_err();
        assert!(
            err.to_string().contains("webhook_retry_secs"),
            "{bad}: {err}"
        );
    }
    let c = Config::with_overrides(&[("webhook_retry_secs", json!("1, 2"))]).unwrap();
    assert_eq!(c.webhook_retry_schedule().len(), 2);
}

#[test]
fn bad_value_is_named() {
    let err = Config::with_overrides(&[("listen", json!("nowhere"))]).unwrap_err();
    assert!(err.to_string().contains("listen"), "{err}");
    let err = Config::with_overrides(&[("log_format", json!("xml"))]).unwrap_err();
    assert!(err.to_string().contains("log_format"), "{err}");
}

#[test]
fn the_collab_message_limit_holds_a_whole_document() {
    let err = Config::with_overrides(&[
        ("max_file_bytes", json!(8 * 1024 * 1024)),
        ("collab_max_message_bytes", json!(8 * 1024 * 1024)),
    ])
    .unwrap_err();
    assert!(
        err.to_string().contains("collab_max_message_bytes"),
        "{err}"
    );
    assert!(
        Config::with_overrides(&[
            ("max_file_bytes", json!(4000)),
            ("collab_max_message_bytes", json!(5000)),
        ])
        .is_ok()
    );
}

#[test]
fn a_quota_must_admit_an_answer() {
    let err = Config::with_overrides(&[
        ("llm_max_tokens", json!(100)),
        ("llm_daily_tokens_per_project", json!(100)),
    ])
    .unwrap_err();
    assert!(
        err.to_string().contains("llm_daily_tokens_per_project"),
        "{err}"
    );
    let err = Config::with_overrides(&[("llm_daily_tokens_per_user", json!(-1))]).unwrap_err();
    assert!(
        err.to_string().contains("llm_daily_tokens_per_user"),
        "{err}"
    );
    assert!(
        Config::with_overrides(&[
            ("llm_max_tokens", json!(100)),
            ("llm_daily_tokens_per_user", json!(101)),
        ])
        .is_ok()
    );
}

#[test]
fn trusted_proxies_must_be_networks() {
    let err =
        Config::with_overrides(&[("trusted_proxies", json!("10.0.0.0/8, nope"))]).unwrap_err();
    assert!(err.to_string().contains("trusted_proxies"), "{err}");
    let c = Config::with_overrides(&[("trusted_proxies", json!("10.0.0.0/8, ::1"))]).unwrap();
    assert_eq!(c.trusted_proxy_list().len(), 2);
}

#[test]
fn single_sign_on_needs_its_keys_together_and_a_safe_issuer() {
    let sso = |issuer: &str| {
        Config::with_overrides(&[
            ("oidc_issuer", json!(issuer)),
            ("oidc_client_id", json!("mdz")),
        ])
    };
    assert!(sso("https://id.example.com/realms/x").is_ok());
    assert!(sso("http://127.0.0.1:5556").is_ok());
    assert!(sso("http://localhost:5556/").is_ok());
    assert!(sso("http://[::1]:5556").is_ok());
    for bad in [
        "http://id.example.com",
        "ftp://x",
        "https://",
        "id.example.com",
    ] {
        let err = sso(bad).unwrap_err();
        assert!(err.to_string().contains("oidc_issuer"), "{bad}: {err}");
    }
    let err =
        Config::with_overrides(&[("oidc_issuer", json!("https://id.example.com"))]).unwrap_err();
    assert!(err.to_string().contains("oidc_client_id"), "{err}");
    let err = Config::with_overrides(&[("oidc_only", json!(true))]).unwrap_err();
    assert!(err.to_string().contains("oidc_only"), "{err}");
    let c = Config::with_overrides(&[]).unwrap();
    assert!(c.oidc_auto_create && !c.oidc_only && c.oidc_issuer.is_none());
}

#[test]
fn secrets_do_not_show_in_debug() {
    let c = Config::with_overrides(&[("database_url", json!("postgres://a:pw123@h/d"))]).unwrap();
    assert!(!format!("{c:?}").contains("pw123"));
}
