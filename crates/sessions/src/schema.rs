//! Diesel table definitions for sessions (see `migrations/*_sessions`).

diesel::table! {
    chat_sessions (id) {
        id -> Uuid,
        project_id -> Uuid,
        created_by -> Uuid,
        title -> Text,
        model -> Nullable<Text>,
        instructions -> Text,
        context_file_ids -> Array<Uuid>,
        visibility -> Text,
        title_is_default -> Bool,
        archived -> Bool,
        last_activity_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        provider -> Nullable<Text>,
    }
}
