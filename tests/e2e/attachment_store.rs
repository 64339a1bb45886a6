//! What the attachment stores keep: single-use upload URLs, no partial files after an aborted
//! upload, downloads streamed with byte ranges, and no objects left behind by a purged project
//! (local store and S3).

use super::attachments::{announce, setup, upload};
use mdz_tests::{TestApp, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Announce, upload and (when `complete`) complete an attachment: its id and download URL.
async fn stored(
    app: &TestApp,
    owner: &TestUser,
    project: &str,
    bytes: &[u8],
    complete: bool,
) -> (String, Option<String>) {
    let (status, announced) = announce(
        app,
        owner,
        project,
        json!({"filename": "a.png", "content_type": "image/png", "size": bytes.len()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{announced}");
    assert!(upload(&announced, bytes.to_vec()).await.is_success());
    let id = announced["id"].as_str().unwrap().to_owned();
    if !complete {
        return (id, None);
    }
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let res = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(&owner.access),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    (id, Some(location))
}

/// The names of the files in the local store's directory.
fn blob_files(app: &TestApp) -> Vec<String> {
    match std::fs::read_dir(app.data_dir.join("blobs")) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Poll `done` every 100 ms, up to 20 s; whether it became true.
async fn eventually(mut done: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn local_upload_urls_are_single_use() {
    let (app, owner, project) = setup(false, vec![]).await;
    let (_, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 3}),
    )
    .await;
    let url = announced["upload_url"].as_str().unwrap();
    // A refused upload stores nothing and leaves the URL usable.
    let res = reqwest::Client::new()
        .put(url)
        .header("content-type", "image/png")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(upload(&announced, b"abc".to_vec()).await, StatusCode::OK);
    let again = reqwest::Client::new()
        .put(url)
        .header("content-type", "text/plain")
        .body("xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        again.headers()["content-type"],
        "application/problem+json",
        "refused as a problem"
    );
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["status"], 403);
    // The first upload stands.
    let id = announced["id"].as_str().unwrap();
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/api/v1/attachments/{id}/complete"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let location = app
        .request(
            Method::GET,
            &format!("/api/v1/attachments/{id}"),
            Some(&owner.access),
        )
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"abc");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_aborted_upload_leaves_no_partial_file() {
    let (app, owner, project) = setup(false, vec![]).await;
    let (_, announced) = announce(
        &app,
        &owner,
        &project,
        json!({"filename": "a.txt", "content_type": "text/plain", "size": 1_000_000}),
    )
    .await;
    let url = announced["upload_url"].as_str().unwrap();
    let path = &url[url.find("/api/v1/blobs/").unwrap()..];
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n\
         Content-Length: 1000000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b'x'; 65_536]).await.unwrap();
    socket.flush().await.unwrap();
    let partial = |app: &TestApp| blob_files(app).iter().any(|f| f.contains(".part-"));
    assert!(
        eventually(async || partial(&app)).await,
        "the upload started: {:?}",
        blob_files(&app)
    );
    // The client goes away halfway.
    drop(socket);
    assert!(
        eventually(async || blob_files(&app).is_empty()).await,
        "nothing left behind: {:?}",
        blob_files(&app)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_downloads_stream_whole_or_by_range() {
    let (app, owner, project) = setup(false, vec![]).await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (_, location) = stored(&app, &owner, &project, &bytes, true).await;
    let location = location.unwrap();
    let client = reqwest::Client::new();

    let whole = client.get(&location).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-length"], "300000");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert!(whole.bytes().await.unwrap().as_ref() == bytes.as_slice());

    for (range, slice, content_range) in [
        ("bytes=1000-1999", 1000..2000, "bytes 1000-1999/300000"),
        ("bytes=-10", 299_990..300_000, "bytes 299990-299999/300000"),
        (
            "bytes=200000-",
            200_000..300_000,
            "bytes 200000-299999/300000",
        ),
    ] {
        let part = client
            .get(&location)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(part.headers()["content-range"], content_range);
        assert!(
            part.bytes().await.unwrap().as_ref() == &bytes[slice],
            "{range}"
        );
    }
    let past = client
        .get(&location)
        .header("range", "bytes=300000-")
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers()["content-range"], "bytes */300000");
}

async fn purged_projects_lose_their_stored_objects(s3: bool) {
    let (app, owner, project) = setup(s3, vec![("purge_interval_secs", json!(1))]).await;
    let (_, location) = stored(&app, &owner, &project, b"kept until purged", true).await;
    let location = location.unwrap();
    stored(&app, &owner, &project, b"uploaded, never completed", false).await;
    if !s3 {
        assert_eq!(blob_files(&app).len(), 2, "{:?}", blob_files(&app));
    }
    assert_eq!(
        reqwest::get(&location).await.unwrap().status(),
        StatusCode::OK
    );

    assert_eq!(
        app.delete(&format!("/api/v1/projects/{project}"), Some(&owner.access))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    app.sql(&format!(
        "UPDATE projects SET deleted_at = now() - interval '31 days' WHERE id = '{project}'"
    ))
    .await;
    let purged = eventually(async || {
        app.sql(&format!("SELECT 1 FROM projects WHERE id = '{project}'"))
            .await
            == 0
    })
    .await;
    assert!(purged, "the project is purged");
    let gone = if s3 {
        // The presigned URL still verifies; the object behind it goes.
        eventually(async || {
            reqwest::get(&location).await.unwrap().status() == StatusCode::NOT_FOUND
        })
        .await
    } else {
        eventually(async || blob_files(&app).is_empty()).await
    };
    assert!(
        gone,
        "the stored objects are deleted: {:?}",
        blob_files(&app)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn local_purged_projects_lose_their_stored_objects() {
    purged_projects_lose_their_stored_objects(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_purged_projects_lose_their_stored_objects() {
    purged_projects_lose_their_stored_objects(true).await;
}
