//! Apps' key-value settings in PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::Row;

use confab_core::error::Result;
use confab_core::model::{AppId, Setting, SettingKey};
use confab_core::storage::SettingData;

use crate::{pg, PostgresStore};

fn setting(row: &Row) -> Setting {
    Setting { namespace: row.get(0), owner: row.get(1), key: row.get(2), value: row.get(3), updated_ms: row.get(4) }
}

#[async_trait]
impl SettingData for PostgresStore {
    async fn put_settings(&self, app: AppId, settings: Vec<Setting>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        for s in &settings {
            tx.execute(
                "INSERT INTO settings (app_id, namespace, owner, key, value, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, namespace, owner, key) \
                 DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                &[&app.0, &s.namespace, &s.owner, &s.key, &s.value, &s.updated_ms],
            )
            .await
            .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)
    }

    async fn remove_settings(&self, app: AppId, keys: Vec<SettingKey>) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let mut removed = 0;
        for k in &keys {
            removed += tx
                .execute(
                    "DELETE FROM settings WHERE app_id = $1 AND namespace = $2 AND owner = $3 AND key = $4",
                    &[&app.0, &k.namespace, &k.owner, &k.key],
                )
                .await
                .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(removed)
    }

    async fn setting(&self, app: AppId, key: SettingKey) -> Result<Option<Setting>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT namespace, owner, key, value, updated_ms FROM settings \
                 WHERE app_id = $1 AND namespace = $2 AND owner = $3 AND key = $4",
                &[&app.0, &key.namespace, &key.owner, &key.key],
            )
            .await
            .map_err(pg)?;
        Ok(row.as_ref().map(setting))
    }

    async fn settings(&self, app: AppId, namespace: &str, owner: Option<&str>, limit: usize) -> Result<Vec<Setting>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT namespace, owner, key, value, updated_ms FROM settings \
                 WHERE app_id = $1 AND namespace = $2 AND ($3::TEXT IS NULL OR owner = $3) \
                 ORDER BY owner, key LIMIT $4",
                &[&app.0, &namespace, &owner, &(limit as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(setting).collect())
    }
}
