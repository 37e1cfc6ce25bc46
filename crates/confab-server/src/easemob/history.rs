//! E-hist-1 (hourly history files behind expiring links) and E-hist-2 (the
//! legacy `ql` query). Record format: docs/research/easemob-files-history-recall.md.
//!
//! A background job writes each hour's file once the hour is over, for as
//! many hours back as the app keeps history (`easemob.history_retention_hours`),
//! and deletes older ones; a request for an hour whose file is missing makes
//! it on the spot. Files are gzip-compressed JSON lines, one per message,
//! kept in the file storage (the data folder or S3) and streamed in and out
//! a page of messages at a time.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use futures_util::TryStreamExt as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use confab_core::auth;
use confab_core::files::ByteStream;
use confab_core::ids::MessageId;
use confab_core::model::{App, ChatType, Message, MessageMark, MessageState};
use confab_core::Core;

use super::{decode_cursor_pair, encode_cursor_pair, page_limit, AppAuth, EasemobError, Target};
use crate::background;
use crate::limits::{RateLimits, EASEMOB_HISTORY_RETENTION_HOURS};
use crate::links::Origin;
use crate::metrics::{Metrics, Outcome};

const HOUR_MS: i64 = 3_600_000;
/// How long a download link works (the vendor's 30 minutes).
const LINK_LIFETIME_S: i64 = 30 * 60;
/// Messages read from storage per page, when writing a file or answering a query.
const EXPORT_PAGE: usize = 1000;
/// Marks read per page when checking whether a file is current.
const MARK_PAGE: usize = 10_000;
/// Most records one `ql` query returns.
const MAX_QUERY_LIMIT: usize = 1000;

/// The vendor's name for a message's chat type: it knows one-to-one chats,
/// groups (threads are group messages to it) and chat rooms.
pub(crate) fn easemob_chat_type(kind: ChatType) -> &'static str {
    match kind {
        ChatType::Chat | ChatType::Broadcast => "chat",
        ChatType::GroupChat | ChatType::Thread | ChatType::Channel => "groupchat",
        ChatType::ChatRoom => "chatroom",
    }
}

/// The vendor's record of one message.
fn record(message: &Message) -> Value {
    let chat_type = easemob_chat_type(message.chat_type);
    let mut record = json!({
        "msg_id": message.id.to_string(),
        "timestamp": message.timestamp_ms,
        "direction": "outgoing",
        "to": message.to,
        "from": message.from.as_str(),
        "chat_type": chat_type,
        "payload": payload(message),
    });
    // confab's addition: history says which messages were recalled.
    if matches!(message.state, MessageState::Recalled { .. }) {
        record["recalled"] = json!(true);
    }
    record
}

/// A message's content as the vendor's REST API and history carry it.
pub(crate) fn payload(message: &Message) -> Value {
    json!({
        "bodies": [confab_wire::body_json(&message.body)],
        "ext": message.ext.clone().unwrap_or_else(|| json!({})),
        "from": message.from.as_str(),
        "to": message.to,
    })
}

/// `yyyyMMddHH` (UTC) to the hour's first millisecond.
fn parse_hour(raw: &str) -> Option<i64> {
    if raw.len() != 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(&format!("{raw}00"), "%Y%m%d%H%M").ok()?;
    Some(at.and_utc().timestamp_millis())
}

fn format_hour(start_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(start_ms).map(|t| t.format("%Y%m%d%H").to_string()).unwrap_or_default()
}

fn export_key(app: &App, hour: &str) -> String {
    format!("exports/{}/{hour}.gz", app.id.0)
}

fn not_stored(app: &App, hour: &str) -> EasemobError {
    EasemobError::illegal_argument(format!(
        "illegal arguments: appkey: {}#{}, time: {hour}, maybe chat message history is expired or unstored",
        app.org, app.name
    ))
}

/// Where the digest of what an hour's file holds is kept, beside the file.
fn mark_key(app: &App, hour: &str) -> String {
    format!("exports/{}/{hour}.mark", app.id.0)
}

/// A digest of an hour's messages as a file shows them: each one's ID, time
/// and state. Messages imported into the hour later, and recalls, edits and
/// deletes made after the file was written (through any dialect), change
/// it; so the file is written again rather than served stale for ever.
#[derive(Default)]
struct Fingerprint(Sha256);

