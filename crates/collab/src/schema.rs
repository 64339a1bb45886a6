//! Diesel table definitions for the collab tables (see `migrations/*_collab`).

diesel::table! {
    collab_docs (file_id) {
        file_id -> Uuid,
        last_seq -> Int8,
        snapshot -> Bytea,
        snapshot_seq -> Int8,
        file_revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        base_text -> Nullable<Text>,
    }
}

diesel::table! {
    collab_updates (file_id, seq) {
        file_id -> Uuid,
        seq -> Int8,
        data -> Bytea,
        user_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    comments (id) {
        id -> Uuid,
        project_id -> Uuid,
        file_id -> Uuid,
        parent_id -> Nullable<Uuid>,
        author_id -> Uuid,
        body -> Text,
        quote -> Nullable<Text>,
        anchor_start -> Nullable<Text>,
        anchor_end -> Nullable<Text>,
        resolved_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        suggestion_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        project_id -> Uuid,
        file_id -> Nullable<Uuid>,
        comment_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        excerpt -> Text,
        read_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        mailed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mention_mail_sent (user_id) {
        user_id -> Uuid,
        sent_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(collab_docs, collab_updates);

diesel::table! {
    collab_tickets (hash) {
        hash -> Bytea,
        user_id -> Uuid,
        session_id -> Nullable<Uuid>,
        token_id -> Nullable<Uuid>,
        scope -> Text,
        project_ids -> Nullable<Array<Uuid>>,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    suggestions (id) {
        id -> Uuid,
        project_id -> Uuid,
        file_id -> Uuid,
        anchor_start -> Text,
        anchor_end -> Text,
        quote -> Text,
        proposed -> Text,
        explanation -> Nullable<Text>,
        created_by -> Uuid,
        provider -> Nullable<Text>,
        model -> Nullable<Text>,
        status -> Text,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}
diesel::allow_tables_to_appear_in_same_query!(notifications, mention_mail_sent);
