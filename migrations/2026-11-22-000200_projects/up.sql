-- Projects (team workspaces), their members with one role each, and invitations.

CREATE TABLE projects (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    deleted_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    created_by       uuid NOT NULL,
    updated_by       uuid NOT NULL
);
CREATE INDEX projects_purge_idx ON projects (deleted_at) WHERE deleted_at IS NOT NULL;
SELECT mdz_manage_updated_at('projects');

CREATE TABLE project_members (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'commenter', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid NOT NULL,
    updated_by uuid NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
-- The hot path: "what is this user's role in this project" is the primary key; "my projects"
-- is this index.
CREATE INDEX project_members_user_idx ON project_members (user_id, project_id);
SELECT mdz_manage_updated_at('project_members');

-- A project always keeps an owner. Owner changes of one project are serialised on the
-- project row, so two concurrent demotions of the last two owners cannot both pass.
CREATE FUNCTION mdz_keep_an_owner() RETURNS trigger AS $$
BEGIN
    IF OLD.role <> 'owner' OR (TG_OP = 'UPDATE' AND NEW.role = 'owner') THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM projects WHERE id = OLD.project_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL; -- the project itself is being deleted
    END IF;
    IF NOT EXISTS (SELECT 1 FROM project_members
                   WHERE project_id = OLD.project_id AND role = 'owner') THEN
        RAISE EXCEPTION 'a project must keep at least one owner'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'project_keeps_an_owner';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER keep_an_owner
    AFTER UPDATE OF role OR DELETE ON project_members
    FOR EACH ROW EXECUTE FUNCTION mdz_keep_an_owner();

CREATE TABLE project_invitations (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    email       text CHECK (email IS NULL OR email = lower(btrim(email))),
    role        text NOT NULL CHECK (role IN ('admin', 'editor', 'commenter', 'viewer')),
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid NOT NULL,
    updated_by  uuid NOT NULL
);
CREATE INDEX project_invitations_project_idx ON project_invitations (project_id, id DESC);
SELECT mdz_manage_updated_at('project_invitations');
