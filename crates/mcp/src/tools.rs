//! The tools: their JSON schemas for `tools/list`, and each call through the workspace port.
//! A failure is a tool error (`isError: true` with a message), never an HTTP error.

use mdz_core::ids::{FileId, ProjectId};
use mdz_core::ports::Principal;
use mdz_core::workspace::{ProposedEdit, Workspace, WorkspaceError};
use serde_json::{Value, json};

/// How the caller's writes land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `create_file` and `update_file` write (as far as the user's role allows).
    Write,
    /// A `suggest`-scoped token: `update_file` becomes a suggestion covering the changed
    /// range, `create_file` is refused.
    Suggest,
}

impl Mode {
    pub fn of(caller: &Principal) -> Self {
        if caller.may_write() {
            Mode::Write
        } else {
            Mode::Suggest
        }
    }
}

const UPDATE_WRITES: &str = "Replace a document's content. Pass the revision you read so a concurrent edit is not overwritten (the call then fails and you should read again). Needs the editor role.";
const UPDATE_SUGGESTS: &str = "Propose a new content for a document: this token only suggests edits, so the changed part becomes a suggestion (its id is in the result) that a person accepts or rejects; the document is unchanged until then. Pass the revision you read (if the document changed since, the call fails and you should read again) and an explanation. Needs the editor role.";

