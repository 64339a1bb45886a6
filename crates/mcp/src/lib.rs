//! mdz-mcp: a Model Context Protocol server (streamable HTTP, JSON-RPC 2.0) at `/mcp`, so
//! Claude Desktop, VS Code and other MCP clients can list, read, search, create and update a
//! user's documents with a personal access token. Reaches projects and files only through
//! the workspace port in core; every rule is the REST API's.

pub mod endpoint;
pub mod outline;
pub mod rpc;
pub mod tools;

pub use endpoint::routes;
