DROP TRIGGER file_search_gone_after_delete ON file_search;
DROP FUNCTION mdz_file_search_gone();
DROP TABLE file_search_gone;
