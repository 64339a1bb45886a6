//! How a mail leaves: SMTP through lettre (rustls), or the log in development.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long one SMTP conversation may take before the attempt counts as failed.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The mail cannot be sent as it is (bad recipient, a 5xx answer): not retried.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The server is unreachable or answered 4xx: retried later.
    #[error("transient: {0}")]
    Transient(#[source] SmtpError),
}

/// Why `SMTP_URL` could not be turned into a transport.
#[derive(Debug, thiserror::Error)]
#[error("SMTP_URL: {0}")]
pub struct TransportError(#[source] SmtpError);

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No `SMTP_URL`: the mail is logged and counts as sent.
    Log,
}

/// `smtp://` without a `tls` parameter requires STARTTLS (credentials never cross in the
/// clear); `?tls=opportunistic` upgrades when offered; `?tls=none` is plain (a local relay);
/// `smtps://` is implicit TLS.
pub fn lettre_url(url: &str) -> String {
    if !url.starts_with("smtp://") {
        return url.to_owned();
    }
    // Only the query decides: `tls=` inside a user name or password must not turn TLS off.
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if pairs.contains(&"tls=none") {
        let rest: Vec<&str> = pairs.into_iter().filter(|p| *p != "tls=none").collect();
        return if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
    }
    if pairs.iter().any(|p| p.starts_with("tls=")) {
        return url.to_owned();
    }
    let joiner = if query.is_empty() { '?' } else { '&' };
    format!("{}{joiner}tls=required", url.trim_end_matches('?'))
}

impl Transport {
    pub fn from_config(smtp_url: Option<&str>) -> Result<Self, TransportError> {
        match smtp_url {
            None => Ok(Self::Log),
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url))
                    .map_err(TransportError)?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build();
                Ok(Self::Smtp(transport))
            }
        }
    }

    pub fn is_log(&self) -> bool {
        matches!(self, Self::Log)
    }

    /// Deliver one mail.
    pub async fn send(
        &self,
        from: &Mailbox,
        to: &str,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), SendError> {
        let Self::Smtp(smtp) = self else {
            tracing::info!(
                to,
                subject,
                body = text,
                "mail (no SMTP_URL: logged, not sent)"
            );
            return Ok(());
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        match smtp.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lettre_url;

    #[test]
    fn smtp_urls_require_starttls_unless_told() {
        assert_eq!(
            lettre_url("smtp://u:p@mail:587"),
            "smtp://u:p@mail:587?tls=required"
        );
        assert_eq!(
            lettre_url("smtp://mail:25?tls=opportunistic"),
            "smtp://mail:25?tls=opportunistic"
        );
        assert_eq!(
            lettre_url("smtp://127.0.0.1:2525?tls=none"),
            "smtp://127.0.0.1:2525"
        );
        assert_eq!(lettre_url("smtps://u:p@mail"), "smtps://u:p@mail");
        // A password that spells a parameter is not one.
        assert_eq!(
            lettre_url("smtp://u:tls=none@mail:587"),
            "smtp://u:tls=none@mail:587?tls=required"
        );
    }
}
