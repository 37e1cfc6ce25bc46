//! [`BlobStore`] over the `object_store` crate: one implementation for the
//! local folder (the embedded default) and for S3-compatible storage (what
//! a cluster shares).
//!
//! Uploads stream: at most one part is held in memory (a small part for a
//! local folder; S3's minimum part of 5 MiB for S3), and a file that grows
//! past its limit is abandoned (its multipart upload aborted) without
//! leaving anything behind.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::AsyncWriteExt;

use confab_core::error::{Error, Result};
use confab_core::files::{Blob, BlobStore, ByteStream};

/// Where S3-compatible storage is and how to sign in to it.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host:port` for a server other than AWS (MinIO, moto, …).
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

pub struct ObjectFiles {
    store: Arc<dyn ObjectStore>,
    /// Bytes buffered before an upload becomes a multipart upload, and the size of its parts.
    part_bytes: usize,
}

impl ObjectFiles {
    /// Files under `dir` (created if missing).
    pub fn local(dir: &FsPath) -> Result<ObjectFiles> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(storage)?;
        Ok(ObjectFiles { store: Arc::new(store), part_bytes: 256 * 1024 })
    }

    pub fn s3(config: &S3Config) -> Result<ObjectFiles> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(storage)?;
        // S3 refuses parts under 5 MiB (but the last).
        Ok(ObjectFiles { store: Arc::new(store), part_bytes: 5 * 1024 * 1024 })
    }
}

fn storage(e: object_store::Error) -> Error {
    Error::Storage(format!("file storage: {e}"))
}

#[async_trait]
impl BlobStore for ObjectFiles {
    async fn put(&self, key: &str, mut body: ByteStream<'_>, max_bytes: u64) -> Result<u64> {
        let mut writer = BufWriter::with_capacity(self.store.clone(), Path::from(key), self.part_bytes);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::InvalidArgument(format!("the upload broke off: {e}")));
                }
            };
            written += chunk.len() as u64;
            if written > max_bytes {
                let _ = writer.abort().await;
                return Err(Error::TooLarge(format!("the file size exceeds the maximum limit of {max_bytes} bytes")));
            }
            if let Err(e) = writer.write_all(&chunk).await {
                let _ = writer.abort().await;
                return Err(Error::Storage(format!("file storage: {e}")));
            }
        }
        writer.shutdown().await.map_err(|e| Error::Storage(format!("file storage: {e}")))?;
        Ok(written)
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<Blob>> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = match self.store.get_opts(&Path::from(key), options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        let size = result.meta.size;
        let range = result.range.clone();
        let body: ByteStream<'static> = Box::pin(result.into_stream().map_err(std::io::Error::other));
        Ok(Some(Blob { size, range, body }))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }
}
