//! Diesel table definitions for chat (see `migrations/*_chat`).

diesel::table! {
    chat_messages (id) {
        id -> Uuid,
        session_id -> Uuid,
        role -> Text,
        content -> Text,
        author_id -> Nullable<Uuid>,
        requested_by -> Nullable<Uuid>,
        model -> Nullable<Text>,
        status -> Text,
        prompt_tokens -> Nullable<Int4>,
        completion_tokens -> Nullable<Int4>,
        citations -> Jsonb,
        error -> Nullable<Text>,
        reserved_tokens -> Nullable<Int4>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

// `error` and `updated_at` are written and read by SQL only (diesel's 16-column tables).
diesel::table! {
    ai_edits (id) {
        id -> Uuid,
        project_id -> Uuid,
        file_id -> Uuid,
        requested_by -> Nullable<Uuid>,
        kind -> Text,
        instruction -> Text,
        quote -> Nullable<Text>,
        content -> Text,
        status -> Text,
        provider -> Text,
        model -> Text,
        prompt_tokens -> Nullable<Int4>,
        completion_tokens -> Nullable<Int4>,
        reserved_tokens -> Nullable<Int4>,
        suggestion_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}
