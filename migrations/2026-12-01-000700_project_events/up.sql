-- The project event log: what happens in a project besides documents (the file change feed,
-- `file_changes`, holds those). Comments, suggestions, member changes and per-user
-- notifications are recorded here in the transaction of the change, with `seq` NULL; the
-- change feed's sequencer (`mdz_core::feed::number_committed`) numbers committed rows
-- afterwards, exactly as it does `file_changes` (see `change_feed_sequencer`). The live event
-- stream (`GET /projects/{id}/events`) and webhooks read both feeds merged.
CREATE TABLE project_event_counters (
    project_id  uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    seq         bigint NOT NULL DEFAULT 0,
    horizon     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT mdz_manage_updated_at('project_event_counters');

CREATE TABLE project_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    seq          bigint,
    kind         text NOT NULL CHECK (kind IN (
                     'comment.created', 'comment.resolved', 'comment.reopened',
                     'suggestion.created', 'suggestion.accepted', 'suggestion.rejected',
                     'suggestion.stale', 'member.added', 'member.removed',
                     'member.role_changed', 'project.deleted', 'notification')),
    actor_id     uuid,
    -- NULL: every member sees it; set: only this user (their notifications).
    recipient_id uuid,
    -- Ids and small fields, never document text.
    data         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX project_events_project_seq_idx ON project_events (project_id, seq);
CREATE INDEX project_events_unnumbered_idx ON project_events (project_id, id) WHERE seq IS NULL;
CREATE INDEX project_events_created_idx ON project_events (created_at) WHERE seq IS NOT NULL;
