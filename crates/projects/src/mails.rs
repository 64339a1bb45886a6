//! The invitation mail.

use mdz_core::mail::{Outbox, OutgoingMail, escape_html, html_page};

/// The mail that carries an invitation's accept link (the web app's `/invite/{token}` page).
pub fn invitation(
    outbox: &Outbox,
    to: &str,
    inviter: &str,
    project: &str,
    role: &str,
    token: &str,
) -> OutgoingMail {
    let link = outbox.link(&format!("/invite/{token}"));
    OutgoingMail {
        kind: "invitation",
        to: to.to_owned(),
        subject: format!("{inviter} invited you to {project} on mdz"),
        text: format!(
            "{inviter} invited you to the project \"{project}\" on mdz as {role}.\n\n\
             Accept the invitation here (sign up with this address if you have no account):\n\n\
             {link}\n"
        ),
        html: html_page(
            &[
                format!(
                    "{} invited you to the project <strong>{}</strong> on mdz as {}.",
                    escape_html(inviter),
                    escape_html(project),
                    escape_html(role)
                ),
                "Sign up with this address if you have no account yet.".into(),
            ],
            "Accept the invitation",
            &link,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html_only() {
        let outbox = Outbox::new(
            "https://mdz.example/",
            prometheus::IntCounter::new("t", "t").unwrap(),
        );
        let mail = invitation(&outbox, "b@x.io", "<Ada>", "R&D", "editor", "mdz_inv_x");
        assert!(mail.html.contains("&lt;Ada&gt;"));
        assert!(mail.html.contains("R&amp;D"));
        assert!(!mail.html.contains("<Ada>"));
        assert!(mail.text.contains("<Ada>"));
        assert!(mail.text.contains("https://mdz.example/invite/mdz_inv_x"));
    }
}
