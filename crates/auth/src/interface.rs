//! Request and response types of the auth API, and the parsed forms requests become.

use chrono::{DateTime, Utc};
use mdz_core::FieldError;
use mdz_core::ids::{ProjectId, SessionId, TokenId, UserId};
use mdz_core::ports::Scope;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::password;

// ---- wire types -------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 10 characters, not a common password.
    #[schema(example = "violet-harbour-42")]
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Required in JSON token mode; in cookie mode (`X-MDZ-Auth: cookie`) it is left out and
    /// the `mdz_refresh` cookie is read instead.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub display_name: Option<String>,
    /// Mail me when someone @mentions me (at most one mail every few minutes, only for
    /// mentions still unread by then).
    pub mention_mails: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The new address; it becomes the account's once the link mailed to it is followed.
    #[schema(example = "ada@new.example.com")]
    pub email: String,
    pub current_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token of the verification mail's link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token of the reset mail's link (single use, 30 minutes).
    pub token: String,
    /// The new password: the rules of registration.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// What the token is for, e.g. `VS Code on laptop`.
    pub name: String,
    /// Days until it expires (1–3650); never when absent (and no `expires_at`).
    pub expires_in_days: Option<i64>,
    /// When it expires (in the future, within 3650 days); instead of `expires_in_days`.
    pub expires_at: Option<DateTime<Utc>>,
    /// `read` (GET only; live editing as a viewer), `suggest` (reads, and proposes edits as
    /// suggestions: `POST /files/{id}/suggestions` and MCP, where `update_file` becomes a
    /// suggestion; every other write is 403), `write` or `admin` (also creates and deletes
    /// tokens). Default: `suggest` when `purpose` is `mcp`, else `write`.
    #[schema(example = "read")]
    pub scope: Option<String>,
    /// What the token is for: `mcp` (an AI assistant over MCP: its scope defaults to
    /// `suggest`, so its edits wait for a person) or `general` (the default). Only picks the
    /// default scope; not stored.
    #[schema(example = "mcp")]
    pub purpose: Option<String>,
    /// Limit the token to these projects (1–100); every project of the user when absent.
    pub projects: Option<Vec<ProjectId>>,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    /// Whether the owner of `email` followed the link of a verification mail. Being added to
    /// a project by e-mail, or accepting an e-mail-bound invitation, needs it.
    pub email_verified: bool,
    pub display_name: String,
    /// A mail is sent when someone @mentions this user (see `PATCH /auth/me`).
    pub mention_mails: bool,
    pub created_at: DateTime<Utc>,
}

/// What register, login and refresh answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: User,
    /// A JWT (EdDSA) for `Authorization: Bearer`; short-lived.
    pub access_token: String,
    /// Opaque, single use: trade it at `POST /auth/refresh` for a new pair. Absent in cookie
    /// mode (`X-MDZ-Auth: cookie`), where it is set as the `HttpOnly` cookie `mdz_refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
}

/// A signed-in device.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Is this the session making the request?
    pub current: bool,
}

/// A personal access token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// `read`, `suggest` (edits only as suggestions), `write` or `admin`.
    pub scope: String,
    /// The projects it is limited to; absent: every project of the user.
    pub projects: Option<Vec<ProjectId>>,
}

/// A new personal access token; `token` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub meta: ApiToken,
    pub token: String,
}

// ---- parsed forms -----------------------------------------------------------------------

/// A normalised (trimmed, lower-case) email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        mdz_core::email::normalise(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err("must not be empty".into());
        }
        if len > 100 {
            return Err("must be at most 100 characters".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that satisfies the policy.
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str, email: Option<&str>) -> Result<Self, String> {
        match password::policy_violation(raw, email) {
            Some(why) => Err(why),
            None => Ok(Self(raw.to_owned())),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A registration whose every field is valid.
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub password: NewPassword,
    pub display_name: DisplayName,
}

/// Collects field errors so a request reports all of them at once.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
                None
            }
        }
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.0
    }
}

impl RegisterRequest {
    pub fn parse(self) -> Result<NewAccount, Vec<FieldError>> {
        let mut f = Fields::default();
        let email = f.check("email", Email::parse(&self.email));
        let password = f.check(
            "password",
            NewPassword::parse(&self.password, email.as_ref().map(Email::as_str)),
        );
        let display_name = f.check("display_name", DisplayName::parse(&self.display_name));
        match (email, password, display_name) {
            (Some(email), Some(password), Some(display_name)) => Ok(NewAccount {
                email,
                password,
                display_name,
            }),
            _ => Err(f.into_errors()),
        }
    }
}

