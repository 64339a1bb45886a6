DROP TABLE project_invitations;
DROP TRIGGER keep_an_owner ON project_members;
DROP FUNCTION mdz_keep_an_owner();
DROP TABLE project_members;
DROP TABLE projects;
