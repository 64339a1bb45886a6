//! Server-Sent Events from a provider: lines in, `data:` payloads parsed by the provider's
//! own rules, each next piece awaited at most the idle timeout.

use super::{Limits, Piece, ProviderError};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::Stream;
use std::collections::VecDeque;

struct SseState<S, P> {
    body: S,
    buffer: Vec<u8>,
    ready: VecDeque<Piece>,
    done: bool,
    limits: Limits,
    parse: P,
}

/// The pieces of an SSE body, each awaited at most the idle timeout. `parse` turns one
/// `data:` payload into pieces, or `None` at the end of the answer.
pub fn pieces<S, P>(
    body: S,
    limits: Limits,
    parse: P,
) -> impl Stream<Item = Result<Piece, ProviderError>>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Unpin + Send + 'static,
    P: FnMut(&str) -> Result<Option<Vec<Piece>>, ProviderError> + Send + 'static,
{
    let state = SseState {
        body,
        buffer: Vec::new(),
        ready: VecDeque::new(),
        done: false,
        limits,
        parse,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(piece) = st.ready.pop_front() {
                return Some((Ok(piece), st));
            }
            if st.done {
                return None;
            }
            // A whole line in the buffer?
            if let Some(end) = st.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = st.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(data) = line.strip_prefix("data:") {
                    match (st.parse)(data.trim()) {
                        Ok(Some(found)) => st.ready.extend(found),
                        Ok(None) => st.done = true,
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    }
                }
                continue;
            }
            match tokio::time::timeout(st.limits.idle_timeout, st.body.next()).await {
                Err(_) => {
                    st.done = true;
                    return Some((Err(ProviderError::Timeout), st));
                }
                Ok(None) => {
                    st.done = true;
                    return Some((
                        Err(ProviderError::Upstream(
                            "the stream ended without [DONE]".into(),
                        )),
                        st,
                    ));
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    let err = if e.is_timeout() {
                        ProviderError::Timeout
                    } else {
                        ProviderError::Upstream("the stream broke".into())
                    };
                    return Some((Err(err), st));
                }
                Ok(Some(Ok(bytes))) => st.buffer.extend_from_slice(&bytes),
            }
        }
    })
}

/// A reqwest error without its URL (which may carry a key in its query).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<provider>");
    }
    text
}
