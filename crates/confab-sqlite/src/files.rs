//! What is known about stored files, in SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use confab_core::error::Result;
use confab_core::model::AppId;
use confab_core::model::StoredFile;
use confab_core::storage::FileData;

use crate::{storage, SqliteStore};

#[async_trait]
impl FileData for SqliteStore {
    async fn insert_file(&self, app: AppId, file: StoredFile) -> Result<()> {
        self.write(move |conn, _| {
            conn.execute(
                "INSERT INTO files (app_id, uuid, filename, content_type, size, secret, restricted, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    app.0,
                    file.uuid,
                    file.filename,
                    file.content_type,
                    file.size as i64,
                    file.secret,
                    file.restricted,
                    file.created_ms
                ],
            )
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn file(&self, app: AppId, uuid: &str) -> Result<Option<StoredFile>> {
        let uuid = uuid.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT uuid, filename, content_type, size, secret, restricted, created_ms FROM files \
                 WHERE app_id = ?1 AND uuid = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![app.0, uuid], |r| {
                    Ok(StoredFile {
                        uuid: r.get(0)?,
                        filename: r.get(1)?,
                        content_type: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        secret: r.get(4)?,
                        restricted: r.get(5)?,
                        created_ms: r.get(6)?,
                    })
                })
                .optional()
            })
            .map_err(storage)
        })
        .await
    }
}