impl Fingerprint {
    fn add(&mut self, mark: &MessageMark) {
        self.0.update(mark.id.0.to_be_bytes());
        self.0.update(mark.timestamp_ms.to_be_bytes());
        self.0.update(mark.state.to_be_bytes());
        self.0.update(mark.state_at_ms.to_be_bytes());
    }

    fn finish(self) -> String {
        confab_core::auth::hex(&self.0.finalize())
    }
}

/// The digest of the hour's messages as storage holds them now (their
/// marks only: no contents are read).
async fn fingerprint(core: &Core, app: &App, hour_start: i64) -> confab_core::error::Result<String> {
    let mut digest = Fingerprint::default();
    let mut after = None;
    loop {
        let page = core.messages.marks_between(app.id, hour_start..hour_start + HOUR_MS, after, MARK_PAGE).await?;
        page.iter().for_each(|m| digest.add(m));
        if page.len() < MARK_PAGE {
            return Ok(digest.finish());
        }
        after = page.last().map(|m| (m.timestamp_ms, m.id));
    }
}

/// The digest an hour's file was written with, if it has one.
async fn written_mark(core: &Core, app: &App, hour: &str) -> confab_core::error::Result<Option<String>> {
    let Some(blob) = core.files.made(&mark_key(app, hour)).await? else {
        return Ok(None);
    };
    let bytes: Vec<bytes::Bytes> = blob
        .body
        .try_collect()
        .await
        .map_err(|e| confab_core::error::Error::Storage(format!("reading {}: {e}", mark_key(app, hour))))?;
    Ok(Some(bytes.concat().iter().map(|b| *b as char).collect()))
}

/// Makes sure the hour's file holds what the hour holds now: written if
/// missing, written again if its messages changed since.
async fn ensure_current(core: &Core, app: &App, hour_start: i64) -> confab_core::error::Result<()> {
    let hour = format_hour(hour_start);
    // A file never written needs no digest to tell it is missing.
    let Some(written) = written_mark(core, app, &hour).await? else {
        return write_export(core, app, hour_start).await;
    };
    let now = fingerprint(core, app, hour_start).await?;
    if written == now && core.files.made_exists(&export_key(app, &hour)).await? {
        return Ok(());
    }
    write_export(core, app, hour_start).await
}

/// Writes one hour's file: every message sent in it, oldest first; then
/// the digest of what it wrote. Pages are read here and encoded on the
/// background thread (`crate::background`): a file is about a minute of
/// one core per million messages, which must not hold a runtime worker.
async fn write_export(core: &Core, app: &App, hour_start: i64) -> confab_core::error::Result<()> {
    struct Writer {
        encoder: Option<GzEncoder<Vec<u8>>>,
        after: Option<(i64, MessageId)>,
    }
    let hours = hour_start..hour_start + HOUR_MS;
    let digest = Arc::new(Mutex::new(Fingerprint::default()));
    let start = Writer { encoder: Some(GzEncoder::new(Vec::new(), Compression::default())), after: None };
    // A page of messages at a time is compressed and handed to storage.
    let pages = futures_util::stream::unfold(start, |mut writer| {
        let hours = hours.clone();
        let digest = digest.clone();
        async move {
            let encoder = writer.encoder.take()?;
            let page = match core.messages.sent_between(app.id, hours, writer.after, EXPORT_PAGE).await {
                Ok(page) => page,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), writer)),
            };
            let last = page.len() < EXPORT_PAGE;
            writer.after = page.last().map(|m| (m.timestamp_ms, m.id));
            let (encoder, chunk) = background::run(move || encode_page(encoder, &page, &digest, last)).await;
            writer.encoder = encoder;
            Some((chunk.map(Into::into), writer))
        }
    });
    let hour = format_hour(hour_start);
    let body: ByteStream<'_> = Box::pin(pages);
    core.files.put_made(&export_key(app, &hour), body).await?;
    let mark = std::mem::take(&mut *digest.lock().unwrap_or_else(|e| e.into_inner())).finish();
    let mark: ByteStream<'_> = Box::pin(futures_util::stream::once(async move { Ok(mark.into_bytes().into()) }));
    core.files.put_made(&mark_key(app, &hour), mark).await?;
    Ok(())
}

