//! Where file contents live: the [`BlobStore`] trait, which the file service
//! and the storage engines' neighbours (`confab-files`) share.

use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::{Error, Result};

/// Bytes arriving or leaving a piece at a time.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'a>>;

/// Where file contents live. One implementation over the `object_store`
/// crate serves both the local folder and S3-compatible storage.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes `body` under `key`. Once more than `max_bytes` have arrived it
    /// stops, keeps nothing and fails with `TooLarge`. Returns the size.
    async fn put(&self, key: &str, body: ByteStream<'_>, max_bytes: u64) -> Result<u64>;
    /// The blob's total size and the requested part of it (all without `range`).
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<Blob>>;
    async fn delete(&self, key: &str) -> Result<()>;
}

/// Part of a stored blob.
pub struct Blob {
    pub size: u64,
    pub range: Range<u64>,
    pub body: ByteStream<'static>,
}

impl Blob {
    /// Reads the whole part into memory (callers bound the size).
    pub async fn bytes(mut self) -> Result<Bytes> {
        let mut out = Vec::with_capacity((self.range.end - self.range.start) as usize);
        while let Some(chunk) = self.body.next().await {
            out.extend_from_slice(&chunk.map_err(|e| Error::Storage(format!("reading a file: {e}")))?);
        }
        Ok(out.into())
    }
}
