DROP TABLE notifications;
DROP TABLE comments;
DROP TABLE collab_updates;
DROP TABLE collab_docs;