/// A valid personal-access-token request.
#[derive(Debug)]
pub struct NewApiToken {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Scope,
    pub projects: Option<Vec<ProjectId>>,
}

/// Longest a token may live.
const TOKEN_MAX_DAYS: i64 = 3650;
/// Most projects one token may be limited to.
const TOKEN_MAX_PROJECTS: usize = 100;

impl CreateTokenRequest {
    pub fn parse(self) -> Result<NewApiToken, Vec<FieldError>> {
        let mut f = Fields::default();
        let now = Utc::now();
        let name = f.check(
            "name",
            DisplayName::parse(&self.name).map(|n| n.as_str().to_owned()),
        );
        let expires_at = f.check(
            "expires_in_days",
            match (self.expires_in_days, self.expires_at) {
                (Some(_), Some(_)) => Err("give expires_in_days or expires_at, not both".into()),
                (Some(d), None) if !(1..=TOKEN_MAX_DAYS).contains(&d) => {
                    Err(format!("must be between 1 and {TOKEN_MAX_DAYS}"))
                }
                (Some(d), None) => Ok(Some(now + chrono::Duration::days(d))),
                (None, Some(at))
                    if at <= now || at > now + chrono::Duration::days(TOKEN_MAX_DAYS) =>
                {
                    Err(format!(
                        "expires_at must be in the future, within {TOKEN_MAX_DAYS} days"
                    ))
                }
                (None, at) => Ok(at),
            },
        );
        let default_scope = f.check(
            "purpose",
            match self.purpose.as_deref() {
                None | Some("general") => Ok(Scope::Write),
                // An assistant's edits wait for a person unless asked otherwise.
                Some("mcp") => Ok(Scope::Suggest),
                Some(_) => Err("must be mcp or general".to_owned()),
            },
        );
        let scope = f.check(
            "scope",
            self.scope
                .as_deref()
                .map_or(Ok(default_scope.unwrap_or(Scope::Write)), Scope::parse),
        );
        let projects = f.check(
            "projects",
            match self.projects {
                Some(list) if list.is_empty() || list.len() > TOKEN_MAX_PROJECTS => Err(format!(
                    "list 1 to {TOKEN_MAX_PROJECTS} projects, or leave it out for all"
                )),
                Some(mut list) => {
                    list.sort_unstable_by_key(|p| p.0);
                    list.dedup();
                    Ok(Some(list))
                }
                None => Ok(None),
            },
        );
        match (name, expires_at, default_scope, scope, projects) {
            (Some(name), Some(expires_at), Some(_), Some(scope), Some(projects)) => {
                Ok(NewApiToken {
                    name,
                    expires_at,
                    scope,
                    projects,
                })
            }
            _ => Err(f.into_errors()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_reports_every_bad_field() {
        let errs = RegisterRequest {
            email: "nope".into(),
            password: "short".into(),
            display_name: " ".into(),
        }
        .parse()
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "password", "display_name"]);
    }

    fn token(scope: Option<&str>, purpose: Option<&str>) -> Result<NewApiToken, Vec<FieldError>> {
        CreateTokenRequest {
            name: "assistant".into(),
            expires_in_days: None,
            expires_at: None,
            scope: scope.map(str::to_owned),
            purpose: purpose.map(str::to_owned),
            projects: None,
        }
        .parse()
    }

    #[test]
    fn mcp_tokens_only_suggest_unless_asked_otherwise() {
        assert_eq!(token(None, None).unwrap().scope, Scope::Write);
        assert_eq!(token(None, Some("general")).unwrap().scope, Scope::Write);
        assert_eq!(token(None, Some("mcp")).unwrap().scope, Scope::Suggest);
        assert_eq!(
            token(Some("write"), Some("mcp")).unwrap().scope,
            Scope::Write
        );
        assert_eq!(token(Some("suggest"), None).unwrap().scope, Scope::Suggest);
        let errs = token(Some("suggest"), Some("robots")).unwrap_err();
        assert_eq!(errs[0].field, "purpose");
    }
}
