//! The collab journal's batch append: one statement numbers and stores the updates of several
//! documents, each document's numbers consecutive from where it stood, and a document that
//! cannot be numbered fails the whole batch (nothing of it stored).

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use mdz_collab::repo::{Appended, Reserve, append_batch};
use mdz_core::ids::FileId;
use mdz_tests::TestApp;
use uuid::Uuid;

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    file: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    data: String,
}

async fn journal_of(app: &TestApp) -> Vec<(String, i64, String)> {
    let mut conn = app.db().await;
    let rows: Vec<Stored> = diesel::sql_query(
        "SELECT file_id::text AS file, seq, convert_from(data, 'UTF8') AS data \
         FROM collab_updates ORDER BY file_id, seq",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| (r.file, r.seq, r.data)).collect()
}

fn update<'a>(file: FileId, place: i64, data: &'a str) -> Appended<'a> {
    Appended {
        file,
        place,
        data: data.as_bytes(),
        user: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_statement_numbers_each_documents_updates_from_where_it_stood() {
    let app = TestApp::spawn().await;
    let owner = app.new_user().await;
    let project = app.project_with(&owner, &[]).await;
    let mut ids = Vec::new();
    for (path, last) in [("a.md", 7), ("b.md", 0), ("c.md", 3), ("d.md", -1)] {
        let file = app.create_file(&owner, &project, path, "text").await;
        let id = file["id"].as_str().unwrap().to_owned();
        ids.push(id.clone());
        if last < 0 {
            continue; // d has no journal row (its room was never loaded)
        }
        app.sql(&format!(
            "INSERT INTO collab_docs (file_id, last_seq, snapshot, file_revision) \
             VALUES ('{id}', {last}, '\\x', 1)"
        ))
        .await;
    }
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| FileId(Uuid::parse_str(&ids[i]).unwrap()));
    let mut conn = app.db().await;

    // Interleaved, as connections of two rooms queue them; c is not in this batch.
    let last = append_batch(
        &mut conn,
        &[Reserve { file: a, count: 2 }, Reserve { file: b, count: 3 }],
        &[
            update(b, 1, "b1"),
            update(a, 1, "a1"),
            update(b, 2, "b2"),
            update(a, 2, "a2"),
            update(b, 3, "b3"),
        ],
    )
    .await
    .unwrap();
    let mut last = last;
    last.sort();
    let mut expected = vec![(a, 9), (b, 3)];
    expected.sort();
    assert_eq!(last, expected);
    let mut want = vec![
        (ids[0].clone(), 8, "a1".to_owned()),
        (ids[0].clone(), 9, "a2".to_owned()),
        (ids[1].clone(), 1, "b1".to_owned()),
        (ids[1].clone(), 2, "b2".to_owned()),
        (ids[1].clone(), 3, "b3".to_owned()),
    ];
    want.sort();
    assert_eq!(journal_of(&app).await, want);

    // A batch with a document that has no journal row (its room was never loaded, or the
    // file was purged meanwhile) stores nothing, not even the other document's update, and
    // moves no document's counter.
    let refused = append_batch(
        &mut conn,
        &[Reserve { file: c, count: 1 }, Reserve { file: d, count: 1 }],
        &[update(d, 1, "d1"), update(c, 1, "c4")],
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(journal_of(&app).await, want);
    let after = append_batch(
        &mut conn,
        &[Reserve { file: c, count: 1 }],
        &[update(c, 1, "c4")],
    )
    .await
    .unwrap();
    assert_eq!(after, vec![(c, 4)], "c's counter did not move");
}
