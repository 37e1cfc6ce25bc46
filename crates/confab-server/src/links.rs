//! Where clients reach this server, for the links confab writes (history
//! downloads, imported attachments, file URLs, envelopes' `uri`).
//!
//! Behind a TLS-terminating proxy the request confab sees is plain HTTP to
//! an inside name, so a link made from `http://{Host}` is wrong, and an
//! import writes it into a message for ever. `CONFAB_PUBLIC_URL` names the
//! outside address once; without it, links keep today's `http://{Host}`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

/// The configured public base URL, if any (kept in every request's
/// extensions by [`crate::Application`]).
#[derive(Debug, Clone, Default)]
pub struct PublicUrl(Option<Arc<str>>);

impl PublicUrl {
    /// `http(s)://host[:port][/prefix]`, with no query or fragment; a
    /// trailing `/` is dropped so links join with one.
    pub fn parse(raw: Option<&str>) -> anyhow::Result<PublicUrl> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Ok(PublicUrl(None));
        };
        let url = reqwest::Url::parse(raw).map_err(|e| anyhow::anyhow!("CONFAB_PUBLIC_URL={raw}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            anyhow::bail!("CONFAB_PUBLIC_URL={raw}: must be an http:// or https:// URL with a host");
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            anyhow::bail!("CONFAB_PUBLIC_URL={raw}: no query, fragment or user name");
        }
        Ok(PublicUrl(Some(Arc::from(url.as_str().trim_end_matches('/')))))
    }

    /// `scheme://host[/prefix]` that links start with, for a request with
    /// these headers.
    pub fn origin(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.0 {
            return url.to_string();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// The start of the links for the request in `parts` (extractors use this,
/// e.g. Easemob's `uri` prefix: `format!("{}/{org}/{app}", origin(parts))`).
pub fn origin(parts: &Parts) -> String {
    match parts.extensions.get::<PublicUrl>() {
        Some(public) => public.origin(&parts.headers),
        None => PublicUrl::default().origin(&parts.headers),
    }
}

/// The start of this request's links, as an extractor.
pub struct Origin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin(origin(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_url_replaces_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "10.0.0.5:8080".parse().unwrap());
        assert_eq!(PublicUrl::parse(None).unwrap().origin(&headers), "http://10.0.0.5:8080");
        assert_eq!(PublicUrl::parse(Some("")).unwrap().origin(&headers), "http://10.0.0.5:8080");
        let public = PublicUrl::parse(Some("https://im.example.com/")).unwrap();
        assert_eq!(public.origin(&headers), "https://im.example.com");
        let prefixed = PublicUrl::parse(Some("https://example.com/chat/")).unwrap();
        assert_eq!(prefixed.origin(&headers), "https://example.com/chat");
        for bad in ["ftp://x", "example.com", "https://x/?a=1", "https://u@x"] {
            assert!(PublicUrl::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
