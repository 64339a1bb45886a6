//! Projects: lifecycle, the role × action matrix, tenant isolation, invitations, concurrency,
//! the last-owner rule, bad input, soft delete, restore and purge.

use mdz_tests::{Options, TestApp, TestUser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

const ROLES: [&str; 5] = ["owner", "admin", "editor", "commenter", "viewer"];

async fn create_project(app: &TestApp, owner: &TestUser, name: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": name}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn add(app: &TestApp, project: &str, by: &TestUser, who: &TestUser, role: &str) {
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{project}/members"),
            Some(&by.access),
            json!({"email": who.email, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "add {role}: {body}");
}

/// A project with one member of every role, and an outsider.
struct Team {
    project: String,
    members: HashMap<&'static str, TestUser>,
    outsider: TestUser,
}

async fn team(app: &TestApp) -> Team {
    let owner = app.new_user().await;
    let project = create_project(app, &owner, "Team").await;
    let mut members = HashMap::from([("owner", owner)]);
    for role in &ROLES[1..] {
        let user = app.new_user().await;
        add(app, &project, &members["owner"], &user, role).await;
        members.insert(role, user);
    }
    Team {
        project,
        members,
        outsider: app.new_user().await,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_rename_list_by_activity_and_paginate() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let (status, body) = app
        .post(
            "/api/v1/projects",
            Some(&owner.access),
            json!({"name": "  Handbook ", "description": "How we work"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Handbook");
    assert_eq!(body["role"], "owner");
    assert_eq!(body["created_by"], owner.id.as_str());
    let first = body["id"].as_str().unwrap().to_owned();
    let second = create_project(&app, &owner, "Second").await;
    let third = create_project(&app, &owner, "Third").await;

    // Activity on the first moves it to the top.
    let (status, body) = app
        .patch(
            &format!("/api/v1/projects/{first}"),
            Some(&owner.access),
            json!({"name": "Handbook v2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Handbook v2");
    assert_eq!(body["description"], "How we work");

    let (_, page1) = app
        .get("/api/v1/projects?limit=2", Some(&owner.access))
        .await;
    let ids: Vec<&str> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), third.as_str()]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(
            &format!("/api/v1/projects?limit=2&cursor={cursor}"),
            Some(&owner.access),
        )
        .await;
    let ids: Vec<&str> = page2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
    assert!(page2["next_cursor"].is_null());

    let (status, got) = app
        .get(&format!("/api/v1/projects/{second}"), Some(&owner.access))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Second");
}

/// Runs `op` once per caller on a fresh team and asserts each status.
async fn matrix<F, Fut>(app: &TestApp, expected: [u16; 6], op: F)
where
    F: Fn(Team, &'static str) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let callers = ["owner", "admin", "editor", "commenter", "viewer", "none"];
    for (caller, want) in callers.into_iter().zip(expected) {
        let t = team(app).await;
        let (status, body) = op(t, caller).await;
        assert_eq!(status.as_u16(), want, "{caller}: {body}");
        if want >= 400 {
            assert_eq!(body["status"], want, "problem+json for {caller}: {body}");
        }
    }
}

fn who<'a>(t: &'a Team, caller: &str) -> &'a TestUser {
    if caller == "none" {
        &t.outsider
    } else {
        &t.members[caller]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn role_matrix_for_every_endpoint() {
    let app = &TestApp::spawn().await;
    let base = |t: &Team| format!("/api/v1/projects/{}", t.project);

    matrix(app, [200, 200, 200, 200, 200, 404], |t, c| async move {
        app.get(&base(&t), Some(&who(&t, c).access)).await
    })
    .await;
    matrix(app, [200, 200, 403, 403, 403, 404], |t, c| async move {
        app.patch(
            &base(&t),
            Some(&who(&t, c).access),
            json!({"description": "x"}),
        )
        .await
    })
    .await;
    matrix(app, [200, 200, 200, 200, 200, 404], |t, c| async move {
        app.get(&format!("{}/members", base(&t)), Some(&who(&t, c).access))
            .await
    })
    .await;
    matrix(app, [201, 201, 403, 403, 403, 404], |t, c| async move {
        let fresh = app.new_user().await;
        app.post(
            &format!("{}/members", base(&t)),
            Some(&who(&t, c).access),
            json!({"email": fresh.email, "role": "viewer"}),
        )
        .await
    })
    .await;
    // Change the viewer's role to commenter (the viewer changing themself up is refused too).
    matrix(app, [200, 200, 403, 403, 403, 404], |t, c| async move {
        let target = &t.members["viewer"].id;
        app.patch(
            &format!("{}/members/{target}", base(&t)),
            Some(&who(&t, c).access),
            json!({"role": "commenter"}),
        )
        .await
    })
    .await;
    // Remove the commenter (the commenter removing themself is allowed: leaving).
    matrix(app, [204, 204, 403, 204, 403, 404], |t, c| async move {
        let target = &t.members["commenter"].id;
        app.delete(
            &format!("{}/members/{target}", base(&t)),
            Some(&who(&t, c).access),
        )
        .await
    })
    .await;
    matrix(app, [201, 201, 403, 403, 403, 404], |t, c| async move {
        app.post(
            &format!("{}/invitations", base(&t)),
            Some(&who(&t, c).access),
            json!({"role": "viewer"}),
        )
        .await
    })
    .await;
    matrix(app, [200, 200, 403, 403, 403, 404], |t, c| async move {
        app.get(
            &format!("{}/invitations", base(&t)),
            Some(&who(&t, c).access),
        )
        .await
    })
    .await;
    matrix(app, [204, 204, 403, 403, 403, 404], |t, c| async move {
        let (_, inv) = app
            .post(
                &format!("{}/invitations", base(&t)),
                Some(&t.members["owner"].access),
                json!({"role": "viewer"}),
            )
            .await;
        let id = inv["id"].as_str().unwrap().to_owned();
        app.delete(
            &format!("{}/invitations/{id}", base(&t)),
            Some(&who(&t, c).access),
        )
        .await
    })
    .await;
    matrix(app, [200, 403, 403, 403, 403, 404], |t, c| async move {
        let to = &t.members["editor"].id;
        app.post(
            &format!("{}/transfer", base(&t)),
            Some(&who(&t, c).access),
            json!({"user_id": to}),
        )
        .await
    })
    .await;
    matrix(app, [204, 403, 403, 403, 403, 404], |t, c| async move {
        app.delete(&base(&t), Some(&who(&t, c).access)).await
    })
    .await;
    matrix(app, [200, 403, 403, 403, 403, 404], |t, c| async move {
        let (status, _) = app
            .delete(&base(&t), Some(&t.members["owner"].access))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        app.call(
            reqwest::Method::POST,
            &format!("{}/restore", base(&t)),
            Some(&who(&t, c).access),
            None,
        )
        .await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_names_the_needed_role() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let (status, body) = app
        .patch(
            &format!("/api/v1/projects/{}", t.project),
            Some(&t.members["editor"].access),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["detail"].as_str().unwrap().contains("admin"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_cannot_touch_equals_or_make_admins() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let admin = &t.members["admin"];
    let other_admin = app.new_user().await;
    add(&app, &t.project, &t.members["owner"], &other_admin, "admin").await;
    let members = format!("/api/v1/projects/{}/members", t.project);
    let cases = [
        app.patch(
            &format!("{members}/{}", other_admin.id),
            Some(&admin.access),
            json!({"role": "viewer"}),
        )
        .await,
        app.delete(
            &format!("{members}/{}", other_admin.id),
            Some(&admin.access),
        )
        .await,
        app.patch(
            &format!("{members}/{}", t.members["owner"].id),
            Some(&admin.access),
            json!({"role": "viewer"}),
        )
        .await,
        app.patch(
            &format!("{members}/{}", t.members["editor"].id),
            Some(&admin.access),
            json!({"role": "admin"}),
        )
        .await,
        app.post(
            &members,
            Some(&admin.access),
            json!({"email": t.outsider.email, "role": "admin"}),
        )
        .await,
        app.post(
            &format!("/api/v1/projects/{}/invitations", t.project),
            Some(&admin.access),
            json!({"role": "admin"}),
        )
        .await,
    ];
    for (status, body) in cases {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_isolation_by_id_guessing_or_otherwise() {
    let app = TestApp::spawn().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let secret = create_project(&app, &alice, "Alice's secret").await;
    let (_, inv) = app
        .post(
            &format!("/api/v1/projects/{secret}/invitations"),
            Some(&alice.access),
            json!({"role": "viewer"}),
        )
        .await;
    let inv_id = inv["id"].as_str().unwrap();
    let base = format!("/api/v1/projects/{secret}");
    let (_, list) = app.get("/api/v1/projects", Some(&bob.access)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let attempts = [
        app.get(&base, Some(&bob.access)).await,
        app.patch(&base, Some(&bob.access), json!({"name": "mine"}))
            .await,
        app.delete(&base, Some(&bob.access)).await,
        app.get(&format!("{base}/members"), Some(&bob.access)).await,
        app.post(
            &format!("{base}/members"),
            Some(&bob.access),
            json!({"email": bob.email, "role": "owner"}),
        )
        .await,
        app.patch(
            &format!("{base}/members/{}", alice.id),
            Some(&bob.access),
            json!({"role": "viewer"}),
        )
        .await,
        app.delete(&format!("{base}/members/{}", alice.id), Some(&bob.access))
            .await,
        app.post(
            &format!("{base}/transfer"),
            Some(&bob.access),
            json!({"user_id": bob.id}),
        )
        .await,
        app.get(&format!("{base}/invitations"), Some(&bob.access))
            .await,
        app.post(
            &format!("{base}/invitations"),
            Some(&bob.access),
            json!({"role": "viewer"}),
        )
        .await,
        app.delete(&format!("{base}/invitations/{inv_id}"), Some(&bob.access))
            .await,
        app.call(
            reqwest::Method::POST,
            &format!("{base}/restore"),
            Some(&bob.access),
            None,
        )
        .await,
    ];
    for (status, body) in attempts {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    // A project that does not exist looks exactly the same.
    let (status, missing) = app
        .get(
            &format!("/api/v1/projects/{}", uuid::Uuid::now_v7()),
            Some(&bob.access),
        )
        .await;
    let (_, hidden) = app.get(&base, Some(&bob.access)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["detail"], hidden["detail"]);
    // Nothing changed.
    let (_, mine) = app.get(&base, Some(&alice.access)).await;
    assert_eq!(mine["name"], "Alice's secret");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_member_loses_access_on_the_next_request() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let editor = &t.members["editor"];
    let path = format!("/api/v1/projects/{}", t.project);
    assert_eq!(app.get(&path, Some(&editor.access)).await.0, StatusCode::OK);
    let (status, _) = app
        .delete(
            &format!("{path}/members/{}", editor.id),
            Some(&t.members["owner"].access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&path, Some(&editor.access)).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_list_shows_names_emails_roles_and_paginates() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let path = format!("/api/v1/projects/{}/members?limit=3", t.project);
    let (status, page) = app.get(&path, Some(&t.members["viewer"].access)).await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("{path}&cursor={cursor}"),
            Some(&t.members["viewer"].access),
        )
        .await;
    let all: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(all.len(), 5);
    for role in ROLES {
        let m = all.iter().find(|m| m["role"] == role).unwrap();
        assert_eq!(m["email"], t.members[role].email.as_str());
        assert_eq!(m["display_name"], "Test User");
        assert!(m["joined_at"].is_string());
    }
}

async fn invite(app: &TestApp, t: &Team, body: Value) -> Value {
    let (status, inv) = app
        .post(
            &format!("/api/v1/projects/{}/invitations", t.project),
            Some(&t.members["admin"].access),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    inv
}

async fn accept(app: &TestApp, token: &str, user: &TestUser) -> (StatusCode, Value) {
    app.call(
        reqwest::Method::POST,
        &format!("/api/v1/invitations/{token}/accept"),
        Some(&user.access),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_accept_once_for_the_right_email_and_not_when_revoked_or_expired() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let newcomer = app.new_user().await;
    let stranger = app.new_user().await;

    let inv = invite(
        &app,
        &t,
        json!({"email": newcomer.email.to_uppercase(), "role": "editor"}),
    )
    .await;
    assert_eq!(inv["email"], newcomer.email.as_str());
    let token = inv["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mdz_inv_"));
    assert!(
        inv["accept_url"]
            .as_str()
            .unwrap()
            .starts_with(&app.address)
    );
    assert!(
        inv["accept_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/invitations/{token}/accept"))
    );
    let (_, pending) = app
        .get(
            &format!("/api/v1/projects/{}/invitations", t.project),
            Some(&t.members["owner"].access),
        )
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    assert!(pending["items"][0].get("token").is_none());

    // The wrong account is refused and the invitation stays usable.
    let (status, body) = accept(&app, &token, &stranger).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, membership) = accept(&app, &token, &newcomer).await;
    assert_eq!(status, StatusCode::OK, "{membership}");
    assert_eq!(membership["role"], "editor");
    assert_eq!(membership["project_id"], t.project.as_str());
    let (status, project) = app
        .get(
            &format!("/api/v1/projects/{}", t.project),
            Some(&newcomer.access),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(project["role"], "editor");
    // Used.
    let (status, body) = accept(&app, &token, &newcomer).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Revoked.
    let inv = invite(&app, &t, json!({"role": "viewer"})).await;
    let (status, _) = app
        .delete(
            &format!(
                "/api/v1/projects/{}/invitations/{}",
                t.project,
                inv["id"].as_str().unwrap()
            ),
            Some(&t.members["admin"].access),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = accept(&app, inv["token"].as_str().unwrap(), &stranger).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("revoked"));

    // Expired.
    let inv = invite(&app, &t, json!({"role": "viewer", "expires_in_hours": 1})).await;
    app.sql(&format!(
        "UPDATE project_invitations SET expires_at = now() - interval '1 minute' WHERE id = '{}'",
        inv["id"].as_str().unwrap()
    ))
    .await;
    let (status, body) = accept(&app, inv["token"].as_str().unwrap(), &stranger).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("expired"));

    // Unknown.
    let (status, _) = accept(&app, "mdz_inv_nope", &stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(
            &format!("/api/v1/projects/{}", t.project),
            Some(&stranger.access)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_accepts_of_one_invitation_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    for _ in 0..5 {
        let inv = invite(&app, &t, json!({"role": "viewer"})).await;
        let token = inv["token"].as_str().unwrap();
        let (a, b) = (app.new_user().await, app.new_user().await);
        let (ra, rb) = tokio::join!(accept(&app, token, &a), accept(&app, token, &b));
        let mut statuses = [ra.0.as_u16(), rb.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{ra:?} {rb:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_owner_can_never_leave_or_step_down() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let owner = &t.members["owner"];
    let me = format!("/api/v1/projects/{}/members/{}", t.project, owner.id);
    let (status, body) = app
        .patch(&me, Some(&owner.access), json!({"role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "urn:mdz:problem:last-owner");
    let (status, _) = app.delete(&me, Some(&owner.access)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Transfer, then the former owner may leave.
    let (status, body) = app
        .post(
            &format!("/api/v1/projects/{}/transfer", t.project),
            Some(&owner.access),
            json!({"user_id": t.members["editor"].id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "admin");
    let (_, project) = app
        .get(
            &format!("/api/v1/projects/{}", t.project),
            Some(&t.members["editor"].access),
        )
        .await;
    assert_eq!(project["role"], "owner");
    assert_eq!(
        app.delete(&me, Some(&owner.access)).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_owners_stepping_down_at_once_leave_one_owner() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let t = team(&app).await;
        let a = &t.members["owner"];
        let b = &t.members["admin"];
        let members = format!("/api/v1/projects/{}/members", t.project);
        let (status, _) = app
            .patch(
                &format!("{members}/{}", b.id),
                Some(&a.access),
                json!({"role": "owner"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (path_a, path_b) = (format!("{members}/{}", a.id), format!("{members}/{}", b.id));
        let (ra, rb) = tokio::join!(
            app.patch(&path_a, Some(&a.access), json!({"role": "viewer"})),
            app.delete(&path_b, Some(&b.access)),
        );
        let ok = [ra.0, rb.0].iter().filter(|s| s.is_success()).count();
        assert_eq!(ok, 1, "{ra:?} {rb:?}");
        let owners = app
            .sql(&format!(
                "SELECT 1 FROM project_members WHERE project_id = '{}' AND role = 'owner'",
                t.project
            ))
            .await;
        assert_eq!(owners, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_changing_one_member_leave_a_consistent_row() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let admin2 = app.new_user().await;
    add(&app, &t.project, &t.members["owner"], &admin2, "admin").await;
    let target = format!(
        "/api/v1/projects/{}/members/{}",
        t.project, t.members["viewer"].id
    );
    let (ra, rb) = tokio::join!(
        app.patch(
            &target,
            Some(&t.members["admin"].access),
            json!({"role": "editor"})
        ),
        app.patch(&target, Some(&admin2.access), json!({"role": "commenter"})),
    );
    assert_eq!(ra.0, StatusCode::OK);
    assert_eq!(rb.0, StatusCode::OK);
    let (_, members) = app
        .get(
            &format!("/api/v1/projects/{}/members", t.project),
            Some(&t.members["owner"].access),
        )
        .await;
    let row = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == t.members["viewer"].id.as_str())
        .unwrap()
        .clone();
    assert!(
        row["role"] == "editor" || row["role"] == "commenter",
        "{row}"
    );
    let (_, project) = app
        .get(
            &format!("/api/v1/projects/{}", t.project),
            Some(&t.members["viewer"].access),
        )
        .await;
    assert_eq!(project["role"], row["role"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_404_or_422_never_500() {
    let app = TestApp::spawn().await;
    let t = team(&app).await;
    let owner = &t.members["owner"];
    let cases = [
        (
            app.post("/api/v1/projects", Some(&owner.access), json!({"name": ""}))
                .await,
            422,
            "name",
        ),
        (
            app.post(
                "/api/v1/projects",
                Some(&owner.access),
                json!({"name": "x".repeat(300)}),
            )
            .await,
            422,
            "name",
        ),
        (
            app.post(
                "/api/v1/projects",
                Some(&owner.access),
                json!({"name": "ok", "description": "d".repeat(2001)}),
            )
            .await,
            422,
            "description",
        ),
        (
            app.patch(
                &format!("/api/v1/projects/{}", t.project),
                Some(&owner.access),
                json!({"name": "  "}),
            )
            .await,
            422,
            "name",
        ),
        (
            app.post(
                &format!("/api/v1/projects/{}/members", t.project),
                Some(&owner.access),
                json!({"email": t.outsider.email, "role": "god"}),
            )
            .await,
            422,
            "role",
        ),
        (
            app.post(
                &format!("/api/v1/projects/{}/members", t.project),
                Some(&owner.access),
                json!({"email": "nobody@example.com", "role": "viewer"}),
            )
            .await,
            422,
            "email",
        ),
        (
            app.patch(
                &format!(
                    "/api/v1/projects/{}/members/{}",
                    t.project, t.members["viewer"].id
                ),
                Some(&owner.access),
                json!({"role": "Editor"}),
            )
            .await,
            422,
            "role",
        ),
        (
            app.post(
                &format!("/api/v1/projects/{}/invitations", t.project),
                Some(&owner.access),
                json!({"role": "owner"}),
            )
            .await,
            422,
            "role",
        ),
        (
            app.post(
                &format!("/api/v1/projects/{}/invitations", t.project),
                Some(&owner.access),
                json!({"role": "viewer", "email": "nope"}),
            )
            .await,
            422,
            "email",
        ),
    ];
    for ((status, body), want, field) in cases {
        assert_eq!(status.as_u16(), want, "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    for path in [
        "/api/v1/projects/not-a-uuid".to_owned(),
        "/api/v1/projects/123/members".to_owned(),
        format!("/api/v1/projects/{}/members/xyz", t.project),
        format!("/api/v1/projects/{}", uuid::Uuid::now_v7()),
    ] {
        let (status, body) = app.get(&path, Some(&owner.access)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/projects/{}/members", t.project),
            Some(&owner.access),
            json!({"email": t.members["viewer"].email, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_projects_vanish_restore_and_are_purged_after_retention() {
    let app = TestApp::spawn_with(Options {
        config: vec![("purge_interval_secs", json!(1))],
        ..Options::default()
    })
    .await;
    let t = team(&app).await;
    let owner = &t.members["owner"];
    let path = format!("/api/v1/projects/{}", t.project);
    assert_eq!(
        app.delete(&path, Some(&owner.access)).await.0,
        StatusCode::NO_CONTENT
    );
    for role in ROLES {
        let (_, list) = app
            .get("/api/v1/projects", Some(&t.members[role].access))
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "{role}");
        assert_eq!(
            app.get(&path, Some(&t.members[role].access)).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("{path}/restore"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get(&path, Some(&t.members["viewer"].access)).await.0,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("{path}/restore"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not deleted");

    // Past the retention period the purger removes it for good.
    assert_eq!(
        app.delete(&path, Some(&owner.access)).await.0,
        StatusCode::NO_CONTENT
    );
    app.sql(&format!(
        "UPDATE projects SET deleted_at = now() - interval '31 days' WHERE id = '{}'",
        t.project
    ))
    .await;
    let mut remaining = 1;
    for _ in 0..50 {
        remaining = app
            .sql(&format!(
                "SELECT 1 FROM projects WHERE id = '{}'",
                t.project
            ))
            .await;
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "purged");
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("{path}/restore"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_on_one_replica_apply_on_the_other_at_once() {
    let a = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        ..Options::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        redis: mdz_tests::Redis::Shared,
        replica_of: Some(a.replica()),
        ..Options::default()
    })
    .await;
    let t = team(&a).await;
    let editor = &t.members["editor"];
    let path = format!("/api/v1/projects/{}", t.project);
    // Warm replica b's caches.
    for _ in 0..3 {
        let (status, body) = b.get(&path, Some(&editor.access)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["role"], "editor");
    }
    let member = format!("{path}/members/{}", editor.id);
    let (status, _) = a
        .patch(
            &member,
            Some(&t.members["owner"].access),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = b.get(&path, Some(&editor.access)).await;
    assert_eq!(
        body["role"], "viewer",
        "replica b saw the change on its next request"
    );
    let (status, _) = a
        .patch(
            &path,
            Some(&t.members["owner"].access),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = b.get(&path, Some(&editor.access)).await;
    assert_eq!(body["name"], "Renamed");
    let (status, _) = a.delete(&member, Some(&t.members["owner"].access)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(&path, Some(&editor.access)).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_edits_of_different_fields_both_land() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = create_project(&app, &owner, "Before").await;
    // Hold the project row so both edits queue behind it, then let them go together.
    let mut db = app.db().await;
    diesel::sql_query("BEGIN").execute(&mut db).await.unwrap();
    diesel::sql_query(format!(
        "SELECT 1 FROM projects WHERE id = '{project}' FOR UPDATE"
    ))
    .execute(&mut db)
    .await
    .unwrap();
    let path = format!("/api/v1/projects/{project}");
    let rename = app.patch(&path, Some(&owner.access), json!({"name": "After"}));
    let describe = app.patch(
        &path,
        Some(&owner.access),
        json!({"description": "Described"}),
    );
    let release = async {
        let mut waiting = 0;
        for _ in 0..200 {
            waiting = app
                .sql(
                    "SELECT 1 FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .await;
            if waiting >= 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(waiting, 2, "both edits wait for the row");
        diesel::sql_query("COMMIT").execute(&mut db).await.unwrap();
    };
    let ((s1, b1), (s2, b2), ()) = tokio::join!(rename, describe, release);
    assert_eq!(s1, StatusCode::OK, "{b1}");
    assert_eq!(s2, StatusCode::OK, "{b2}");
    let (_, now) = app.get(&path, Some(&owner.access)).await;
    assert_eq!(now["name"], "After", "{now}");
    assert_eq!(now["description"], "Described", "{now}");
}
