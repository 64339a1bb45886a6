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
