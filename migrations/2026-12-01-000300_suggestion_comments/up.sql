-- A comment thread per suggestion, reusing comments: a comment with `suggestion_id` belongs
-- to that suggestion's thread (flat, oldest first, unanchored) instead of the document's
-- anchored threads. It goes with its suggestion.
ALTER TABLE comments
    ADD COLUMN suggestion_id uuid REFERENCES suggestions (id) ON DELETE CASCADE,
    ADD CONSTRAINT comments_suggestion_flat CHECK (suggestion_id IS NULL OR
        (parent_id IS NULL AND quote IS NULL AND anchor_start IS NULL AND anchor_end IS NULL));
CREATE INDEX comments_suggestion ON comments (suggestion_id, id) WHERE suggestion_id IS NOT NULL;
