//! AI edits and completions of a document: the selection (or the whole document) and an
//! instruction go to a provider with the usual context (a session's instructions and pinned
//! documents, search passages); the answer streams and is stored as it grows, exactly like a
//! chat answer ([`crate::generation`]), and a completed edit becomes an open suggestion.
//! While it writes, the document's presence shows the AI. A completion is a short
//! continuation at a cursor (ghost text), streamed only. Live documents are reached through
//! the [`LiveEdits`] port (collab owns them).

pub mod endpoint;
pub mod interface;
mod keeper;
pub mod repo;
mod slots;

use crate::context::{self, Pinned};
use crate::error::ChatError;
use crate::generation::{Answering, Beside, Cancel, Generations, Listener, after_chars};
use crate::provider::{Prompt, Provider, Speaker};
use crate::quota::{self, Hold};
use crate::service::ChatService;
use chrono::Utc;
use interface::{AiEdit, AskCompletion, AskEdit, MAX_INSTRUCTION};
use keeper::{AiKeeper, Outcome};
use mdz_core::FieldError;
use mdz_core::access::Role;
use mdz_core::db;
use mdz_core::documents::{DocumentHead, Passage};
use mdz_core::ids::{AiEditId, ChatSessionId, FileId, UserId};
use mdz_core::ports::{AiPresence, ChatSessionInfo, EditRange, EditTarget, LiveEdits};
use repo::AiEditRow;
use slots::{Slot, Slots};
use std::sync::Arc;
use tracing::instrument;

/// What the model is told an edit is.
const EDIT_RULES: &str = "You edit a Markdown document. Rewrite the text between <selection> \
and </selection> as the instruction asks. Answer with the replacement text only: no \
commentary, no code fences, no tags.";
/// What the model is told a completion is.
const COMPLETE_RULES: &str = "You complete a Markdown document at the cursor, marked <cursor/>. \
Answer with the few words or the sentence that come next, only: no commentary, no tags.";
/// How long an ended completion stays readable (and resumable) after it was asked; then the
/// sweeper deletes it.
pub const COMPLETION_RETENTION: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// The error stored on an edit whose node stopped while generating it.
const INTERRUPTED: &str = "interrupted: the server generating this edit stopped";

/// Limits of AI edits.
#[derive(Debug, Clone, Copy)]
pub struct AiSettings {
    /// Bytes of the document either side of the selection or the cursor.
    pub context_bytes: usize,
    /// Most tokens of a completion.
    pub complete_max_tokens: u32,
    /// Edits and completions streaming at once on this node, per user and per document.
    pub max_live_per_user: usize,
    pub max_live_per_document: usize,
}

pub struct AiService {
    chat: Arc<ChatService>,
    live: Arc<dyn LiveEdits>,
    generations: Arc<Generations<AiEditId>>,
    slots: Arc<Slots>,
    settings: AiSettings,
}

/// What an ask started: the stored edit and a listener to its text.
pub struct Started {
    pub edit: AiEdit,
    pub listener: Listener,
}

/// Where to read an edit from.
pub enum Source {
    Live(Listener),
    Stored(Box<AiEdit>),
}

fn invalid(field: &str, message: impl Into<String>) -> ChatError {
    ChatError::Validation(vec![FieldError::new(field, message)])
}

pub fn to_edit(row: AiEditRow) -> AiEdit {
    AiEdit {
        id: row.id,
        file_id: row.file_id,
        kind: row.kind,
        instruction: row.instruction,
        quote: row.quote,
        content: row.content,
        status: row.status,
        requested_by: row.requested_by,
        provider: row.provider,
        model: row.model,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        suggestion_id: row.suggestion_id,
        created_at: row.created_at,
    }
}

/// The provider's name and the model, checked.
type Chosen = (String, Arc<dyn Provider>, String);

/// What an edit about to start needs: the ask's row, its prompt, its hold.
struct Ask {
    row: AiEditRow,
    messages: Vec<(Speaker, String)>,
    max_tokens: Option<u32>,
    /// Its place among the streams of the user and the document.
    slot: Slot,
}

impl AiService {
    pub fn new(chat: Arc<ChatService>, live: Arc<dyn LiveEdits>, settings: AiSettings) -> Self {
        Self {
            chat,
            live,
            generations: Arc::new(Generations::default()),
            slots: Arc::new(Slots::new(
                settings.max_live_per_user,
                settings.max_live_per_document,
            )),
            settings,
        }
    }

