//! mdz-core: the ground every mdz domain crate stands on.
//!
//! Nothing here knows about a particular domain. Domains meet each other only through
//! the traits in [`ports`], which `mdz-server` wires to their implementations.

pub mod access;
pub mod auth;
pub mod cache;
pub mod client;
pub mod config;
pub mod context;
pub mod db;
pub mod documents;
pub mod email;
pub mod events;
pub mod feed;
pub mod ids;
pub mod json;
pub mod kv;
pub mod mail;
pub mod metrics;
pub mod model_name;
pub mod pagination;
pub mod periodic;
pub mod ports;
pub mod problem;
pub mod revocation;
pub mod search;
pub mod secret;
pub mod secrets;
pub mod sse;
pub mod telemetry;
pub mod text;
pub mod workspace;

pub use problem::{ApiError, FieldError, Problem};
