//! Diesel table definitions for the file tables (see `migrations/*_files`).

diesel::table! {
    files (id) {
        id -> Uuid,
        project_id -> Uuid,
        path -> Text,
        title -> Text,
        content -> Text,
        size -> Int4,
        revision -> Int8,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    file_versions (file_id, n) {
        file_id -> Uuid,
        n -> Int4,
        snapshot -> Bool,
        body -> Bytea,
        size -> Int4,
        lines_added -> Int4,
        lines_removed -> Int4,
        label -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
        ai_assisted -> Bool,
    }
}

diesel::table! {
    file_change_counters (project_id) {
        project_id -> Uuid,
        seq -> Int8,
        horizon -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    file_changes (id) {
        id -> Int8,
        project_id -> Uuid,
        /// NULL only inside the writing transaction: numbered at its commit, never read NULL.
        seq -> Int8,
        file_id -> Uuid,
        kind -> Text,
        path -> Text,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Uuid,
        key -> Text,
        method -> Text,
        path -> Text,
        status -> Int4,
        etag -> Nullable<Text>,
        response -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(file_versions -> files (file_id));
diesel::allow_tables_to_appear_in_same_query!(
    files,
    file_versions,
    file_change_counters,
    file_changes,
    idempotency_keys
);

diesel::table! {
    attachments (id) {
        id -> Uuid,
        project_id -> Uuid,
        object_key -> Text,
        filename -> Text,
        content_type -> Text,
        size -> Int8,
        ready -> Bool,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    blob_grants (token_hash) {
        token_hash -> Bytea,
        object_key -> Text,
        purpose -> Text,
        content_type -> Text,
        max_size -> Int8,
        filename -> Text,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    blob_deletions (object_key) {
        object_key -> Text,
        queued_at -> Timestamptz,
    }
}

diesel::table! {
    shares (id) {
        id -> Uuid,
        project_id -> Uuid,
        file_id -> Nullable<Uuid>,
        folder -> Nullable<Text>,
        token_hash -> Bytea,
        password_hash -> Nullable<Text>,
        cookie_key -> Bytea,
        allow_indexing -> Bool,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}