/// Adds a page of messages to an hour's file: their records to the
/// compressed stream and their marks to the digest. Returns the compressed
/// bytes ready so far and the encoder for the next page (none after the
/// last page, or once writing failed).
fn encode_page(
    mut encoder: GzEncoder<Vec<u8>>,
    page: &[Message],
    digest: &Mutex<Fingerprint>,
    last: bool,
) -> (Option<GzEncoder<Vec<u8>>>, std::io::Result<Vec<u8>>) {
    let mut digest = digest.lock().unwrap_or_else(|e| e.into_inner());
    for message in page {
        digest.add(&MessageMark::of(message));
        let line = serde_json::to_vec(&record(message)).expect("records serialize");
        if let Err(e) = encoder.write_all(&line).and_then(|()| encoder.write_all(b"\n")) {
            return (None, Err(e));
        }
    }
    if last {
        return (None, encoder.finish());
    }
    let chunk = std::mem::take(encoder.get_mut());
    (Some(encoder), Ok(chunk))
}

/// E-hist-1: a link (valid 30 minutes, no token needed) to the file of one
/// hour's messages. 400 for an hour not over yet or past the app's retention.
pub async fn export_link(
    AppAuth(target): AppAuth,
    Origin(origin): Origin,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let hour = super::param(&params, "time").to_owned();
    let app = target.app.clone();
    let Some(start) = parse_hour(&hour) else {
        return Err(EasemobError::illegal_argument(format!(
            "illegal arguments: appkey: {}#{}, time: {hour}",
            app.org, app.name
        )));
    };
    let now = target.core.now_ms();
    let retention = i64::from(target.limits.value(&app, EASEMOB_HISTORY_RETENTION_HOURS));
    if start + HOUR_MS > now || start < (now / HOUR_MS - retention) * HOUR_MS {
        return Err(not_stored(&app, &hour));
    }
    let key = export_key(&app, &hour);
    ensure_current(&target.core, &app, start).await?;
    let expires = now / 1000 + LINK_LIFETIME_S;
    let signature = auth::sign_link(&app, &key, expires);
    let url =
        format!("{origin}/{}/{}/chatmessages/{hour}/file?Expires={expires}&Signature={signature}", app.org, app.name);
    let path = format!("/chatmessages/{hour}");
    Ok(target.envelope("get", &path).data(json!([{"url": url}])).into_response())
}

/// The file behind an E-hist-1 link: a plain `GET`, checked by its signature.
pub async fn export_file(
    target: Target,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let hour = super::param(&params, "time");
    let app = target.app.clone();
    let key = export_key(&app, hour);
    let expires = query.get("Expires").and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
    let signature = query.get("Signature").map(String::as_str).unwrap_or_default();
    if !auth::verify_link(&app, &key, expires, signature, target.core.now_ms()) {
        return Err(EasemobError::unauthorized("the link is not valid or has expired"));
    }
    // What was imported into the hour or recalled since the link was made is in the file.
    // (An hour whose file is gone, past retention, stays gone.)
    if let Some(start) = parse_hour(hour) {
        if target.core.files.made_exists(&key).await? {
            ensure_current(&target.core, &app, start).await?;
        }
    }
    let blob = target.core.files.made(&key).await?.ok_or_else(|| {
        EasemobError::new(
            StatusCode::NOT_FOUND,
            "storage_object_not_found",
            "StorageObjectNotFoundException",
            format!(
                "Failed to find chat message history download url for appkey: {}#{}, time: {hour}",
                app.org, app.name
            ),
        )
    })?;
    let headers =
        [(header::CONTENT_TYPE, "application/gzip".to_owned()), (header::CONTENT_LENGTH, blob.size.to_string())];
    Ok((headers, Body::from_stream(blob.body)).into_response())
}

fn ql_pattern() -> &'static regex::Regex {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(r"(?i)^\s*select\s+\*\s+where\s+timestamp\s*([<>])\s*(\d{1,18})\s*$").expect("valid regex")
    })
}

