//! The cookie a right password earns: `{expiry}.{HMAC-SHA256}` signed with the share's own
//! random key, so it opens only that share, only until it expires, and any replica can check
//! it without a lookup. Deleting the share (or its project) makes every cookie worthless.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use mdz_core::ids::ShareId;

/// The cookie's name; its path is the share's, `/s/{token}`.
pub const COOKIE_NAME: &str = "mdz_share";
/// How long an unlock lasts.
pub const COOKIE_TTL_SECS: i64 = 3600;

/// A new signing key for a share.
pub fn new_key() -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; 32];
    getrandom_fill(&mut key)?;
    Ok(key)
}

fn getrandom_fill(buf: &mut [u8]) -> Result<(), String> {
    aws_lc_rs::rand::fill(buf).map_err(|_| "no randomness".to_owned())
}

fn message(share: ShareId, expires: i64) -> String {
    format!("{share}.{expires}")
}

/// The cookie value opening `share` until `now` + [`COOKIE_TTL_SECS`].
pub fn sign(key: &[u8], share: ShareId, now: DateTime<Utc>) -> String {
    let expires = now.timestamp() + COOKIE_TTL_SECS;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        message(share, expires).as_bytes(),
    );
    format!("{expires}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Does `value` open `share` at `now`?
pub fn verify(key: &[u8], share: ShareId, value: &str, now: DateTime<Utc>) -> bool {
    let Some((expires, tag)) = value.split_once('.') else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    if expires <= now.timestamp() || expires > now.timestamp() + COOKIE_TTL_SECS {
        return false;
    }
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        message(share, expires).as_bytes(),
        &tag,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_its_share_until_it_expires() {
        let key = new_key().unwrap();
        let share = ShareId::new();
        let now = Utc::now();
        let value = sign(&key, share, now);
        assert!(verify(&key, share, &value, now));
        assert!(!verify(&key, ShareId::new(), &value, now));
        assert!(!verify(&new_key().unwrap(), share, &value, now));
        let later = now + chrono::Duration::seconds(COOKIE_TTL_SECS + 1);
        assert!(!verify(&key, share, &value, later));
        let (exp, tag) = value.split_once('.').unwrap();
        let longer = format!("{}.{tag}", exp.parse::<i64>().unwrap() + 1000);
        assert!(!verify(&key, share, &longer, now));
        assert!(!verify(&key, share, "garbage", now));
    }
}
