-- The file text at `file_revision`: the base of the three-way merge that reconciles the Yjs
-- state with a file changed while no room held it (a REST write after a crash, or on
-- another replica), so neither the journaled typing nor the file's change is lost.
-- NULL only for documents whose base was not known when this column was added.
ALTER TABLE collab_docs ADD COLUMN base_text text;
UPDATE collab_docs c SET base_text = f.content FROM files f
WHERE f.id = c.file_id AND f.revision = c.file_revision;
