//! mdz-server: the `mdz` binary's library: CLI, embedded PostgreSQL, middleware, ops endpoints,
//! OpenAPI, and the composition of every domain crate into one actix app.

pub mod backup;
pub mod cli;
pub mod embedded_pg;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod routes;
pub mod startup;
pub mod sync;
pub mod web_app;
pub mod workspace;

pub use mdz_core::config::Config;
pub use startup::Application;
