//! The per-request context (request id, path) that error bodies and log lines carry.

use crate::ids::ProjectId;
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// What every error body and log line of one request knows about it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
    /// Set by the `AuthUser` extractor when the request's credential is limited to some
    /// projects; read wherever project access is resolved (`access::reachable`).
    pub projects: Arc<OnceLock<Arc<[ProjectId]>>>,
}

impl RequestContext {
    pub fn new(request_id: String, path: String) -> Self {
        Self {
            request_id,
            path,
            projects: Arc::default(),
        }
    }
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// Run `fut` with `ctx` as the current request context.
pub fn scope<F: Future>(ctx: RequestContext, fut: F) -> impl Future<Output = F::Output> {
    CONTEXT.scope(ctx, fut)
}

/// The current request context, when called inside a request.
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Record that the current request's credential reaches only `projects`.
pub fn limit_projects(projects: Arc<[ProjectId]>) {
    drop(CONTEXT.try_with(|c| c.projects.set(projects)));
}

/// The projects the current request's credential is limited to; `None`: no limit (or not in
/// a request).
pub fn project_limit() -> Option<Arc<[ProjectId]>> {
    CONTEXT
        .try_with(|c| c.projects.get().cloned())
        .ok()
        .flatten()
}
