//! Opaque secrets (refresh tokens, access tokens for machines, invitation tokens): random,
//! prefixed so people and scanners recognise them, shown once, stored only as SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// 32 random bytes, URL-safe base64, behind `prefix`.
pub fn generate(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The SHA-256 under which a token is stored and looked up.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A short, non-secret label derived from a value (for keys that must not hold PII).
pub fn label(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_digest_stably() {
        let a = generate("mdz_x_").unwrap();
        let b = generate("mdz_x_").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("mdz_x_"));
        assert_eq!(a.len(), "mdz_x_".len() + 43);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
