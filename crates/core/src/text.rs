//! Text PostgreSQL can store.
//!
//! A PostgreSQL `text` value cannot hold U+0000 (the server answers SQLSTATE 22021,
//! `character_not_in_repertoire`), nor can `jsonb` hold `\u0000` (22P05,
//! `untranslatable_character`). Every other Unicode scalar value is stored as is. So each
//! string that reaches the database is checked where the request is parsed, which names the
//! field in a 422; [`crate::db`] turns the database's own refusal into a 422 too, for any
//! field a check missed, so such input is never a 500.

use crate::problem::FieldError;

/// What a field holding U+0000 is told.
pub const NUL_MESSAGE: &str = "must not contain NUL characters (U+0000)";

/// Can PostgreSQL store `text` (it holds no U+0000)?
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// `text` as a parse result: `Err` with [`NUL_MESSAGE`] when PostgreSQL cannot store it.
pub fn check(text: &str) -> Result<(), String> {
    if storable(text) {
        Ok(())
    } else {
        Err(NUL_MESSAGE.to_owned())
    }
}

/// [`check`] for one field: the field error naming it.
pub fn check_field(field: &str, text: &str) -> Result<(), FieldError> {
    check(text).map_err(|message| FieldError::new(field, message))
}

/// Add a field error to `errors` when `text` cannot be stored (for parsers collecting every
/// invalid field of a request).
pub fn collect(errors: &mut Vec<FieldError>, field: &str, text: &str) {
    if let Err(e) = check_field(field, text) {
        errors.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nul_is_refused() {
        assert!(storable("héllo 日本 🎉 \u{1} \u{7f} \u{fffd} \u{10ffff}"));
        assert!(!storable("a\u{0}b"));
        let e = check_field("title", "\u{0}").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("title", NUL_MESSAGE)
        );
        let mut errors = Vec::new();
        collect(&mut errors, "a", "fine");
        collect(&mut errors, "b", "x\u{0}");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "b");
    }
}
