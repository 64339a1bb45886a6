//! Mention mails: a person @mentioned in a comment gets a mail, batched. A round (every
//! [`ROUND_EVERY`] on each node) finds people whose oldest unmailed mention has waited
//! `MENTION_MAIL_DELAY_SECS` and whose last mention mail is `MENTION_MAIL_INTERVAL_SECS`
//! old, and queues one mail with all their mentions still unread (in projects they still
//! read). Mentions read in the app by then, and those of people who turned the mails off or
//! have no verified address, are passed over for good. The mail is queued in the transaction
//! that marks the mentions mailed, under a per-person row lock, so two nodes never mail one
//! mention twice and a crash mails it at most once.

use super::repo::{self, NotificationRow};
use crate::error::CollabError;
use chrono::{TimeDelta, Utc};
use mdz_core::access::ProjectAccess;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{NotificationId, ProjectId, UserId};
use mdz_core::mail::{Outbox, OutgoingMail, escape_html, html_page};
use mdz_core::ports::{UserDirectory, UserSummary};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How often each node looks for mentions to mail.
pub const ROUND_EVERY: Duration = Duration::from_secs(5);
/// People mailed per round and node (the rest in the next round).
const PEOPLE_PER_ROUND: i64 = 100;
/// Mentions taken into one mail (older ones first; the rest wait for the next).
const MENTIONS_PER_MAIL: i64 = 50;
/// Mentions written out in a mail; the others are counted ("and 3 more").
const MENTIONS_LISTED: usize = 10;

pub struct MentionMails {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    users: Arc<dyn UserDirectory>,
    outbox: Outbox,
    delay: TimeDelta,
    interval: TimeDelta,
}

/// What one mail says about one mention.
struct Line {
    actor: String,
    project: String,
    excerpt: String,
    link: String,
}

