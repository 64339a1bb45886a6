-- Shared helpers for every domain's tables.

-- Keeps `updated_at` current on every UPDATE of a table that opts in with
--   SELECT mdz_manage_updated_at('table');
CREATE OR REPLACE FUNCTION mdz_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION mdz_manage_updated_at(_tbl regclass) RETURNS void AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s
                    FOR EACH ROW EXECUTE PROCEDURE mdz_set_updated_at()', _tbl);
END;
$$ LANGUAGE plpgsql;
