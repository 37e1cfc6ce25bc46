//! Operators and the audit log in PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::Row;

use confab_core::error::Result;
use confab_core::model::{AuditEntry, Operator};
use confab_core::storage::OperatorData;

use crate::{pg, PostgresStore};

fn operator(row: &Row) -> Operator {
    Operator { name: row.get(0), password_hash: row.get(1), created_ms: row.get(2), changed_ms: row.get(3) }
}

fn entry(row: &Row) -> AuditEntry {
    AuditEntry {
        id: row.get(0),
        at_ms: row.get(1),
        operator: row.get(2),
        app: row.get(3),
        action: row.get(4),
        target: row.get(5),
        detail: row.get(6),
    }
}

#[async_trait]
impl OperatorData for PostgresStore {
    async fn put_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO operators (name, password_hash, created_ms, changed_ms) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, changed_ms = excluded.changed_ms",
                &[&name, &password_hash, &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn add_first_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Nodes starting together: one at a time sees whether there is an operator.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('confab.operators'))", &[]).await.map_err(pg)?;
        let added = tx
            .execute(
                "INSERT INTO operators (name, password_hash, created_ms, changed_ms) \
                 SELECT $1, $2, $3, $3 WHERE NOT EXISTS (SELECT 1 FROM operators)",
                &[&name, &password_hash, &now_ms],
            )
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(added == 1)
    }

    async fn operator(&self, name: &str) -> Result<Option<Operator>> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT name, password_hash, created_ms, changed_ms FROM operators WHERE name = $1", &[&name])
            .await
            .map_err(pg)?;
        Ok(row.as_ref().map(operator))
    }

    async fn append_audit(&self, e: AuditEntry) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO audit_log (at_ms, operator, app, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&e.at_ms, &e.operator, &e.app, &e.action, &e.target, &e.detail],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn audit_log(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, at_ms, operator, app, action, target, detail FROM audit_log \
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[&before.unwrap_or(i64::MAX), &(limit as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(rows.iter().map(entry).collect())
    }
}
