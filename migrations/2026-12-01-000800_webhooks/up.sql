-- Signed webhooks (Standard Webhooks). A webhook belongs to a project; `secret` is the raw
-- HMAC key (the client saw it once, as `whsec_` + base64); `file_cursor` and `event_cursor`
-- are where the dispatcher stands in the project's merged feed (`file_changes.seq`,
-- `project_events.seq`): every event up to them has become a delivery.
CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url             text NOT NULL,
    events          text[] NOT NULL,
    secret          bytea NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    file_cursor     bigint NOT NULL DEFAULT 0,
    event_cursor    bigint NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid NOT NULL,
    updated_by      uuid NOT NULL
);
CREATE INDEX webhooks_project_idx ON webhooks (project_id, id);
CREATE INDEX webhooks_enabled_idx ON webhooks (id) WHERE enabled;
SELECT mdz_manage_updated_at('webhooks');

-- The outbox: one row per event per webhook, written with the cursor that produced it.
-- `id` is the stable `webhook-id` header (the same on every retry). `subject` is the
-- document of a file event (coalescing key). `step` counts the attempts of the current
-- round (a redelivery starts a new round), `attempts` all of them.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    subject         uuid,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    step            integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);
-- At most one not-yet-attempted `file.updated` per webhook and document: later updates
-- coalesce into it.
CREATE UNIQUE INDEX webhook_deliveries_coalesce_idx ON webhook_deliveries (webhook_id, subject)
    WHERE status = 'pending' AND attempts = 0 AND event_type = 'file.updated';
SELECT mdz_manage_updated_at('webhook_deliveries');

-- Every attempt of a delivery: what the receiver answered (an excerpt) or why it failed.
CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    status_code      integer,
    error            text,
    response_excerpt text NOT NULL DEFAULT '',
    duration_ms      integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
