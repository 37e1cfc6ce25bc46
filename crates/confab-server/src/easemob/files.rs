//! E-file-1 to E-file-3: uploading and downloading files, with share
//! secrets, ranges and thumbnails. Shapes: docs/research/easemob-files-history-recall.md.

use std::collections::HashMap;
use std::ops::Range;

use axum::body::Body;
use axum::extract::{Multipart, Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde_json::json;

use confab_core::error::Error;
use confab_core::files::{ByteStream, NewFile, MAX_FILE_BYTES};

use super::{AnyAuth, EasemobError};

/// The request body around a file may add this much (multipart headers).
pub const UPLOAD_BODY_LIMIT: usize = MAX_FILE_BYTES as usize + 64 * 1024;

fn too_large() -> EasemobError {
    EasemobError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file exceeding maximum limit",
        "FileExceedingMaximumLimitException",
        "the file size exceeds the maximum limit.",
    )
}

fn no_file() -> EasemobError {
    EasemobError::new(StatusCode::NOT_FOUND, "entity_not_found", "EntityNotFoundException", "file may not exists")
}

/// E-file-1: stores the multipart field `file`, streaming; `restrict-access:
/// true` makes downloads need the share secret.
pub async fn upload(auth: AnyAuth, headers: HeaderMap, mut form: Multipart) -> Result<Response, EasemobError> {
    let target = &auth.0;
    let restricted =
        headers.get("restrict-access").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Err(EasemobError::illegal_argument("file must be provided.")),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(EasemobError::illegal_argument(format!("the upload is not valid multipart: {e}"))),
        };
        if field.name() != Some("file") {
            continue;
        }
        let new = NewFile {
            filename: field.file_name().unwrap_or("file").to_owned(),
            content_type: field.content_type().map(str::to_owned),
            restricted,
        };
        let body: ByteStream<'_> = Box::pin(field.map_err(std::io::Error::other));
        let file = match target.core.files.upload(target.app.id, new, body).await {
            Ok(file) => file,
            Err(Error::TooLarge(_)) => return Err(too_large()),
            Err(e) => return Err(e.into()),
        };
        let entity = json!({"uuid": file.uuid, "type": "chatfile", "share-secret": file.secret});
        return Ok(target.envelope("post", "/chatfiles").entities(vec![entity]).into_response());
    }
}

#[derive(serde::Deserialize)]
pub struct FilePath {
    uuid: String,
}

/// E-file-2 and E-file-3: the file (or, with `thumbnail: true`, a thumbnail
/// of an image), whole or a `Range` of it.
pub async fn download(
    auth: AnyAuth,
    Path(path): Path<FilePath>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, EasemobError> {
    let target = &auth.0;
    let file = match target.core.files.get(target.app.id, &path.uuid).await {
        Ok(file) => file,
        Err(Error::NotFound(_)) => return Err(no_file()),
        Err(e) => return Err(e.into()),
    };
    let secret =
        headers.get("share-secret").and_then(|v| v.to_str().ok()).or(query.get("share-secret").map(String::as_str));
    if !target.core.files.may_read(&file, secret) {
        return Err(EasemobError::unauthorized("share-secret is missing or does not match"));
    }
    let thumbnail =
        headers.get("thumbnail").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if thumbnail {
        let (content_type, bytes) = target.core.files.thumbnail(target.app.id, &file).await?;
        let mut response = ([(header::CONTENT_TYPE, content_type.clone())], bytes).into_response();
        guard_content(response.headers_mut(), &content_type, &file.filename);
        return Ok(response);
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(raw) => match parse_range(raw, file.size) {
            Ok(range) => range,
            Err(()) => {
                let unsatisfiable = [(header::CONTENT_RANGE, format!("bytes */{}", file.size))];
                return Ok((StatusCode::RANGE_NOT_SATISFIABLE, unsatisfiable).into_response());
            }
        },
    };
    let blob = target.core.files.open(target.app.id, &file, range.clone()).await?;
    let mut response = Response::new(Body::from_stream(blob.body));
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.range.end - blob.range.start));
    if let Ok(value) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    guard_content(headers, &file.content_type, &file.filename);
    if range.is_some() {
        let value = format!("bytes {}-{}/{}", blob.range.start, blob.range.end.saturating_sub(1), blob.size);
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ASCII header"));
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// Types a browser shows inline without running anything: pictures (not
/// SVG, which is a document with scripts), sound, video and plain text.
fn passive(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match kind {
        "image" => !subtype.contains("svg") && !subtype.contains("xml"),
        "audio" | "video" => true,
        "text" => subtype == "plain",
        _ => essence == "application/octet-stream",
    }
}

/// Uploaded content is the uploader's: a browser must never sniff it into
/// something else, and anything that could run in this origin (HTML, SVG,
/// XML, scripts, and every type not known to be passive) is a download, not
/// a page.
fn guard_content(headers: &mut HeaderMap, content_type: &str, filename: &str) {
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if passive(content_type) {
        return;
    }
    let disposition = format!("attachment; filename*=UTF-8''{}", encode_filename(filename));
    let value = HeaderValue::from_str(&disposition).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    headers.insert(header::CONTENT_DISPOSITION, value);
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
}

/// RFC 5987 `filename*` value: every byte outside its few plain characters percent-encoded.
fn encode_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One `bytes=` range of a file of `size` bytes, as a half-open range.
/// `Ok(None)`: serve the whole file (several ranges, or a form not
/// understood, which the standard allows ignoring). `Err`: unsatisfiable.
fn parse_range(raw: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = raw.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        // The last `n` bytes.
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => size.saturating_sub(n)..size,
        (Ok(a), Err(_)) if end.is_empty() => a..size,
        (Ok(a), Ok(b)) if a <= b => a..(b + 1).min(size),
        _ => return Ok(None),
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn only_passive_types_are_shown_inline() {
        for passive_type in ["image/png", "image/jpeg; x=1", "audio/mpeg", "video/mp4", "text/plain; charset=utf-8"] {
            assert!(super::passive(passive_type), "{passive_type}");
        }
        for active in ["text/html", "image/svg+xml", "application/xml", "text/javascript", "application/pdf", ""] {
            assert!(!super::passive(active), "{active}");
        }
        assert_eq!(super::encode_filename("a b/ü.svg"), "a%20b%2F%C3%BC.svg");
    }

    #[test]
    fn ranges_follow_the_http_rules() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
