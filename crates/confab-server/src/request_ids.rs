//! `X-Request-Id` in and out of every request, as one layer.
//!
//! A client's usable ID is kept; an unusable one (too long, not printable) or
//! none is replaced by a new one, written into the request (where the request
//! span reads it) and answered in the response. This was three layers
//! (tower-http's set and propagate layers and an axum `from_fn` that dropped
//! unusable IDs), each with its own future, and the `from_fn` boxed one per
//! request; a send is small enough that the stack of layers around it showed
//! in the profile (docs/benchmarks.md, issue 18).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response};

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client ID kept: an ID is for finding log lines, not for carrying data.
const MAX_CLIENT_ID: usize = 128;

/// Adds [`RequestIds`] around a service.
#[derive(Clone, Copy, Default)]
pub(crate) struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIds<S>;

    fn layer(&self, inner: S) -> RequestIds<S> {
        RequestIds { inner }
    }
}

#[derive(Clone)]
pub(crate) struct RequestIds<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for RequestIds<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Answered<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(&X_REQUEST_ID) {
            Some(id) if usable(id) => id.clone(),
            _ => {
                let id = new_id();
                request.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        Answered { inner: self.inner.call(request), id: Some(id) }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, with the request's ID added.
    pub(crate) struct Answered<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for Answered<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            // A handler that set its own ID (none does today) keeps it.
            response.headers_mut().entry(X_REQUEST_ID.clone()).or_insert(id);
        }
        Poll::Ready(Ok(response))
    }
}

fn usable(id: &HeaderValue) -> bool {
    id.len() <= MAX_CLIENT_ID && !id.is_empty() && id.as_bytes().iter().all(|b| b.is_ascii_graphic())
}

/// A new ID, in the UUID form clients and log tools expect: 64 random bits
/// drawn once per process, then a counter. Unique in this process by
/// construction and, across a cluster's nodes, by the random half; one
/// request costs an increment instead of a read from the system's random
/// source.
fn new_id() -> HeaderValue {
    static PROCESS: LazyLock<u64> = LazyLock::new(rand::random);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let count = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&PROCESS.to_be_bytes());
    bytes[8..].copy_from_slice(&count.to_be_bytes());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes()).expect("a UUID is a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
        }
    }

    #[test]
    fn only_short_printable_ids_are_kept() {
        assert!(usable(&HeaderValue::from_static("trace-me-42")));
        assert!(!usable(&HeaderValue::from_static("")));
        assert!(!usable(&HeaderValue::from_static("has space")));
        assert!(!usable(&HeaderValue::from_str(&"x".repeat(MAX_CLIENT_ID + 1)).unwrap()));
        assert!(usable(&HeaderValue::from_str(&"x".repeat(MAX_CLIENT_ID)).unwrap()));
    }
}
