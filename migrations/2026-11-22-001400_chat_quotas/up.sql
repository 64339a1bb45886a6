-- The daily (UTC) token use of a user or a project. `held`: the estimates of answers still
-- being generated (prompt + max_tokens), reserved in the statement that stores the answer;
-- `used`: what answers that ended cost. A reservation writes the limit it is admitted under
-- into `cap`, and the checks below refuse it (with the answer's insert, atomically) when the
-- day would go past it; concurrent reservations queue on the row's lock. A settlement moves
-- an answer's hold into `used` as what it really cost and clears `cap`: real use is recorded
-- even past the limit.
CREATE TABLE chat_token_use (
    scope    text NOT NULL CHECK (scope IN ('user', 'project')),
    owner_id uuid NOT NULL,
    day      date NOT NULL,
    used     bigint NOT NULL DEFAULT 0,
    held     bigint NOT NULL DEFAULT 0,
    cap      bigint,
    PRIMARY KEY (scope, owner_id, day),
    CONSTRAINT chat_user_quota CHECK (scope <> 'user' OR cap IS NULL OR used + held <= cap),
    CONSTRAINT chat_project_quota CHECK (scope <> 'project' OR cap IS NULL OR used + held <= cap)
) WITH (fillfactor = 80);

-- What an answer holds of the day's quotas until it is settled (NULL: nothing held).
ALTER TABLE chat_messages ADD COLUMN reserved_tokens integer;
