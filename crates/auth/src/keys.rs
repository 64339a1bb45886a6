//! The Ed25519 key that signs access tokens: loaded from a file, or generated on first start and
//! kept in the data directory so tokens survive restarts. Its public half is published as a JWKS.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// The file name of a generated key inside the data directory.
pub const GENERATED_KEY_FILE: &str = "keys/jwt-ed25519.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {path}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("cannot write signing key {path}: {cause}")]
    Write { path: PathBuf, cause: String },
    #[error("signing key {path} is not a PKCS#8 Ed25519 private key in PEM: {cause}")]
    Parse { path: PathBuf, cause: String },
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
}

/// A public key in JWK form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicJwk {
    /// Always `OKP`.
    pub kty: &'static str,
    /// Always `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    /// Key id, also in the `kid` header of every token it signed.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

/// The signing key with everything derived from it.
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: PublicJwk,
}

pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

impl SigningKey {
    /// Load `configured`, or the generated key under `data_dir` (creating it on first start).
    /// Returns the key and whether it was generated now.
    pub fn load_or_generate(
        configured: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(Self, bool), KeyError> {
        if let Some(path) = configured {
            return Ok((Self::from_pem_file(path)?, false));
        }
        let path = data_dir.join(GENERATED_KEY_FILE);
        if path.exists() {
            return Ok((Self::from_pem_file(&path)?, false));
        }
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref().to_vec()));
        write_private(&path, pem.as_bytes())?;
        Ok((Self::from_pem_file(&path)?, true))
    }

    fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read(path).map_err(|e| KeyError::Read {
            path: path.to_owned(),
            cause: e.to_string(),
        })?;
        Self::from_pem(&text).map_err(|cause| KeyError::Parse {
            path: path.to_owned(),
            cause,
        })
    }

    /// Parse a PKCS#8 PEM Ed25519 private key.
    pub fn from_pem(text: &[u8]) -> Result<Self, String> {
        let parsed = pem::parse(text).map_err(|e| e.to_string())?;
        let der = parsed.contents();
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der))
            .map_err(|e| e.to_string())?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&public)[..16]);
        let x = URL_SAFE_NO_PAD.encode(&public);
        // jsonwebtoken's signer wants PKCS#8 v2; re-serialise whatever we were given.
        let pkcs8 = pair.to_pkcs8().map_err(|e| e.to_string())?;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            decoding: DecodingKey::from_ed_der(&public),
            jwk: PublicJwk {
                kty: "OKP",
                crv: "Ed25519",
                x,
                kid: kid.clone(),
                alg: "EdDSA",
                use_: "sig",
            },
            kid,
        })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let err = |e: std::io::Error| KeyError::Write {
        path: path.to_owned(),
        cause: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("pem.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_kept_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("mdz-keys-{}", uuid::Uuid::new_v4()));
        let (a, generated) = SigningKey::load_or_generate(None, &dir).unwrap();
        assert!(generated);
        let (b, generated) = SigningKey::load_or_generate(None, &dir).unwrap();
        assert!(!generated);
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.jwk.x.len(), 43);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