impl MentionMails {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        users: Arc<dyn UserDirectory>,
        outbox: Outbox,
        delay_secs: u64,
        interval_secs: u64,
    ) -> Self {
        let span = |secs: u64| {
            i64::try_from(secs)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .unwrap_or(TimeDelta::days(1))
        };
        Self {
            pool,
            access,
            users,
            outbox,
            delay: span(delay_secs),
            interval: span(interval_secs),
        }
    }

    /// One round: the number of mails queued.
    pub async fn round(&self) -> Result<usize, CollabError> {
        let now = Utc::now();
        let due = {
            let mut conn = db::conn(&self.pool).await?;
            repo::mention_mail_recipients(
                &mut conn,
                now - self.delay,
                now - self.interval,
                PEOPLE_PER_ROUND,
            )
            .await?
        };
        let mut queued = 0;
        for user in due {
            // One person's failure (their directory entry, their projects) leaves the others'
            // mails to go out; theirs is tried again next round.
            match self.mail_person(user).await {
                Ok(true) => queued += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(user_id = %user, error = %e, "mailing mentions failed"),
            }
        }
        Ok(queued)
    }

    /// Mail `user` their unmailed mentions, or pass them over; whether a mail was queued.
    async fn mail_person(&self, user: UserId) -> Result<bool, CollabError> {
        let notes = {
            let mut conn = db::conn(&self.pool).await?;
            repo::unmailed(&mut conn, user, MENTIONS_PER_MAIL).await?
        };
        let person = self
            .users
            .by_ids(&[user])
            .await
            .map_err(CollabError::Directory)?
            .into_iter()
            .next();
        let wanted = person
            .as_ref()
            .is_some_and(|p| p.mention_mails && p.email_verified);
        let readable: HashSet<ProjectId> = if wanted {
            self.access
                .readable_projects(user)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let lines = self.lines(&notes, &readable).await?;
        let ids: Vec<NotificationId> = notes.iter().map(|n| n.id).collect();
        let mut conn = db::conn(&self.pool).await?;
        diesel_async::AsyncConnection::transaction::<_, CollabError, _>(&mut *conn, async |conn| {
            let Some(last) = repo::lock_mention_mail_sent(conn, user).await? else {
                return Ok(false); // another node is on it
            };
            let now = Utc::now();
            if last > now - self.interval {
                return Ok(false); // mailed meanwhile by another node
            }
            let claimed = repo::mark_mailed(conn, &ids, now).await?;
            let unread: Vec<&Line> = claimed
                .iter()
                .filter(|(_, unread)| *unread)
                .filter_map(|(id, _)| lines.get(id))
                .collect();
            let Some(person) = person.as_ref().filter(|_| wanted && !unread.is_empty()) else {
                return Ok(false);
            };
            self.outbox
                .enqueue(conn, &self.mail(person, &unread))
                .await?;
            repo::set_mention_mail_sent(conn, user, now).await?;
            Ok(true)
        })
        .await
    }

    /// The line of each mention in a project the person still reads.
    async fn lines(
        &self,
        notes: &[NotificationRow],
        readable: &HashSet<ProjectId>,
    ) -> Result<HashMap<NotificationId, Line>, CollabError> {
        let shown: Vec<&NotificationRow> = notes
            .iter()
            .filter(|n| readable.contains(&n.project_id))
            .collect();
        let mut actors: Vec<UserId> = shown.iter().filter_map(|n| n.actor_id).collect();
        actors.sort_unstable();
        actors.dedup();
        let names: HashMap<UserId, String> = self
            .users
            .by_ids(&actors)
            .await
            .map_err(CollabError::Directory)?
            .into_iter()
            .map(|u| (u.id, u.display_name))
            .collect();
        let mut projects: HashMap<ProjectId, String> = HashMap::new();
        for id in readable
            .iter()
            .filter(|p| shown.iter().any(|n| n.project_id == **p))
        {
            if let Some(summary) = self.access.summary(*id).await? {
                projects.insert(*id, summary.name);
            }
        }
        Ok(shown
            .into_iter()
            .filter_map(|n| {
                let project = projects.get(&n.project_id)?.clone();
                let path = match n.file_id {
                    Some(file) => format!("/p/{}/f/{file}", n.project_id),
                    None => format!("/p/{}", n.project_id),
                };
                let actor = n
                    .actor_id
                    .and_then(|a| names.get(&a).cloned())
                    .unwrap_or_else(|| "Someone".to_owned());
                let line = Line {
                    actor,
                    project,
                    excerpt: n.excerpt.clone(),
                    link: self.outbox.link(&path),
                };
                Some((n.id, line))
            })
            .collect())
    }

    fn mail(&self, to: &UserSummary, lines: &[&Line]) -> OutgoingMail {
        let subject = match lines {
            [one] => format!("{} mentioned you in {}", one.actor, one.project),
            many => format!("{} new mentions on mdz", many.len()),
        };
        let settings = self.outbox.link("/settings");
        let inbox = self.outbox.link("/notifications");
        let mut text = String::new();
        let mut paragraphs = Vec::new();
        for line in lines.iter().take(MENTIONS_LISTED) {
            text.push_str(&format!(
                "{} mentioned you in {}:\n  \"{}\"\n  {}\n\n",
                line.actor, line.project, line.excerpt, line.link
            ));
            paragraphs.push(format!(
                "<strong>{}</strong> mentioned you in {}:<br>&ldquo;{}&rdquo;<br>\
                 <a href=\"{}\">Open the document</a>",
                escape_html(&line.actor),
                escape_html(&line.project),
                escape_html(&line.excerpt),
                escape_html(&line.link)
            ));
        }
        if lines.len() > MENTIONS_LISTED {
            let more = format!("And {} more.", lines.len() - MENTIONS_LISTED);
            text.push_str(&format!("{more}\n\n"));
            paragraphs.push(more);
        }
        let footer = format!(
            "You get this mail because mention mails are on for {}. Turn them off in your \
             settings: {settings}",
            to.email
        );
        text.push_str(&format!("All your notifications: {inbox}\n\n{footer}\n"));
        paragraphs.push(escape_html(&footer));
        OutgoingMail {
            kind: "mention",
            to: to.email.clone(),
            subject,
            text,
            html: html_page(&paragraphs, "All your notifications", &inbox),
        }
    }
}
