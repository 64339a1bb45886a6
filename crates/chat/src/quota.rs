//! Daily token quotas that parallel posts cannot overrun.
//!
//! An answer reserves an estimate (its prompt's tokens, about, plus `max_tokens`) in the
//! statement that stores it: one `INSERT … ON CONFLICT DO UPDATE` of a counter row per user and
//! per project and day (`chat_token_use`), whose checks refuse the whole statement when the day
//! would go past the limit. Concurrent reservations queue on the counter rows' locks, so of
//! twenty parallel posts only those that fit are stored; the rest are 429. When the answer
//! ends, the statement that stores it for good also settles the hold: what the provider
//! reported (or, without a report, the prompt's estimate and about four characters a token of
//! what arrived; a cancelled answer pays at least its prompt; a failure that produced nothing
//! pays nothing). An answer whose node stopped is charged its whole hold by the sweeper.

use crate::generation::Ending;
use crate::provider::Speaker;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::result::{DatabaseErrorKind, Error};
use mdz_core::ids::{ProjectId, UserId};

/// A post refused while answers still being generated hold the room it needs is told to try
/// again after this many seconds (they settle to what they really cost when they end).
pub const HELD_RETRY_SECS: u64 = 10;

/// The quotas of the deployment.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Tokens one user may use per UTC day (0: no limit).
    pub per_user: i64,
    /// Tokens one project may use per UTC day (0: no limit).
    pub per_project: i64,
    /// The longest answer a provider is asked for.
    pub max_tokens: u32,
}

/// What one answer holds of the day's quotas until it ends.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    pub user: UserId,
    pub project: ProjectId,
    /// The UTC day of the answer's `created_at`.
    pub day: NaiveDate,
    /// Within `i32` (the answer row's `reserved_tokens`).
    pub tokens: i64,
    pub user_cap: Option<i64>,
    pub project_cap: Option<i64>,
}

impl Hold {
    /// The hold as the answer row stores it.
    pub fn reserved(&self) -> i32 {
        i32::try_from(self.tokens).unwrap_or(i32::MAX)
    }
}

/// The tokens a prompt counts, about: a token per four bytes of UTF-8 (text outside ASCII
/// counts more per character, as tokenizers do), plus four for each message's framing.
pub fn prompt_estimate(messages: &[(Speaker, String)]) -> i32 {
    let n: usize = messages.iter().map(|(_, t)| t.len().div_ceil(4) + 4).sum();
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Quotas {
    /// The same quotas for answers capped at `max_tokens` (a completion holds its own cap).
    pub fn capped(&self, max_tokens: u32) -> Self {
        Self {
            max_tokens: max_tokens.min(self.max_tokens),
            ..*self
        }
    }

    /// Whether any quota is set.
    pub fn enabled(&self) -> bool {
        self.per_user != 0 || self.per_project != 0
    }

    /// The hold of an answer created `at` with a prompt of about `prompt` tokens; `None` when
    /// there are no quotas (nothing is counted then).
    pub fn hold(
        &self,
        user: UserId,
        project: ProjectId,
        at: DateTime<Utc>,
        prompt: i32,
    ) -> Option<Hold> {
        if !self.enabled() {
            return None;
        }
        let cap = |n: i64| (n > 0).then_some(n);
        let tokens = (i64::from(prompt) + i64::from(self.max_tokens)).min(i64::from(i32::MAX));
        Some(Hold {
            user,
            project,
            day: at.date_naive(),
            tokens,
            user_cap: cap(self.per_user),
            project_cap: cap(self.per_project),
        })
    }

    /// The limit of `scope` (`user` or `project`).
    pub fn limit(&self, scope: &str) -> i64 {
        if scope == "user" {
            self.per_user
        } else {
            self.per_project
        }
    }
}

/// Which quota refused a reservation (`user` or `project`), if that is what `e` is.
pub fn refused(e: &Error) -> Option<&'static str> {
    match e {
        Error::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
            match info.constraint_name() {
                Some("chat_user_quota") => Some("user"),
                Some("chat_project_quota") => Some("project"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Seconds from `now` until the next UTC midnight (at least 1).
pub fn until_midnight(now: DateTime<Utc>) -> u64 {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    next.and_then(|t| u64::try_from((t - now).num_seconds()).ok())
        .unwrap_or(60)
        .max(1)
}

/// What an answer that ended costs (prompt, completion): the provider's report; without one,
/// the prompt's estimate and about four characters a token of the text that arrived; a
/// cancelled answer pays its prompt even when nothing arrived; a failure before any text
/// pays nothing (the hold is released).
pub fn charge(
    ending: Ending,
    reported: Option<(i32, i32)>,
    text: &str,
    prompt: i32,
) -> Option<(i32, i32)> {
    if reported.is_some() {
        return reported;
    }
    let completion = i32::try_from(text.chars().count().div_ceil(4)).unwrap_or(i32::MAX);
    (!text.is_empty() || ending == Ending::Cancelled).then_some((prompt, completion))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_and_charges() {
        let prompt = [
            (Speaker::System, "rules".to_owned()),
            (Speaker::User, "héllo".to_owned()),
        ];
        // 5 bytes → 2, 6 bytes → 2, plus 4 a message.
        assert_eq!(prompt_estimate(&prompt), 12);
        assert_eq!(
            charge(Ending::Complete, Some((7, 3)), "abc", 12),
            Some((7, 3))
        );
        assert_eq!(charge(Ending::Cancelled, None, "", 12), Some((12, 0)));
        assert_eq!(charge(Ending::Cancelled, None, "abcde", 12), Some((12, 2)));
        assert_eq!(charge(Ending::Failed, None, "", 12), None);
        assert_eq!(charge(Ending::Timeout, None, "ab", 12), Some((12, 1)));
        let quotas = Quotas {
            per_user: 0,
            per_project: 0,
            max_tokens: 10,
        };
        let (user, project) = (UserId::new(), ProjectId::new());
        assert!(quotas.hold(user, project, Utc::now(), 12).is_none());
        let quotas = Quotas {
            per_user: 100,
            ..quotas
        };
        let hold = quotas.hold(user, project, Utc::now(), 12).unwrap();
        assert_eq!(
            (hold.tokens, hold.user_cap, hold.project_cap),
            (22, Some(100), None)
        );
    }

    #[test]
    fn midnight_is_ahead() {
        let late = "2026-11-22T23:59:30Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(until_midnight(late), 30);
    }
}