/// E-hist-2: `ql=select * where timestamp>T` (or `<T`), oldest first,
/// `limit` (default 10, at most 1000) at a time with a `cursor`.
pub async fn query(
    AppAuth(target): AppAuth,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let ql = query.get("ql").map(String::as_str).unwrap_or_default();
    let captures = ql_pattern().captures(ql).ok_or_else(|| {
        EasemobError::illegal_argument(format!("ql [{ql}] is not select * where timestamp>T or timestamp<T"))
    })?;
    let at: i64 = captures[2].parse().map_err(|_| EasemobError::illegal_argument("the timestamp is too large"))?;
    let sent = if &captures[1] == ">" { at.saturating_add(1)..i64::MAX } else { i64::MIN..at };
    let limit = page_limit(&query, "limit", 10, MAX_QUERY_LIMIT)?;
    let after = match query.get("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => Some(decode_cursor_pair(cursor)?),
        None => None,
    };
    let mut page = target.core.messages.sent_between(target.app.id, sent, after, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let entities: Vec<Value> = page.iter().map(record).collect();
    let mut envelope = target.envelope("get", "/chatmessages").with("count", json!(entities.len())).entities(entities);
    if let (true, Some(last)) = (more, page.last()) {
        envelope = envelope.with("cursor", json!(encode_cursor_pair(last.timestamp_ms, last.id)));
    }
    Ok(envelope.into_response())
}

/// Writes every app's finished hours that have no file yet (within the
/// app's retention) and deletes files past it, every `every`.
pub async fn run_exports(core: Arc<Core>, limits: Arc<RateLimits>, metrics: Arc<Metrics>, every: Duration) {
    loop {
        let started = std::time::Instant::now();
        let mut files = 0;
        let outcome = match export_due(&core, &limits, &mut files).await {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                tracing::warn!("writing history files failed: {e}");
                Outcome::Failed
            }
        };
        metrics.exports.ran(outcome, started.elapsed().as_secs_f64(), files);
        tokio::time::sleep(every).await;
    }
}

/// Writes what is due; `files` counts the files written, also when a later one fails.
async fn export_due(core: &Core, limits: &RateLimits, files: &mut u64) -> confab_core::error::Result<()> {
    let last_finished = (core.now_ms() / HOUR_MS - 1) * HOUR_MS;
    for app in core.apps.all().await?.iter() {
        let retention = i64::from(limits.value(app, EASEMOB_HISTORY_RETENTION_HOURS));
        let first_kept = last_finished - (retention - 1) * HOUR_MS;
        let first = first_kept.max(app.created_ms / HOUR_MS * HOUR_MS);
        let mut hour = first;
        while hour <= last_finished {
            let key = export_key(app, &format_hour(hour));
            if !core.files.made_exists(&key).await? {
                write_export(core, app, hour).await?;
                *files += 1;
            }
            hour += HOUR_MS;
        }
        // A day's worth of hours past retention, in case the job was down a while.
        let mut old = first_kept - 24 * HOUR_MS;
        while old < first_kept {
            core.files.delete_made(&export_key(app, &format_hour(old))).await?;
            core.files.delete_made(&mark_key(app, &format_hour(old))).await?;
            old += HOUR_MS;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_utc_and_strict() {
        assert_eq!(parse_hour("2018112717"), Some(1_543_338_000_000));
        assert_eq!(format_hour(1_543_338_000_000), "2018112717");
        assert_eq!(parse_hour("2018113217"), None);
        assert_eq!(parse_hour("201811271"), None);
        assert_eq!(parse_hour("2018112725"), None);
    }

    /// A history file's line, pinned: exports written yesterday are read by
    /// the app's own tools, and `import` reads them back.
    #[test]
    fn a_record_has_the_golden_shape() {
        use confab_core::model::{AppId, Body, ConversationId, Username};
        let ann = Username::parse("ann").unwrap();
        let message = Message {
            id: MessageId(99),
            app: AppId(1),
            conversation: ConversationId(3),
            seq: 1,
            chat_type: ChatType::GroupChat,
            from: ann.clone(),
            to: "g1".into(),
            body: Body::Text { msg: "hi".into() },
            ext: Some(json!({"k": 1})),
            timestamp_ms: 1_543_338_000_000,
            sync_sender: false,
            origin_device: None,
            original: None,
            receivers: None,
            state: MessageState::Recalled { by: ann, at_ms: 1 },
        };
        assert_eq!(
            record(&message),
            json!({"msg_id": "99", "timestamp": 1_543_338_000_000i64, "direction": "outgoing", "to": "g1",
                   "from": "ann", "chat_type": "groupchat", "recalled": true,
                   "payload": {"bodies": [{"type": "txt", "msg": "hi"}], "ext": {"k": 1}, "from": "ann", "to": "g1"}})
        );
    }

    #[test]
    fn ql_accepts_only_the_timestamp_forms() {
        assert!(ql_pattern().is_match("select * where timestamp>1403164734226"));
        assert!(ql_pattern().is_match("SELECT * WHERE timestamp < 5"));
        assert!(!ql_pattern().is_match("select * where timestamp>1 and from='a'"));
        assert!(!ql_pattern().is_match("delete * where timestamp>1"));
    }
}
