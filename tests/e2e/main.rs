//! End-to-end tests of the whole mdz server on real PostgreSQL and Redis.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod ai_edit;
mod attachment_store;
mod attachments;
mod auth_flows;
mod auth_hardening;
mod auth_tokens;
mod backup;
mod backup_refusals;
mod bad_input;
mod big_documents;
mod change_feed;
mod chat;
mod chat_limits;
mod collab;
mod collab_abuse;
mod collab_attack;
mod collab_recovery;
mod comments;
mod cookie_auth;
mod credential_races;
mod deploy;
mod export;
mod faults;
mod files;
mod import;
mod mail;
mod mcp;
mod ops;
mod projects;
mod rate_limits;
mod redis_outage;
mod save_locks;
mod schema_fuzz;
mod search;
mod search_relevance;
mod session_end;
mod sessions;
mod soak;
mod suggestion_threads;
mod suggestions;
mod sync;
mod token_scopes;
mod web_app;
mod web_browser;
