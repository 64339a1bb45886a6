//! Public share links end to end: who may make them, what a reader gets (sanitised HTML with
//! a strict policy, the raw Markdown, ETags), passwords and their rate limit, expiry and
//! revocation, folder shares, and attachments served only when a shared document shows them.

use crate::attachments::{announce, upload};
use mdz_tests::{Options, ROLES, Team, TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(app: &TestApp, user: &TestUser, project: &str, body: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/projects/{project}/shares"),
        Some(&user.access),
        body,
    )
    .await
}

/// Share `body` as the owner; the token.
async fn share(app: &TestApp, team: &Team, body: Value) -> String {
    let (status, created) = create(app, &team.owner, &team.project, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

/// GET a share path with the given extra headers, as an anonymous reader.
async fn read(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = app.request(Method::GET, path, None);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_editors_and_above_make_list_and_delete_shares() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", "# Plan\n").await;
    for role in ROLES.into_iter().chain(["outsider"]) {
        let (status, body) = create(
            &app,
            team.member(role),
            &team.project,
            json!({"file_id": file}),
        )
        .await;
        let expected = match role {
            "owner" | "admin" | "editor" => StatusCode::CREATED,
            "outsider" => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{role}: {body}");
        if status == StatusCode::CREATED {
            let token = body["token"].as_str().unwrap();
            assert!(token.starts_with("mdz_sh_"), "{body}");
            assert!(
                body["url"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/s/{token}")),
                "{body}"
            );
            assert_eq!(body["share"]["file_id"], file.as_str());
            assert_eq!(body["share"]["has_password"], false);
        }
    }
    let list_path = format!("/api/v1/projects/{}/shares", team.project);
    assert_eq!(
        app.get(&list_path, Some(&team.viewer.access)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, list) = app.get(&list_path, Some(&team.editor.access)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|s| s.get("token").is_none()), "{list:?}");

    let id = list[0]["id"].as_str().unwrap();
    let path = format!("/api/v1/shares/{id}");
    assert_eq!(
        app.delete(&path, Some(&team.viewer.access)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&path, Some(&team.outsider.access)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path, Some(&team.editor.access)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&path, Some(&team.editor.access)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&list_path, Some(&team.owner.access))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_share_requests_are_refused_whole() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", "# Plan\n").await;
    let other = app.project_with(&team.owner, &[]).await;
    let elsewhere = app.create_file(&team.owner, &other, "x.md", "x").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (body, field) in [
        (json!({"file_id": file, "folder": "docs"}), "file_id"),
        (json!({}), "file_id"),
        (json!({"folder": "../up"}), "folder"),
        (
            json!({"file_id": file, "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (json!({"file_id": file, "password": "short"}), "password"),
        (json!({"file_id": elsewhere}), "file_id"),
    ] {
        let (status, problem) = create(&app, &team.owner, &team.project, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{body}: {problem}"
        );
    }
    let (_, list) = app
        .get(
            &format!("/api/v1/projects/{}/shares", team.project),
            Some(&team.owner.access),
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0);
}

const HOSTILE: &str = "# Title\n\n\
<script>alert('s')</script>\n\n\
<img src=\"x\" onerror=\"alert('i')\">\n\n\
[click](javascript:alert('j')) [again](JAVASCRIPT:alert('k'))\n\n\
<iframe src=\"https://evil.example/\"></iframe>\n\n\
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)\n\n\
![pixel](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=) ![remote](https://evil.example/p.png)\n\n\
<a href=\"#\" onclick=\"alert('c')\" style=\"position:fixed\">styled</a>\n\n\
Safe **bold** text.\n\n\
<svg><script>alert('v')</script></svg><math><mtext><style><img src=x onerror=alert('m')>\n";

#[tokio::test(flavor = "multi_thread")]
async fn hostile_markdown_never_reaches_the_page() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "evil.md", HOSTILE).await;
    let token = share(&app, &team, json!({"file_id": file})).await;

    let res = read(&app, &format!("/s/{token}"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    let csp = header(&res, "content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; img-src 'self'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&res, "x-robots-tag"), "noindex, nofollow");
    assert_eq!(header(&res, "referrer-policy"), "no-referrer");
    let html = res.text().await.unwrap();
    for bad in [
        "<script",
        "onerror",
        "onclick",
        "javascript",
        "JAVASCRIPT",
        "<iframe",
        "data:",
        "style=\"",
        "evil.example",
        "<svg",
        "<math",
    ] {
        assert!(!html.contains(bad), "{bad} reached the page: {html}");
    }
    assert!(html.contains("<h1>Title</h1>"), "{html}");
    assert!(html.contains("Safe <strong>bold</strong> text."), "{html}");
    assert!(html.contains("<title>Title</title>"), "{html}");
    assert!(html.contains("noindex"), "{html}");

    // The Markdown itself, inert.
    let res = read(&app, &format!("/s/{token}?raw=1"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "text/markdown; charset=utf-8");
    assert!(header(&res, "content-security-policy").contains("sandbox"));
    assert_eq!(res.text().await.unwrap(), HOSTILE);

    // A share that allows indexing says nothing against it.
    let open = share(
        &app,
        &team,
        json!({"file_id": file, "allow_indexing": true}),
    )
    .await;
    let res = read(&app, &format!("/s/{open}"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-robots-tag").is_none());
    assert!(!res.text().await.unwrap().contains("noindex"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_etag_follows_the_revision_and_answers_304() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", "first text\n").await;
    let token = share(&app, &team, json!({"file_id": file})).await;
    let path = format!("/s/{token}");

    let res = read(&app, &path, &[]).await;
    let etag = header(&res, "etag");
    assert!(etag.starts_with('"'), "{etag}");
    let res = read(&app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "etag"), etag);
    assert!(res.text().await.unwrap().is_empty());
    // The raw Markdown has its own tag.
    let raw = read(&app, &format!("{path}?raw=1"), &[]).await;
    assert_ne!(header(&raw, "etag"), etag);

    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{file}"),
            Some(&team.owner.access),
            Some(json!({"content": "second text\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let res = read(&app, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(header(&res, "etag"), etag);
    assert!(res.text().await.unwrap().contains("second text"));
}

/// Post the password form.
async fn unlock(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.request(Method::POST, &format!("/s/{token}"), None)
        .header("content-type", "application/x-www-form-urlencoded")
        // The test passwords are letters and spaces.
        .body(format!("password={}", password.replace(' ', "+")))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_unlocks_with_a_cookie_and_guesses_are_limited() {
    let app = TestApp::spawn_with(Options {
        config: vec![("login_max_failures", json!(3))],
        ..Options::default()
    })
    .await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "secret.md", "the secret plan\n").await;
    let token = share(
        &app,
        &team,
        json!({"file_id": file, "password": "open sesame"}),
    )
    .await;
    let path = format!("/s/{token}");

    let res = read(&app, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let form = res.text().await.unwrap();
    assert!(
        form.contains("type=\"password\"") && !form.contains("secret plan"),
        "{form}"
    );
    let res = read(&app, &format!("{path}?raw=1"), &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(!res.text().await.unwrap().contains("secret plan"));

    // A body that is not the form is a problem, not an attempt.
    for (content_type, body, status) in [
        (
            "application/json",
            r#"{"password":"open sesame"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/x-www-form-urlencoded",
            "pass=open",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let res = app
            .request(Method::POST, &path, None)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
    }

    let res = unlock(&app, &token, "wrong guess").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("Wrong password"));

    let res = unlock(&app, &token, "open sesame").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, "location"), path);
    let set = header(&res, "set-cookie");
    assert!(set.contains(&format!("; Path={path};")), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("Max-Age=3600"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    let res = read(&app, &path, &[("cookie", &cookie)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("the secret plan"));
    // A forged or foreign cookie opens nothing.
    let (name_value, tag) = cookie.rsplit_once('.').unwrap();
    let forged = format!("{name_value}.{}", tag.chars().rev().collect::<String>());
    assert_eq!(
        read(&app, &path, &[("cookie", &forged)]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let other = share(
        &app,
        &team,
        json!({"file_id": file, "password": "open sesame"}),
    )
    .await;
    assert_eq!(
        read(&app, &format!("/s/{other}"), &[("cookie", &cookie)])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Two more wrong guesses reach the limit of 3 for this share: then even the right
    // password is turned away.
    for _ in 0..2 {
        assert_eq!(
            unlock(&app, &token, "wrong guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = unlock(&app, &token, "open sesame").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&res, "retry-after").parse::<u64>().unwrap() >= 1);
    // The address is at its limit too, for any other share.
    assert_eq!(
        unlock(&app, &other, "open sesame").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_revoked_and_trashed_are_not_found() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let file = team.document(&app, "plan.md", "plan\n").await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, expiring) = create(
        &app,
        &team.owner,
        &team.project,
        json!({"file_id": file, "expires_at": tomorrow}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{expiring}");
    let expiring_token = expiring["token"].as_str().unwrap();
    let revoked = share(&app, &team, json!({"file_id": file})).await;
    let kept = share(&app, &team, json!({"folder": ""})).await;
    for token in [expiring_token, revoked.as_str(), kept.as_str()] {
        assert_eq!(
            read(&app, &format!("/s/{token}"), &[]).await.status(),
            StatusCode::OK
        );
    }

    app.sql(&format!(
        "UPDATE shares SET expires_at = now() - interval '1 second' WHERE id = '{}'",
        expiring["id"].as_str().unwrap()
    ))
    .await;
    let (_, list) = app
        .get(
            &format!("/api/v1/projects/{}/shares", team.project),
            Some(&team.owner.access),
        )
        .await;
    let revoked_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file_id"] == file.as_str() && s["expires_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(
            &format!("/api/v1/shares/{revoked_id}"),
            Some(&team.owner.access)
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    for token in [expiring_token, revoked.as_str()] {
        let res = read(&app, &format!("/s/{token}"), &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{token}");
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        assert!(!res.text().await.unwrap().contains("plan"));
    }
    assert_eq!(
        read(&app, "/s/mdz_sh_unknown", &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    // A trashed document leaves its share and the folder's index.
    let other = share(&app, &team, json!({"file_id": file})).await;
    assert_eq!(
        app.delete(&format!("/api/v1/files/{file}"), Some(&team.owner.access))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        read(&app, &format!("/s/{other}"), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&app, &format!("/s/{kept}/plan.md"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let index = read(&app, &format!("/s/{kept}"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!index.contains("plan.md"), "{index}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_share_lists_and_serves_only_its_documents() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    team.document(
        &app,
        "guide/intro.md",
        "# Intro\n\nSee [more](deeper/more%20notes.md).\n",
    )
    .await;
    team.document(
        &app,
        "guide/deeper/more notes.md",
        "# More <notes>\n\ndeep text\n",
    )
    .await;
    team.document(&app, "private.md", "# Private\n\nnot shared\n")
        .await;
    team.document(&app, "guidebook/x.md", "# Next door\n").await;
    let token = share(&app, &team, json!({"folder": "/guide/"})).await;

    let res = read(&app, &format!("/s/{token}"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag = header(&res, "etag");
    let index = res.text().await.unwrap();
    assert!(
        index.contains(&format!("href=\"/s/{token}/intro.md\"")),
        "{index}"
    );
    assert!(
        index.contains(&format!("href=\"/s/{token}/deeper/more%20notes.md\"")),
        "{index}"
    );
    assert!(index.contains("More &lt;notes&gt;"), "{index}");
    assert!(
        !index.contains("Private") && !index.contains("Next door"),
        "{index}"
    );
    assert_eq!(
        read(&app, &format!("/s/{token}"), &[("if-none-match", &etag)])
            .await
            .status(),
        StatusCode::NOT_MODIFIED
    );

    let res = read(&app, &format!("/s/{token}/deeper/more%20notes.md"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("deep text"));
    let intro = read(&app, &format!("/s/{token}/intro.md"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(intro.contains("href=\"deeper/more%20notes.md\""), "{intro}");
    let raw = read(&app, &format!("/s/{token}/intro.md?raw=1"), &[]).await;
    assert!(raw.text().await.unwrap().starts_with("# Intro"));
    for outside in [
        "private.md",
        "../private.md",
        "%2E%2E/private.md",
        "x.md",
        "../guidebook/x.md",
    ] {
        let res = read(&app, &format!("/s/{token}/{outside}"), &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{outside}");
    }
    // A new document shows up in the index: the old tag no longer matches.
    team.document(&app, "guide/later.md", "# Later\n").await;
    let res = read(&app, &format!("/s/{token}"), &[("if-none-match", &etag)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("later.md"));
}

/// Announce, upload and complete a PNG attachment; its id.
async fn attach(app: &TestApp, user: &TestUser, project: &str, bytes: &[u8]) -> String {
    let (status, announced) = announce(
        app,
        user,
        project,
        json!({"filename": "pic.png", "content_type": "image/png", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    assert!(upload(&announced, bytes.to_vec()).await.is_success());
    let id = announced["id"].as_str().unwrap().to_owned();
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn attachments_are_served_only_when_a_shared_document_shows_them() {
    let app = TestApp::spawn().await;
    let team = Team::new(&app).await;
    let shown_bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let shown = attach(&app, &team.owner, &team.project, &shown_bytes).await;
    let hidden = attach(&app, &team.owner, &team.project, b"not for you").await;
    let with = team
        .document(
            &app,
            "with.md",
            &format!("![pic](/api/v1/attachments/{shown})\n"),
        )
        .await;
    let without = team.document(&app, "without.md", "no pictures\n").await;
    let token = share(&app, &team, json!({"file_id": with})).await;
    let plain = share(&app, &team, json!({"file_id": without})).await;

    let page = read(&app, &format!("/s/{token}"), &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("src=\"/s/{token}/a/{shown}\"")),
        "{page}"
    );
    let res = read(&app, &format!("/s/{token}/a/{shown}"), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "image/png");
    assert!(header(&res, "content-disposition").starts_with("inline;"));
    assert!(header(&res, "content-security-policy").contains("sandbox"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), shown_bytes);

    for (t, id) in [(&token, &hidden), (&plain, &shown), (&plain, &hidden)] {
        let res = read(&app, &format!("/s/{t}/a/{id}"), &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{t} {id}");
    }
    // Another project's attachment is not served even when the document names it.
    let other = app.project_with(&team.owner, &[]).await;
    let foreign = attach(&app, &team.owner, &other, b"foreign").await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/files/{with}"),
            Some(&team.owner.access),
            Some(json!({"content": format!("![a](/api/v1/attachments/{shown}) ![b](/api/v1/attachments/{foreign})")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        read(&app, &format!("/s/{token}/a/{foreign}"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        read(&app, &format!("/s/{token}/a/{shown}"), &[])
            .await
            .status(),
        StatusCode::OK
    );
}
