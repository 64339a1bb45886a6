//! JSON-RPC 2.0 for MCP: the handshake (`initialize` with version negotiation), `ping`,
//! `tools/list`, `tools/call`. Notifications and client responses need no answer.

use crate::tools;
use mdz_core::ports::Principal;
use mdz_core::workspace::Workspace;
use serde_json::{Value, json};

/// Protocol versions this server speaks, newest first (the handshake era of MCP).
pub const VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// What an incoming message calls for.
pub enum Reply {
    /// A notification or a response: `202 Accepted`, no body.
    Nothing,
    /// A JSON-RPC response object.
    Message(Value),
}

pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The version to answer `initialize` with: the client's when this server speaks it, else
/// this server's newest (the client then decides whether it can go on).
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| VERSIONS.iter().find(|v| **v == r))
        .copied()
        .unwrap_or(VERSIONS[0])
}

pub async fn handle(workspace: &dyn Workspace, caller: &Principal, message: &Value) -> Reply {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        // A response to a server request (this server sends none) or junk without a method.
        return if message.get("id").is_some()
            && message.get("result").is_none()
            && message.get("error").is_none()
        {
            Reply::Message(error(
                &message["id"],
                INVALID_REQUEST,
                "a request needs a method",
            ))
        } else {
            Reply::Nothing
        };
    };
    let Some(id) = message.get("id").filter(|id| !id.is_null()) else {
        // notifications/initialized, notifications/cancelled, …
        return Reply::Nothing;
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let answer = match method {
        "initialize" => {
            let version = negotiate(params.get("protocolVersion").and_then(Value::as_str));
            result(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": {"name": "mdz", "title": "mdz Markdown workspace", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": instructions(caller)
                }),
            )
        }
        "ping" => result(id, json!({})),
        "tools/list" => result(id, tools::list(tools::Mode::of(caller))),
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return Reply::Message(error(id, INVALID_PARAMS, "`name` is required"));
            };
            let args = params
                .get("arguments")
                .cloned()
                .unwrap_or_else(|| json!({}));
            match tools::call(workspace, caller, name, &args).await {
                Ok(value) => result(
                    id,
                    json!({
                        "content": [{"type": "text", "text": value.to_string()}],
                        "structuredContent": value,
                        "isError": false
                    }),
                ),
                Err(e) => result(
                    id,
                    json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true}),
                ),
            }
        }
        _ => error(id, METHOD_NOT_FOUND, &format!("no method `{method}`")),
    };
    Reply::Message(answer)
}

fn instructions(caller: &Principal) -> &'static str {
    match tools::Mode::of(caller) {
        tools::Mode::Write => {
            "Tools over the user's mdz projects: list projects and documents, read, search, create, and update documents (pass the revision you read to update_file)."
        }
        tools::Mode::Suggest => {
            "Tools over the user's mdz projects: list projects and documents, read and search. This token only suggests edits: update_file and propose_edit create suggestions that a person accepts or rejects (the document is unchanged until then); create_file is refused."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::negotiate;

    #[test]
    fn versions_are_negotiated() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2099-01-01")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }
}
