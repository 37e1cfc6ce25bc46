//! Files people send in messages: stored under names the server makes, with
//! an optional share secret, and thumbnails made on first request.
//!
//! The bytes live in a [`BlobStore`] (a local folder or S3-compatible
//! storage); what is known about each file (name, type, size, secret) is in
//! the database ([`crate::storage::FileData`]).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use crate::auth;
pub use crate::blobs::{Blob, BlobStore, ByteStream};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{AppId, StoredFile};

/// Largest file accepted (the vendor's default).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Thumbnails fit in a square of this many pixels (the vendor's default).
pub const THUMBNAIL_PX: u32 = 170;
/// An image this small is its own thumbnail.
const OWN_THUMBNAIL_BYTES: u64 = 10 * 1024;
/// Largest image decoded for a thumbnail: width and height in pixels, and
/// memory. A decompression bomb (a small file claiming a vast image) is
/// refused before it is decoded.
const MAX_IMAGE_SIDE: u32 = 12_000;
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

impl StoredFile {
    fn key(&self, app: AppId) -> String {
        format!("files/{}/{}", app.0, self.uuid)
    }

    fn thumbnail_key(&self, app: AppId) -> String {
        format!("files/{}/{}.thumb", app.0, self.uuid)
    }
}

/// A file as uploaded, before it is stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub filename: String,
    pub content_type: Option<String>,
    pub restricted: bool,
}

#[derive(Clone)]
pub struct FileService {
    deps: Arc<Deps>,
}

impl FileService {
    pub(crate) fn new(deps: Arc<Deps>) -> FileService {
        FileService { deps }
    }

    /// Streams a file into storage under a new name; nothing is kept when
    /// it is larger than [`MAX_FILE_BYTES`].
    pub async fn upload(&self, app: AppId, new: NewFile, body: ByteStream<'_>) -> Result<StoredFile> {
        let mut file = StoredFile {
            uuid: auth::random_uuid(),
            filename: clean_name(&new.filename),
            content_type: new
                .content_type
                .filter(|t| valid_content_type(t))
                .unwrap_or_else(|| guess_type(&new.filename)),
            size: 0,
            secret: auth::random_key(12),
            restricted: new.restricted,
            created_ms: self.deps.clock.now_ms(),
        };
        file.size = self.deps.blobs.put(&file.key(app), body, MAX_FILE_BYTES).await?;
        if let Err(e) = self.deps.store.insert_file(app, file.clone()).await {
            let _ = self.deps.blobs.delete(&file.key(app)).await;
            return Err(e);
        }
        Ok(file)
    }

    pub async fn get(&self, app: AppId, uuid: &str) -> Result<StoredFile> {
        self.deps.store.file(app, uuid).await?.ok_or_else(|| Error::NotFound(format!("file {uuid} not found")))
    }

    /// Stores a file the server made itself (a history export) under `key`.
    pub async fn put_made(&self, key: &str, body: ByteStream<'_>) -> Result<u64> {
        self.deps.blobs.put(key, body, u64::MAX).await
    }

    /// A file the server made, if it exists.
    pub async fn made(&self, key: &str) -> Result<Option<Blob>> {
        self.deps.blobs.get(key, None).await
    }

    pub async fn made_exists(&self, key: &str) -> Result<bool> {
        Ok(self.deps.blobs.get(key, Some(0..1)).await?.is_some())
    }

    pub async fn delete_made(&self, key: &str) -> Result<()> {
        self.deps.blobs.delete(key).await
    }

    /// Whether `given` opens the file: any caller for an unrestricted file,
    /// the right share secret (compared in constant time) otherwise.
    pub fn may_read(&self, file: &StoredFile, given: Option<&str>) -> bool {
        !file.restricted || given.is_some_and(|g| auth::secrets_equal(g, &file.secret))
    }

    /// The file's contents, or part of them.
    pub async fn open(&self, app: AppId, file: &StoredFile, range: Option<Range<u64>>) -> Result<Blob> {
        let blob = self.deps.blobs.get(&file.key(app), range).await?;
        blob.ok_or_else(|| Error::NotFound(format!("file {} has no contents", file.uuid)))
    }

    /// A thumbnail of an image file (made once, then kept): its content type
    /// and bytes. A small image is its own thumbnail; other files have none.
    pub async fn thumbnail(&self, app: AppId, file: &StoredFile) -> Result<(String, Bytes)> {
        if !file.content_type.starts_with("image/") {
            return Err(Error::InvalidArgument(format!("file {} is not an image", file.uuid)));
        }
        if file.size <= OWN_THUMBNAIL_BYTES {
            return Ok((file.content_type.clone(), self.open(app, file, None).await?.bytes().await?));
        }
        if let Some(made) = self.deps.blobs.get(&file.thumbnail_key(app), None).await? {
            return Ok(("image/jpeg".into(), made.bytes().await?));
        }
        let original = self.open(app, file, None).await?.bytes().await?;
        let made = tokio::task::spawn_blocking(move || make_thumbnail(&original))
            .await
            .map_err(|e| Error::Storage(format!("thumbnail task failed: {e}")))??;
        let body: ByteStream<'_> = Box::pin(futures_util::stream::iter([Ok(made.clone())]));
        self.deps.blobs.put(&file.thumbnail_key(app), body, MAX_FILE_BYTES).await?;
        Ok(("image/jpeg".into(), made))
    }
}

/// Decodes an image within the limits and scales it into the thumbnail square.
fn make_thumbnail(original: &[u8]) -> Result<Bytes> {
    let unreadable = |e: image::ImageError| Error::InvalidArgument(format!("cannot read the image: {e}"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(original))
        .with_guessed_format()
        .map_err(|e| Error::InvalidArgument(format!("cannot read the image: {e}")))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::InvalidArgument(format!(
            "the image is too large to make a thumbnail of (at most {MAX_IMAGE_SIDE} pixels a side)"
        )),
        other => unreadable(other),
    })?;
    let small = decoded.thumbnail(THUMBNAIL_PX, THUMBNAIL_PX).into_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Jpeg).map_err(unreadable)?;
    Ok(out.into_inner().into())
}

/// The uploader's file name, kept only for display: no path, no control
/// characters, at most 255 characters.
fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(255).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "file".into()
    } else {
        cleaned
    }
}

fn valid_content_type(t: &str) -> bool {
    let ok =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    match t.split_once('/') {
        Some((kind, sub)) => t.len() <= 100 && ok(kind) && ok(sub),
        None => false,
    }
}

fn guess_type(filename: &str) -> String {
    let extension = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "mp4" => "video/mp4",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_uploaders_never_become_paths() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\x\\a.png"), "a.png");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name("a\u{0}b\"c.txt"), "abc.txt");
    }

    #[test]
    fn a_vast_image_is_refused_before_decoding() {
        // A PNG header (checksum and all) claiming 100,000 × 100,000 pixels, with no data.
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&100_000u32.to_be_bytes());
        chunk.extend_from_slice(&100_000u32.to_be_bytes());
        chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut crc = 0xffff_ffffu32;
        for byte in &chunk {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&(!crc).to_be_bytes());
        let refused = make_thumbnail(&png).unwrap_err();
        assert!(refused.to_string().contains("too large"), "{refused}");
    }
}
