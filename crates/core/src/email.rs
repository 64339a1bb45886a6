//! Email addresses as mdz stores and compares them: trimmed, lower-case, of a plausible shape.

/// Normalise `raw`, or say why it is not an email address.
pub fn normalise(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let Some((local, domain)) = email.split_once('@') else {
        return Err("is not an email address".into());
    };
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        // Quoting, comments and angle brackets let one mailbox be spelled many ways (mail
        // parsers deliver `"ada"@x.com` and `<ada@x.com>` to ada@x.com): one spelling only.
        && !email.chars().any(|c| "<>\"\\(),:;[]".contains(c));
    if ok {
        Ok(email)
    } else {
        Err("is not an email address".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(normalise("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@.com",
            "<ada@example.com>",
            "\"ada\"@example.com",
            "a\\da@example.com",
            "ada(x)@example.com",
            "ada@[127.0.0.1]",
        ] {
            assert!(normalise(bad).is_err(), "{bad}");
        }
    }
}
