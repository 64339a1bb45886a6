//! A model's name as providers spell them (`gpt-4o-mini`, `claude-sonnet-4-5`,
//! `anthropic.claude-3-haiku-20240307-v1:0`, `llama3.1:8b`, `org/model`): the one check every
//! domain that takes a model name uses (sessions, AI edits).

use crate::problem::FieldError;

/// Characters (ASCII, so bytes) of a model's name.
pub const MAX_MODEL_NAME: usize = 200;

/// `raw` when it is 1 to [`MAX_MODEL_NAME`] letters, digits and `._:/-@`; otherwise a
/// field error naming `field`.
pub fn check(field: &str, raw: &str) -> Result<(), FieldError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_MODEL_NAME
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("1 to {MAX_MODEL_NAME} characters of letters, digits and ._:/-@"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_spellings_pass_and_the_rest_does_not() {
        for ok in [
            "gpt-4o-mini",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "llama3.1:8b",
            "org/model@v2",
        ] {
            assert!(check("model", ok).is_ok(), "{ok}");
        }
        let long = "m".repeat(MAX_MODEL_NAME + 1);
        for bad in ["", "gpt 4", "m<x>", "m\u{7f}", "ünï", long.as_str()] {
            assert!(check("model", bad).is_err(), "{bad:?}");
        }
    }
}
