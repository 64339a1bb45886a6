//! The engines behind the search port ([`mdz_core::search::SearchEngine`]): the embedded
//! tantivy index (the default) and PostgreSQL full-text search.

pub mod embedded;
pub mod feed;
pub mod postgres;
pub mod query;