/// `tools/list`.
pub fn list(mode: Mode) -> Value {
    let id = |what: &str| json!({"type": "string", "format": "uuid", "description": what});
    json!({"tools": [
        {
            "name": "list_projects",
            "description": "List the projects you can access, with your role in each.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        },
        {
            "name": "list_files",
            "description": "List the Markdown documents of a project (path, id, revision), optionally under a folder.",
            "inputSchema": {"type": "object", "properties": {
                "project_id": id("The project"),
                "prefix": {"type": "string", "description": "A folder such as notes/2026/"}
            }, "required": ["project_id"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        },
        {
            "name": "read_file",
            "description": "Read a document: its path, content and revision (pass the revision to update_file).",
            "inputSchema": {"type": "object", "properties": {"file_id": id("The document")},
                            "required": ["file_id"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        },
        {
            "name": "get_document_outline",
            "description": "A document's headings (# to ######, outside code blocks): level, text, line (from 1) and offset (Unicode characters from the start, as propose_edit counts), with the revision they were read at. At most 1000.",
            "inputSchema": {"type": "object", "properties": {"file_id": id("The document")},
                            "required": ["file_id"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        },
        {
            "name": "search",
            "description": "Full-text search in one project or all of yours. Supports \"exact phrase\", -exclude and or; the last word matches as a prefix.",
            "inputSchema": {"type": "object", "properties": {
                "query": {"type": "string"},
                "project_id": id("Limit to this project (optional)")
            }, "required": ["query"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        },
        {
            "name": "create_file",
            "description": if mode == Mode::Write {
                "Create a Markdown document at a path (e.g. notes/plan.md). Needs the editor role."
            } else {
                "Create a Markdown document at a path. Refused for this token: it only suggests edits of existing documents."
            },
            "inputSchema": {"type": "object", "properties": {
                "project_id": id("The project"),
                "path": {"type": "string"},
                "content": {"type": "string"}
            }, "required": ["project_id", "path", "content"], "additionalProperties": false}
        },
        {
            "name": "update_file",
            "description": if mode == Mode::Write { UPDATE_WRITES } else { UPDATE_SUGGESTS },
            "inputSchema": {"type": "object", "properties": {
                "file_id": id("The document"),
                "content": {"type": "string"},
                "revision": {"type": "integer", "description": "The revision read_file returned"},
                "explanation": {"type": "string", "description": "Why, for the people reviewing it when the change becomes a suggestion"}
            }, "required": ["file_id", "content"], "additionalProperties": false}
        },
        {
            "name": "propose_edit",
            "description": "Propose an edit of a document without making it: characters from..to (Unicode characters, from 0) of the text at the revision read_file returned become `proposed`. The document's editors see it as a suggestion and accept or reject it. Explain why. Needs the editor role.",
            "inputSchema": {"type": "object", "properties": {
                "file_id": id("The document"),
                "revision": {"type": "integer", "description": "The revision read_file returned"},
                "from": {"type": "integer", "minimum": 0, "description": "First character replaced"},
                "to": {"type": "integer", "minimum": 0, "description": "One past the last character replaced (= from to insert)"},
                "proposed": {"type": "string", "description": "The new text (empty to delete)"},
                "quote": {"type": "string", "description": "The text being replaced, as you read it (checked)"},
                "explanation": {"type": "string", "description": "Why, for the people reviewing it"}
            }, "required": ["file_id", "revision", "from", "to", "proposed", "explanation"], "additionalProperties": false}
        },
        {
            "name": "list_suggestions",
            "description": "List a document's suggested edits with their status (open, accepted, rejected, stale).",
            "inputSchema": {"type": "object", "properties": {
                "file_id": id("The document"),
                "status": {"type": "string", "enum": ["open", "accepted", "rejected", "stale"]}
            }, "required": ["file_id"], "additionalProperties": false},
            "annotations": {"readOnlyHint": true}
        }
    ]})
}

/// Why a call's arguments were refused.
fn bad(message: impl Into<String>) -> WorkspaceError {
    WorkspaceError::Invalid(message.into())
}

fn text_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, WorkspaceError> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("`{name}` (a string) is required")))
}

fn uuid_arg(args: &Value, name: &str) -> Result<uuid::Uuid, WorkspaceError> {
    text_arg(args, name)?
        .parse()
        .map_err(|_| bad(format!("`{name}` must be a UUID")))
}

fn int_arg(args: &Value, name: &str) -> Result<i64, WorkspaceError> {
    args.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| bad(format!("`{name}` (an integer) is required")))
}

fn offset_arg(args: &Value, name: &str) -> Result<usize, WorkspaceError> {
    usize::try_from(int_arg(args, name)?).map_err(|_| bad(format!("`{name}` must not be negative")))
}

fn optional_uuid(args: &Value, name: &str) -> Result<Option<uuid::Uuid>, WorkspaceError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => uuid_arg(args, name).map(Some),
    }
}

/// Run a tool; `Err` is a tool error.
pub async fn call(
    workspace: &dyn Workspace,
    caller: &Principal,
    name: &str,
    args: &Value,
) -> Result<Value, WorkspaceError> {
    let user = caller.user_id;
    let mode = Mode::of(caller);
    match name {
        "list_projects" => workspace.projects(user).await,
        "list_files" => {
            let project = ProjectId(uuid_arg(args, "project_id")?);
            let prefix = args.get("prefix").and_then(Value::as_str).unwrap_or("");
            workspace.files(user, project, prefix).await
        }
        "read_file" => {
            workspace
                .read_file(user, FileId(uuid_arg(args, "file_id")?))
                .await
        }
        "get_document_outline" => {
            let doc = workspace
                .read_file(user, FileId(uuid_arg(args, "file_id")?))
                .await?;
            let mut out = crate::outline::outline(doc["content"].as_str().unwrap_or_default());
            out["file_id"] = doc["id"].clone();
            out["revision"] = doc["revision"].clone();
            Ok(out)
        }
        "search" => {
            let project = optional_uuid(args, "project_id")?.map(ProjectId);
            workspace
                .search(user, project, text_arg(args, "query")?)
                .await
        }
        "create_file" if mode == Mode::Suggest => Err(WorkspaceError::Forbidden(
            "this token only suggests edits: it cannot create documents (a token with the \
             write scope can)"
                .to_owned(),
        )),
        "create_file" => {
            let project = ProjectId(uuid_arg(args, "project_id")?);
            let content = text_arg(args, "content")?.to_owned();
            workspace
                .create_file(user, project, text_arg(args, "path")?, content)
                .await
        }
        "update_file" => {
            let file = FileId(uuid_arg(args, "file_id")?);
            let revision = match args.get("revision") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| bad("`revision` must be an integer"))?,
                ),
            };
            let content = text_arg(args, "content")?.to_owned();
            if mode == Mode::Suggest {
                let explanation = args.get("explanation").and_then(Value::as_str);
                return workspace
                    .suggest_update(user, file, content, revision, explanation)
                    .await;
            }
            workspace.update_file(user, file, content, revision).await
        }
        "propose_edit" => {
            let file = FileId(uuid_arg(args, "file_id")?);
            let edit = ProposedEdit {
                from: offset_arg(args, "from")?,
                to: offset_arg(args, "to")?,
                revision: int_arg(args, "revision")?,
                proposed: text_arg(args, "proposed")?.to_owned(),
                quote: args.get("quote").and_then(Value::as_str).map(str::to_owned),
                explanation: text_arg(args, "explanation")?.to_owned(),
            };
            workspace.propose_edit(user, file, edit).await
        }
        "list_suggestions" => {
            let file = FileId(uuid_arg(args, "file_id")?);
            let status = args.get("status").and_then(Value::as_str);
            workspace.suggestions(user, file, status).await
        }
        other => Err(bad(format!("no tool named `{other}`"))),
    }
}
