//! Diesel table definitions for the project tables (see `migrations/*_projects`).

diesel::table! {
    projects (id) {
        id -> Uuid,
        name -> Text,
        description -> Text,
        last_activity_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        deleted_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    project_members (project_id, user_id) {
        project_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::table! {
    project_invitations (id) {
        id -> Uuid,
        project_id -> Uuid,
        email -> Nullable<Text>,
        role -> Text,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Uuid,
        updated_by -> Uuid,
    }
}

diesel::joinable!(project_members -> projects (project_id));
diesel::joinable!(project_invitations -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(projects, project_members, project_invitations);
