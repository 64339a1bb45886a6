//! The per-request context (request id, path) that error bodies and log lines carry.

use std::future::Future;

/// What every error body and log line of one request knows about it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
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
