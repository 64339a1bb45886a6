//! Diesel table definitions for webhooks (see `migrations/*_webhooks`).

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        project_id -> Uuid,
        url -> Text,
        events -> Array<Text>,
        secret -> Bytea,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        file_cursor -> Int8,
        event_cursor -> Int8,
        last_success_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        webhook_id -> Uuid,
        event_type -> Text,
        subject -> Nullable<Uuid>,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        step -> Int4,
        next_attempt_at -> Timestamptz,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        delivery_id -> Uuid,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Int4>,
        error -> Nullable<Text>,
        response_excerpt -> Text,
        duration_ms -> Int4,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries, webhook_attempts);