    /// The live document when `actor` may edit it: 404 for non-members, 403 below editor.
    async fn editable(&self, actor: UserId, file: FileId) -> Result<DocumentHead, ChatError> {
        let head = self
            .chat
            .documents
            .document(file)
            .await
            .map_err(|e| ChatError::Unavailable(e.to_string()))?
            .ok_or(ChatError::NotFound("document"))?;
        let role = self
            .chat
            .access
            .role(actor, head.project_id)
            .await?
            .ok_or(ChatError::NotFound("document"))?;
        if !role.at_least(Role::Editor) {
            return Err(ChatError::Access(
                mdz_core::access::AccessError::Forbidden {
                    needed: Role::Editor,
                },
            ));
        }
        Ok(head)
    }

    /// The named (or default) provider and the model.
    fn choose(&self, provider: Option<&str>, model: Option<&str>) -> Result<Chosen, ChatError> {
        let providers = &self.chat.providers;
        if providers.is_empty() {
            return Err(ChatError::NoProvider);
        }
        let name = match provider.map(str::trim).filter(|p| !p.is_empty()) {
            Some(name) => name.to_owned(),
            None => providers
                .infos()
                .next()
                .map(|i| i.name.clone())
                .unwrap_or_default(),
        };
        let Some(chosen) = providers.pick(Some(&name)) else {
            let names: Vec<String> = providers.infos().map(|i| i.name.clone()).collect();
            return Err(invalid("provider", format!("one of: {}", names.join(", "))));
        };
        let model = match model.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => {
                mdz_core::model_name::check("model", m)
                    .map_err(|e| ChatError::Validation(vec![e]))?;
                m.to_owned()
            }
            None => chosen.default_model().to_owned(),
        };
        Ok((name, chosen, model))
    }

    /// The session's instructions and pinned documents, and search passages.
    async fn context_of(
        &self,
        actor: UserId,
        head: &DocumentHead,
        session: Option<ChatSessionId>,
        search_for: Option<&str>,
    ) -> Result<(String, Vec<Pinned>, Vec<Passage>), ChatError> {
        let info = match session {
            Some(id) => {
                let (info, _) = self.chat.readable(actor, id).await?;
                if info.project_id != head.project_id {
                    return Err(invalid("session_id", "a session of the document's project"));
                }
                info
            }
            None => ChatSessionInfo {
                id: ChatSessionId::default(),
                project_id: head.project_id,
                created_by: actor,
                model: None,
                provider: None,
                instructions: String::new(),
                context_file_ids: Vec::new(),
                private: false,
            },
        };
        let (pinned, found) = self.chat.sources(&info, &[], search_for).await?;
        Ok((info.instructions, pinned, found))
    }

    /// Ask for an edit of a selection (or the whole document).
    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn edit(
        &self,
        actor: UserId,
        file: FileId,
        ask: AskEdit,
    ) -> Result<Started, ChatError> {
        let instruction = ask.instruction.trim().to_owned();
        if instruction.is_empty() || instruction.chars().count() > MAX_INSTRUCTION {
            return Err(invalid(
                "instruction",
                format!("1 to {MAX_INSTRUCTION} characters"),
            ));
        }
        mdz_core::text::check_field("instruction", &instruction)
            .map_err(|e| ChatError::Validation(vec![e]))?;
        let range = match (ask.range, ask.anchor) {
            (None, None) => EditRange::Whole,
            (Some(r), None) => EditRange::Offsets {
                from: r.from,
                to: r.to,
                revision: r.revision,
            },
            (None, Some(a)) => EditRange::Anchors {
                start: a.start,
                end: a.end,
            },
            (Some(_), Some(_)) => {
                return Err(invalid("range", "give `range` or `anchor`, not both"));
            }
        };
        let head = self.editable(actor, file).await?;
        let (name, provider, model) = self.choose(ask.provider.as_deref(), ask.model.as_deref())?;
        let slot = self.slots.take(actor, file)?;
        let search = (ask.use_search == Some(true)).then_some(instruction.as_str());
        let (rules, pinned, found) = self
            .context_of(actor, &head, ask.session_id, search)
            .await?;
        let target = self
            .live
            .target(file, range, self.settings.context_bytes)
            .await
            .map_err(ChatError::Live)?;
        let message = format!(
            "Document: {}\n\n{}<selection>{}</selection>{}\n\nInstruction: {instruction}",
            head.path, target.before, target.quote, target.after
        );
        let system = format!("{EDIT_RULES}\n\n{}", rules.trim());
        let (messages, _) = context::assemble(
            &system,
            &pinned,
            &found,
            &[],
            &message,
            self.chat.settings.budget_chars,
        );
        let row = new_row(
            (actor, &head, file),
            "edit",
            &instruction,
            Some(&target),
            (&name, &model),
        );
        let ask = Ask {
            row,
            messages,
            max_tokens: None,
            slot,
        };
        self.start(ask, provider, Some(target)).await
    }

    /// Ask for a short continuation at a cursor (ghost text): streamed, no suggestion.
    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn complete(
        &self,
        actor: UserId,
        file: FileId,
        ask: AskCompletion,
    ) -> Result<Started, ChatError> {
        let head = self.editable(actor, file).await?;
        let (name, provider, model) = self.choose(ask.provider.as_deref(), ask.model.as_deref())?;
        let slot = self.slots.take(actor, file)?;
        let (before, after) = self
            .live
            .around(file, ask.position, self.settings.context_bytes)
            .await
            .map_err(ChatError::Live)?;
        let message = format!("Document: {}\n\n{before}<cursor/>{after}", head.path);
        let messages = vec![
            (Speaker::System, COMPLETE_RULES.to_owned()),
            (Speaker::User, message),
        ];
        let row = new_row((actor, &head, file), "complete", "", None, (&name, &model));
        let ask = Ask {
            row,
            messages,
            max_tokens: Some(self.settings.complete_max_tokens),
            slot,
        };
        self.start(ask, provider, None).await
    }

    /// Store the ask (holding its quota), show the AI in presence for an edit, and start.
    async fn start(
        &self,
        mut ask: Ask,
        provider: Arc<dyn Provider>,
        target: Option<EditTarget>,
    ) -> Result<Started, ChatError> {
        let estimate = quota::prompt_estimate(&ask.messages);
        let quotas = match ask.max_tokens {
            Some(cap) => self.chat.settings.quotas.capped(cap),
            None => self.chat.settings.quotas,
        };
        let actor = ask.row.requested_by.unwrap_or_default();
        let hold = quotas.hold(actor, ask.row.project_id, ask.row.created_at, estimate);
        ask.row.reserved_tokens = hold.map(|h| h.reserved());
        let stored = self.store(&ask.row, hold.as_ref()).await?;
        let presence = target.as_ref().map(|t| AiPresence {
            file: stored.file_id,
            client: presence_client(),
            requested_by: actor,
            range: Some((t.start.clone(), t.end.clone())),
        });
        let keeper = AiKeeper {
            pool: self.chat.pool.clone(),
            live: self.live.clone(),
            id: stored.id,
            hold,
            outcome: target.map(|target| Outcome {
                requested_by: actor,
                file: stored.file_id,
                target,
                instruction: stored.instruction.clone(),
                provider: stored.provider.clone(),
                model: stored.model.clone(),
            }),
            presence: std::sync::Mutex::new(presence.as_ref().map(|p| (p.file, p.client))),
            slot: std::sync::Mutex::new(Some(ask.slot)),
        };
        // Nothing is awaited from storing the ask to starting its task: a client that drops
        // meanwhile cannot leave the edit holding its quota until the sweeper ends it.
        if let Some(p) = presence {
            self.live.show_ai(p);
        }
        let listener = self.generations.start(
            Answering {
                id: stored.id,
                prompt_tokens: estimate,
                keeper: Box::new(keeper),
            },
            provider,
            Prompt {
                model: stored.model.clone(),
                messages: ask.messages,
                max_tokens: ask.max_tokens,
            },
            self.chat.metrics.clone(),
            Beside::new(Box::pin(async {})),
        );
        Ok(Started {
            edit: to_edit(stored),
            listener,
        })
    }

    async fn store(&self, row: &AiEditRow, hold: Option<&Hold>) -> Result<AiEditRow, ChatError> {
        let mut conn = db::conn(&self.chat.pool).await?;
        match repo::insert(&mut conn, row, hold).await {
            Ok(stored) => Ok(stored),
            Err(e) => Err(self.chat.refusal(&mut conn, e, hold).await),
        }
    }

    /// An edit of `file` that `actor` may read (404 otherwise), with their role.
    async fn visible(
        &self,
        actor: UserId,
        file: FileId,
        id: AiEditId,
    ) -> Result<(AiEditRow, Role), ChatError> {
        let row = {
            let mut conn = db::conn(&self.chat.pool).await?;
            repo::get(&mut conn, id).await?
        }
        .filter(|r| r.file_id == file)
        .ok_or(ChatError::NotFound("AI edit"))?;
        let role = self
            .chat
            .access
            .role(actor, row.project_id)
            .await?
            .ok_or(ChatError::NotFound("AI edit"))?;
        Ok((row, role))
    }

    /// The stored edit.
    pub async fn get(
        &self,
        actor: UserId,
        file: FileId,
        id: AiEditId,
    ) -> Result<AiEdit, ChatError> {
        Ok(to_edit(self.visible(actor, file, id).await?.0))
    }

    /// An edit from `offset` characters: live when it is still being written here.
    pub async fn resume(
        &self,
        actor: UserId,
        file: FileId,
        id: AiEditId,
        offset: usize,
    ) -> Result<Source, ChatError> {
        let (row, _) = self.visible(actor, file, id).await?;
        if let Some(listener) = self.generations.listen(id, offset) {
            return Ok(Source::Live(listener));
        }
        let mut edit = to_edit(row);
        edit.content = after_chars(&edit.content, offset);
        Ok(Source::Stored(Box::new(edit)))
    }

    /// Stop an edit being written (editors and above); what it wrote stays, `cancelled`, and
    /// becomes no suggestion.
    pub async fn cancel(&self, actor: UserId, file: FileId, id: AiEditId) -> Result<(), ChatError> {
        let (row, role) = self.visible(actor, file, id).await?;
        if !role.at_least(Role::Editor) {
            return Err(ChatError::Access(
                mdz_core::access::AccessError::Forbidden {
                    needed: Role::Editor,
                },
            ));
        }
        if row.status != "streaming" {
            return Err(ChatError::Conflict(format!(
                "this edit is not being generated (status `{}`)",
                row.status
            )));
        }
        match self.generations.cancel(id) {
            Cancel::Done => return Ok(()),
            Cancel::TooLate => {
                return Err(ChatError::Conflict(
                    "this edit has just ended: it is no longer being generated".into(),
                ));
            }
            Cancel::NotHere => {}
        }
        let mut conn = db::conn(&self.chat.pool).await?;
        let before = self.chat.orphaned_before();
        if repo::end_stale(
            &mut conn,
            before,
            Some(id),
            ("cancelled", "cancelled"),
            None,
        )
        .await?
            > 0
        {
            return Ok(());
        }
        Err(ChatError::Conflict(
            "this edit is being generated by another node; retry there or wait".into(),
        ))
    }

    /// Delete the ended completions older than [`COMPLETION_RETENTION`]. How many.
    pub async fn purge_completions(&self) -> Result<usize, ChatError> {
        let mut conn = db::conn(&self.chat.pool).await?;
        Ok(repo::purge_completions(&mut conn, Utc::now() - COMPLETION_RETENTION).await?)
    }

    /// End the edits a stopped node left `streaming`. How many.
    pub async fn end_orphans(&self) -> Result<usize, ChatError> {
        let mut conn = db::conn(&self.chat.pool).await?;
        let before = self.chat.orphaned_before();
        Ok(repo::end_stale(
            &mut conn,
            before,
            None,
            ("incomplete", "failed"),
            Some(INTERRUPTED),
        )
        .await?)
    }
}

/// A fresh awareness client id for the AI's presence entry (a Yjs client id is 53 bits; 32
/// are plenty).
fn presence_client() -> u32 {
    // The last bytes of a v7 id are random.
    let id = uuid::Uuid::now_v7();
    let b = id.as_bytes();
    u32::from_le_bytes([b[12], b[13], b[14], b[15]]).max(1)
}

/// A new edit's row, `streaming`.
fn new_row(
    (actor, head, file): (UserId, &DocumentHead, FileId),
    kind: &str,
    instruction: &str,
    target: Option<&EditTarget>,
    (provider, model): (&str, &str),
) -> AiEditRow {
    AiEditRow {
        id: AiEditId::new(),
        project_id: head.project_id,
        file_id: file,
        requested_by: Some(actor),
        kind: kind.to_owned(),
        instruction: instruction.to_owned(),
        quote: target.map(|t| t.quote.clone()),
        content: String::new(),
        status: "streaming".into(),
        provider: provider.to_owned(),
        model: model.to_owned(),
        prompt_tokens: None,
        completion_tokens: None,
        reserved_tokens: None,
        suggestion_id: None,
        created_at: Utc::now(),
    }
}
