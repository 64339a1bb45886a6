//! The MCP server driven by the official `mcp` Python SDK over streamable HTTP with personal
//! access tokens: handshake, tools, every tool, a stale revision refused, a viewer refused a
//! write — all as MCP tool errors, never HTTP errors — and the raw transport's edges.

use mdz_tests::{JsClient, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;

async fn pat(app: &TestApp, user: &TestUser) -> String {
    let (status, created) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&user.access),
            json!({"name": "MCP client"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_uses_every_tool_within_its_role() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let viewer = app.new_user().await;
    let project = app
        .project_with(&owner, &[(&editor, "editor"), (&viewer, "viewer")])
        .await;
    let (editor_pat, viewer_pat) = (pat(&app, &editor).await, pat(&app, &viewer).await);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp-py");
    let out = tokio::process::Command::new(dir.join(".venv/bin/python"))
        .arg(dir.join("client.py"))
        .args([&app.url("/mcp"), &editor_pat, &viewer_pat, &project])
        .output()
        .await
        .expect("run the MCP Python client (installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(r["protocol"], "2025-11-25");
    assert_eq!(r["server"], "mdz");
    assert_eq!(
        r["tools"],
        json!([
            "create_file",
            "get_document_outline",
            "list_files",
            "list_projects",
            "list_suggestions",
            "propose_edit",
            "read_file",
            "search",
            "update_file"
        ])
    );
    assert_eq!(r["projects"]["is_error"], false);
    assert_eq!(r["projects"]["data"]["projects"][0]["id"], project.as_str());
    assert_eq!(r["projects"]["data"]["projects"][0]["role"], "editor");
    assert_eq!(r["create"]["is_error"], false, "{}", r["create"]);
    assert_eq!(r["list"]["data"]["files"][0]["path"], "mcp/hello.md");
    assert_eq!(
        r["read"]["data"]["content"],
        "# Hello\nfrom the zebra assistant\n"
    );
    assert_eq!(r["search"]["data"]["results"][0]["path"], "mcp/hello.md");
    assert_eq!(r["update"]["is_error"], false);
    assert_eq!(
        r["update"]["data"]["revision"],
        r["read"]["data"]["revision"].as_i64().unwrap() + 1
    );
    assert_eq!(
        r["stale_update"]["is_error"], true,
        "a stale revision is refused"
    );
    assert!(
        r["stale_update"]["data"]
            .as_str()
            .unwrap()
            .starts_with("conflict")
    );
    assert_eq!(r["bad_args"]["is_error"], true);
    assert_eq!(r["viewer_read"]["is_error"], false);
    assert_eq!(
        r["viewer_create"]["is_error"], true,
        "a viewer may not write"
    );
    assert!(
        r["viewer_create"]["data"]
            .as_str()
            .unwrap()
            .starts_with("not allowed")
    );
    assert_eq!(r["viewer_update"]["is_error"], true);

    // The REST API sees what the assistant wrote.
    let file = r["file_id"].as_str().unwrap();
    let (_, doc) = app
        .get(&format!("/api/v1/files/{file}"), Some(&owner.access))
        .await;
    assert_eq!(doc["content"], "# Hello\nupdated\n");

    // What it proposed is a suggestion, not an edit, until a person accepts it.
    let proposed = &r["propose"]["data"];
    assert_eq!(r["propose"]["is_error"], false, "{}", r["propose"]);
    assert_eq!(proposed["status"], "open");
    assert_eq!(proposed["quote"], "updated");
    assert_eq!(proposed["explanation"], "A better word.");
    assert_eq!(proposed["provider"], "mcp");
    assert_eq!(r["bad_propose"]["is_error"], true);
    assert_eq!(
        r["suggestions"]["data"]["suggestions"][0]["id"], proposed["id"],
        "{}",
        r["suggestions"]
    );
    assert_eq!(r["viewer_suggestions"]["is_error"], false);
    assert_eq!(r["viewer_propose"]["is_error"], true);
    assert!(
        r["viewer_propose"]["data"]
            .as_str()
            .unwrap()
            .starts_with("not allowed")
    );
    let mut live = JsClient::connect(&app.ws_base(), file, &viewer.access).await;
    live.synced().await;
    assert_eq!(live.text().await, "# Hello\nupdated\n");
    let (status, accepted) = app
        .post(
            &format!(
                "/api/v1/suggestions/{}/accept",
                proposed["id"].as_str().unwrap()
            ),
            Some(&owner.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let seen = live
        .call(json!({"cmd": "wait_text", "equals": "# Hello\nrevised\n", "timeout_ms": 10_000}))
        .await;
    assert_eq!(seen["ok"], true, "{seen}");
    live.stop().await;
    // Saved as the owner's version, marked AI-assisted.
    let marked = crate::collab::eventually(|| async {
        let (_, versions) = app
            .get(
                &format!("/api/v1/files/{file}/versions"),
                Some(&owner.access),
            )
            .await;
        versions["items"][0]["ai_assisted"] == true
            && versions["items"][0]["author"] == owner.id.as_str()
    })
    .await;
    assert!(marked, "the accepted AI edit is an AI-assisted version");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_transport_answers_edges_by_the_spec() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let token = pat(&app, &user).await;
    let post = |body: String, token: Option<String>| {
        let app = &app;
        async move {
            let mut rb = app
                .client
                .post(app.url("/mcp"))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body);
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            rb.send().await.unwrap()
        }
    };
    let res = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string(),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post("{not json".into(), Some(token.clone())).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], -32700);
    let res = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        Some(token.clone()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = post(
        json!({"jsonrpc": "2.0", "id": 7, "method": "server/discover"}).to_string(),
        Some(token.clone()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["code"], -32601);
    let res = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).to_string(),
        Some(token.clone()),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        body["result"]["capabilities"]["tools"]["listChanged"],
        false
    );
    let res = post(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}).to_string(),
        Some(token.clone()),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["result"]["isError"], true,
        "an unknown tool is a tool error"
    );
    let res = app
        .client
        .get(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
}

/// One `tools/call` over the raw transport; returns the JSON-RPC `result`.
async fn call_tool(app: &TestApp, token: &str, name: &str, args: Value) -> Value {
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": name, "arguments": args}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["result"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suggest_only_token_turns_update_file_into_a_suggestion() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let editor = app.new_user().await;
    let project = app.project_with(&owner, &[(&editor, "editor")]).await;
    let file = app
        .create_file(&owner, &project, "plan.md", "# Plan\nfirst draft\nend\n")
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A token made for MCP only suggests unless asked otherwise.
    let (status, created) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&editor.access),
            json!({"name": "Claude", "purpose": "mcp"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scope"], "suggest");
    let token = created["token"].as_str().unwrap().to_owned();

    let read = call_tool(&app, &token, "read_file", json!({"file_id": file})).await;
    // Reading tools work as ever; the outline finds the heading.
    let outline = call_tool(
        &app,
        &token,
        "get_document_outline",
        json!({"file_id": file}),
    )
    .await;
    assert_eq!(outline["isError"], false, "{outline}");
    assert_eq!(
        outline["structuredContent"]["headings"],
        json!([{"level": 1, "text": "Plan", "line": 1, "offset": 0}])
    );
    assert_eq!(
        outline["structuredContent"]["revision"],
        read["structuredContent"]["revision"]
    );
    let revision = read["structuredContent"]["revision"].as_i64().unwrap();
    let result = call_tool(
        &app,
        &token,
        "update_file",
        json!({"file_id": file, "revision": revision,
               "content": "# Plan\nsecond draft\nend\n", "explanation": "Moves on."}),
    )
    .await;
    assert_eq!(result["isError"], false, "{result}");
    let out = &result["structuredContent"];
    assert_eq!(out["written"], false);
    assert_eq!(out["suggested"], true);
    let id = out["suggestion_id"].as_str().unwrap().to_owned();
    assert_eq!(out["suggestion"]["status"], "open");
    assert_eq!(out["suggestion"]["quote"], "first");
    assert_eq!(out["suggestion"]["proposed"], "second");
    assert_eq!(out["suggestion"]["explanation"], "Moves on.");
    assert_eq!(out["suggestion"]["provider"], "mcp");

    // The document is unchanged; the suggestion is open for people to see.
    let (_, doc) = app
        .get(&format!("/api/v1/files/{file}"), Some(&owner.access))
        .await;
    assert_eq!(doc["content"], "# Plan\nfirst draft\nend\n");
    assert_eq!(doc["revision"], revision);
    let (_, open) = app
        .get(
            &format!("/api/v1/files/{file}/suggestions?status=open"),
            Some(&owner.access),
        )
        .await;
    assert_eq!(open["items"][0]["id"], id.as_str(), "{open}");

    // A stale revision and creating documents are refused, as tool errors.
    let stale = call_tool(
        &app,
        &token,
        "update_file",
        json!({"file_id": file, "revision": revision + 5, "content": "lost"}),
    )
    .await;
    assert_eq!(stale["isError"], true);
    assert!(
        stale["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("conflict")
    );
    let create = call_tool(
        &app,
        &token,
        "create_file",
        json!({"project_id": project, "path": "new.md", "content": "x"}),
    )
    .await;
    assert_eq!(create["isError"], true);
    assert!(
        create["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("not allowed")
    );

    // A person accepts it: now the document changes.
    let (status, accepted) = app
        .post(
            &format!("/api/v1/suggestions/{id}/accept"),
            Some(&owner.access),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let saved = crate::collab::eventually(|| async {
        let (_, doc) = app
            .get(&format!("/api/v1/files/{file}"), Some(&owner.access))
            .await;
        doc["content"] == "# Plan\nsecond draft\nend\n"
    })
    .await;
    assert!(saved, "the accepted suggestion is saved to the file");

    // A token made for MCP with the write scope writes directly.
    let (status, created) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&editor.access),
            json!({"name": "trusted", "purpose": "mcp", "scope": "write"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let full = created["token"].as_str().unwrap();
    let written = call_tool(
        &app,
        full,
        "update_file",
        json!({"file_id": file, "content": "direct\n"}),
    )
    .await;
    assert_eq!(written["isError"], false, "{written}");
    let (_, doc) = app
        .get(&format!("/api/v1/files/{file}"), Some(&owner.access))
        .await;
    assert_eq!(doc["content"], "direct\n");
}
