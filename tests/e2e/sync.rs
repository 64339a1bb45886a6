//! `mdz sync` through the real binary against a running server: the first run pulls, later
//! runs push creates, edits, moves and deletes and pull the server's; edits on both sides
//! merge when they do not overlap and leave a conflict copy on both sides when they do; a
//! round run again after an interruption duplicates nothing; watch mode carries a change
//! either way without being asked.

use mdz_tests::{TestApp, TestUser, mdz, mdz_spawn};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Synced {
    app: TestApp,
    owner: TestUser,
    project: String,
    token: String,
    dir: PathBuf,
}

impl Drop for Synced {
    fn drop(&mut self) {
        drop(std::fs::remove_dir_all(&self.dir));
    }
}

async fn synced() -> Synced {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let (status, body) = app
        .post(
            "/api/v1/auth/tokens",
            Some(&owner.access),
            json!({"name": "sync"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let dir = std::env::temp_dir().join(format!("mdz-sync-{}", uuid::Uuid::new_v4().simple()));
    Synced {
        app,
        owner,
        project,
        token,
        dir,
    }
}

impl Synced {
    fn args(&self) -> Vec<String> {
        vec![
            "sync".into(),
            self.dir.to_string_lossy().into_owned(),
            "--server".into(),
            self.app.address.clone(),
            "--project".into(),
            self.project.clone(),
        ]
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("MDZ_TOKEN".into(), self.token.clone())]
    }

    /// `mdz sync --once`; its stderr.
    async fn once(&self) -> String {
        let mut args = self.args();
        args.push("--once".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = mdz(&args, &self.env()).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "mdz sync: {stderr}");
        stderr
    }

    fn local(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(path)).ok()
    }

    fn write(&self, path: &str, text: &str) {
        let file = self.dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    /// Every document in the folder (dot-folders left out): path → text.
    fn local_docs(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                if name.starts_with('.') {
                    continue;
                }
                if entry.file_type().unwrap().is_dir() {
                    walk(root, &entry.path(), out);
                } else if name.ends_with(".md") {
                    let rel = entry.path().strip_prefix(root).unwrap().to_owned();
                    let text = std::fs::read_to_string(entry.path()).unwrap();
                    out.insert(rel.to_string_lossy().into_owned(), text);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir, &self.dir, &mut out);
        out
    }

    /// Every live document of the project: path → (id, text).
    async fn remote(&self) -> BTreeMap<String, (String, String)> {
        let (status, page) = self
            .app
            .get(
                &format!("/api/v1/projects/{}/files?limit=200", self.project),
                Some(&self.owner.access),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut out = BTreeMap::new();
        for meta in page["items"].as_array().unwrap() {
            let id = meta["id"].as_str().unwrap();
            let (_, file) = self
                .app
                .get(&format!("/api/v1/files/{id}"), Some(&self.owner.access))
                .await;
            out.insert(
                meta["path"].as_str().unwrap().to_owned(),
                (id.to_owned(), file["content"].as_str().unwrap().to_owned()),
            );
        }
        out
    }

    async fn create(&self, path: &str, text: &str) -> String {
        let file = self
            .app
            .create_file(&self.owner, &self.project, path, text)
            .await;
        file["id"].as_str().unwrap().to_owned()
    }

    async fn save(&self, id: &str, text: &str) {
        let status = crate::backup::save(&self.app, &self.owner, id, text).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// path → text of the project.
    async fn remote_texts(&self) -> BTreeMap<String, String> {
        self.remote()
            .await
            .into_iter()
            .map(|(path, (_, text))| (path, text))
            .collect()
    }
}

fn texts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_run_pulls_the_project_and_binaries_are_listed_not_synced() {
    let s = synced().await;
    s.create("plan.md", "# Plan\n").await;
    s.create("notes/2026/june.md", "june\n").await;
    s.once().await;
    assert_eq!(
        s.local_docs(),
        texts(&[("notes/2026/june.md", "june\n"), ("plan.md", "# Plan\n")])
    );
    assert!(s.dir.join(".mdz-sync/state.json").is_file());

    std::fs::write(s.dir.join("photo.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
    let stderr = s.once().await;
    assert!(
        stderr.contains("ignored") && stderr.contains("photo.png"),
        "{stderr}"
    );
    assert_eq!(s.remote().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn later_runs_push_creates_and_edits_and_pull_the_servers() {
    let s = synced().await;
    let id = s.create("plan.md", "# Plan\n").await;
    let other = s.create("other.md", "other\n").await;
    s.once().await;

    s.write("plan.md", "# Plan\n\nmore\n");
    s.write("ideas/new.md", "new\n");
    s.save(&other, "other, edited there\n").await;
    s.once().await;

    let expected = texts(&[
        ("ideas/new.md", "new\n"),
        ("other.md", "other, edited there\n"),
        ("plan.md", "# Plan\n\nmore\n"),
    ]);
    assert_eq!(s.remote_texts().await, expected);
    assert_eq!(s.local_docs(), expected);
    assert_eq!(s.remote().await["plan.md"].0, id, "saved, not created anew");
    // Nothing left to do: a further round changes nothing on either side.
    s.once().await;
    assert_eq!(s.remote_texts().await, expected);
    assert_eq!(s.local_docs(), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_go_both_ways_and_keep_the_document() {
    let s = synced().await;
    let here = s.create("a.md", "moved here\n").await;
    let there = s.create("b.md", "moved there\n").await;
    s.once().await;

    std::fs::create_dir_all(s.dir.join("archive")).unwrap();
    std::fs::rename(s.dir.join("a.md"), s.dir.join("archive/a2.md")).unwrap();
    let (status, body) = s
        .app
        .patch(
            &format!("/api/v1/files/{there}"),
            Some(&s.owner.access),
            json!({"path": "done/b2.md"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.once().await;

    let remote = s.remote().await;
    assert_eq!(remote["archive/a2.md"].0, here);
    assert_eq!(remote["done/b2.md"].0, there);
    assert_eq!(remote.len(), 2);
    assert_eq!(
        s.local_docs(),
        texts(&[
            ("archive/a2.md", "moved here\n"),
            ("done/b2.md", "moved there\n")
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_go_both_ways_and_land_in_the_trash() {
    let s = synced().await;
    let here = s.create("gone-here.md", "1\n").await;
    let there = s.create("gone-there.md", "2\n").await;
    s.create("kept.md", "3\n").await;
    s.once().await;

    std::fs::remove_file(s.dir.join("gone-here.md")).unwrap();
    let (status, _) = s
        .app
        .delete(&format!("/api/v1/files/{there}"), Some(&s.owner.access))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.once().await;

    assert_eq!(s.local_docs(), texts(&[("kept.md", "3\n")]));
    assert_eq!(s.remote_texts().await, texts(&[("kept.md", "3\n")]));
    let (_, trash) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/files?trashed=true", s.project),
            Some(&s.owner.access),
        )
        .await;
    let trashed: Vec<&str> = trash["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(trashed.contains(&here.as_str()), "{trash}");
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_on_both_sides_to_different_lines_are_merged() {
    let s = synced().await;
    let id = s.create("doc.md", "one\ntwo\nthree\nfour\nfive\n").await;
    s.once().await;
    s.write("doc.md", "ONE here\ntwo\nthree\nfour\nfive\n");
    s.save(&id, "one\ntwo\nthree\nfour\nFIVE there\n").await;
    s.once().await;
    let merged = "ONE here\ntwo\nthree\nfour\nFIVE there\n";
    assert_eq!(s.remote_texts().await, texts(&[("doc.md", merged)]));
    assert_eq!(s.local_docs(), texts(&[("doc.md", merged)]));
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_of_the_same_line_leave_a_conflict_copy_on_both_sides() {
    let s = synced().await;
    let id = s.create("notes/doc.md", "one\ntwo\nthree\n").await;
    s.once().await;
    s.write("notes/doc.md", "one\ntwo, said here\nthree\n");
    s.save(&id, "one\ntwo, said there\nthree\n").await;
    let stderr = s.once().await;

    let local = s.local_docs();
    let remote = s.remote_texts().await;
    assert_eq!(local, remote, "{stderr}");
    assert_eq!(local["notes/doc.md"], "one\ntwo, said there\nthree\n");
    let copies: Vec<(&String, &String)> = local
        .iter()
        .filter(|(p, _)| p.starts_with("notes/doc (conflict ") && p.ends_with(").md"))
        .collect();
    assert_eq!(copies.len(), 1, "{local:?}");
    assert_eq!(copies[0].1, "one\ntwo, said here\nthree\n");
    assert!(stderr.contains(copies[0].0.as_str()), "{stderr}");
    assert_eq!(local.len(), 2);
}

/// A round whose server writes happened but whose state never reached the disk (killed just
/// before): run again, it sends nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_round_run_again_after_an_interruption_duplicates_nothing() {
    let s = synced().await;
    let id = s.create("doc.md", "one\n").await;
    s.once().await;
    let saved = s.dir.join(".mdz-sync-before");
    copy_dir(&s.dir.join(".mdz-sync"), &saved);

    s.write("doc.md", "one\ntwo\n");
    s.write("fresh.md", "fresh\n");
    s.once().await;
    let after_first: BTreeMap<String, (String, String)> = s.remote().await;

    std::fs::remove_dir_all(s.dir.join(".mdz-sync")).unwrap();
    std::fs::rename(&saved, s.dir.join(".mdz-sync")).unwrap();
    s.once().await;
    s.once().await;

    assert_eq!(s.remote().await, after_first);
    assert_eq!(after_first["doc.md"].0, id);
    let expected = texts(&[("doc.md", "one\ntwo\n"), ("fresh.md", "fresh\n")]);
    assert_eq!(s.local_docs(), expected);
    // One save and one create in the change feed, however often the round ran.
    let (_, feed) = s
        .app
        .get(
            &format!("/api/v1/projects/{}/changes", s.project),
            Some(&s.owner.access),
        )
        .await;
    let kinds: Vec<(&str, &str)> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("created", "doc.md"),
            ("updated", "doc.md"),
            ("created", "fresh.md")
        ],
        "{feed}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Poll `check` every 100 ms until it holds; fail after a generous deadline (no claim on
/// speed: the propagation bound is the design's, this only proves it happens unasked).
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 30 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_carries_changes_both_ways_unasked() {
    let s = synced().await;
    let id = s.create("live.md", "first\n").await;
    let args = s.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = mdz_spawn(&args, &s.env());

    eventually("the first pull", async || {
        s.local("live.md").as_deref() == Some("first\n")
    })
    .await;
    s.save(&id, "first\nfrom the server\n").await;
    eventually("a server edit reaching the folder", async || {
        s.local("live.md").as_deref() == Some("first\nfrom the server\n")
    })
    .await;
    s.write("local.md", "from the folder\n");
    eventually("a new local document reaching the server", async || {
        s.remote_texts().await.get("local.md").map(String::as_str) == Some("from the folder\n")
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "still watching");
    child.kill().await.unwrap();
}
