//! Standard Webhooks signatures: the secret is `whsec_` + base64 of the key; each attempt is
//! signed `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Bytes of a signing key (the spec allows 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// What every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new random key.
pub fn new_key() -> Result<Vec<u8>, getrandom::Error> {
    let mut key = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// The key as clients are given it.
pub fn encode_secret(key: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header of one attempt.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_prefixed_base64_of_fresh_keys() {
        let a = new_key().unwrap();
        assert_eq!(a.len(), SECRET_BYTES);
        assert_ne!(a, new_key().unwrap());
        let s = encode_secret(&a);
        assert_eq!(STANDARD.decode(&s[SECRET_PREFIX.len()..]).unwrap(), a);
    }
}
