//! Two-way sync of a folder of Markdown files with an mdz project.
//!
//! A library first (`mdz sync` is one user; an editor extension's backend or a CI job can be
//! another): [`Syncer::open`] a folder with a [`Client`], then run [`Syncer::round`] (one
//! round) or [`watch`] (rounds on every local change and every poll of the change feed).
//! The wire types are the files crate's own ([`mdz_files::interface`]).

mod attach;
pub mod client;
pub mod local;
pub mod merge;
mod reconcile;
pub mod round;
pub mod state;
pub mod watch;

pub use client::{Client, ClientError};
pub use round::{Options, Report, SyncError, Syncer};
pub use watch::watch;
