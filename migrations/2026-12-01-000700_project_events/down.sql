DROP TABLE project_events;
DROP TABLE project_event_counters;
