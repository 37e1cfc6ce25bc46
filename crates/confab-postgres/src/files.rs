//! What is known about stored files, in PostgreSQL.

use async_trait::async_trait;

use confab_core::error::Result;
use confab_core::model::AppId;
use confab_core::model::StoredFile;
use confab_core::storage::FileData;

use crate::{pg, PostgresStore};

#[async_trait]
impl FileData for PostgresStore {
    async fn insert_file(&self, app: AppId, file: StoredFile) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO files (app_id, uuid, filename, content_type, size, secret, restricted, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &app.0,
                    &file.uuid,
                    &file.filename,
                    &file.content_type,
                    &(file.size as i64),
                    &file.secret,
                    &file.restricted,
                    &file.created_ms,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn file(&self, app: AppId, uuid: &str) -> Result<Option<StoredFile>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT uuid, filename, content_type, size, secret, restricted, created_ms FROM files \
                 WHERE app_id = $1 AND uuid = $2",
                &[&app.0, &uuid],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| StoredFile {
            uuid: r.get(0),
            filename: r.get(1),
            content_type: r.get(2),
            size: r.get::<_, i64>(3) as u64,
            secret: r.get(4),
            restricted: r.get(5),
            created_ms: r.get(6),
        }))
    }
}
