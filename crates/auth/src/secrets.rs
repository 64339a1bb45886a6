//! The prefixes of auth's opaque tokens; generation and hashing live in `mdz_core::secrets`.

pub use mdz_core::secrets::{digest, generate, label};

/// Prefix of every personal access token, so scanners and people can recognise one.
pub const PAT_PREFIX: &str = "mdz_pat_";
/// Prefix of every refresh token.
pub const REFRESH_PREFIX: &str = "mdz_rt_";
