DROP TABLE collab_tickets;
