//! Apps' key-value settings in SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use confab_core::error::Result;
use confab_core::model::{AppId, Setting, SettingKey};
use confab_core::storage::SettingData;

use crate::{storage, SqliteStore};

fn setting(row: &Row<'_>) -> rusqlite::Result<Setting> {
    Ok(Setting {
        namespace: row.get(0)?,
        owner: row.get(1)?,
        key: row.get(2)?,
        value: row.get(3)?,
        updated_ms: row.get(4)?,
    })
}

#[async_trait]
impl SettingData for SqliteStore {
    async fn put_settings(&self, app: AppId, settings: Vec<Setting>) -> Result<()> {
        self.write(move |conn, _| {
            let mut put = conn
                .prepare_cached(
                    "INSERT INTO settings (app_id, namespace, owner, key, value, updated_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (app_id, namespace, owner, key) \
                     DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                )
                .map_err(storage)?;
            for s in &settings {
                put.execute(params![app.0, s.namespace, s.owner, s.key, s.value, s.updated_ms]).map_err(storage)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove_settings(&self, app: AppId, keys: Vec<SettingKey>) -> Result<u64> {
        self.write(move |conn, _| {
            let mut delete = conn
                .prepare_cached("DELETE FROM settings WHERE app_id = ?1 AND namespace = ?2 AND owner = ?3 AND key = ?4")
                .map_err(storage)?;
            let mut removed = 0;
            for k in &keys {
                removed += delete.execute(params![app.0, k.namespace, k.owner, k.key]).map_err(storage)? as u64;
            }
            Ok(removed)
        })
        .await
    }

    async fn setting(&self, app: AppId, key: SettingKey) -> Result<Option<Setting>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT namespace, owner, key, value, updated_ms FROM settings \
                 WHERE app_id = ?1 AND namespace = ?2 AND owner = ?3 AND key = ?4",
            )
            .and_then(|mut s| s.query_row(params![app.0, key.namespace, key.owner, key.key], setting).optional())
            .map_err(storage)
        })
        .await
    }

    async fn settings(&self, app: AppId, namespace: &str, owner: Option<&str>, limit: usize) -> Result<Vec<Setting>> {
        let (namespace, owner) = (namespace.to_owned(), owner.map(str::to_owned));
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT namespace, owner, key, value, updated_ms FROM settings \
                     WHERE app_id = ?1 AND namespace = ?2 AND (?3 IS NULL OR owner = ?3) \
                     ORDER BY owner, key LIMIT ?4",
                )
                .map_err(storage)?;
            let rows = stmt.query_map(params![app.0, namespace, owner, limit as i64], setting).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }
}
