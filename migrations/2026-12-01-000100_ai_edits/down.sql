DROP TABLE ai_edits;
