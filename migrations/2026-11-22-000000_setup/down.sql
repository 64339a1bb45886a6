DROP FUNCTION IF EXISTS mdz_manage_updated_at(regclass);
DROP FUNCTION IF EXISTS mdz_set_updated_at();
