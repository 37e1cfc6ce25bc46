//! Operators and the audit log in SQLite.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row};

use confab_core::error::Result;
use confab_core::model::{AuditEntry, Operator};
use confab_core::storage::OperatorData;

use crate::{storage, SqliteStore};

fn operator(row: &Row<'_>) -> rusqlite::Result<Operator> {
    Ok(Operator { name: row.get(0)?, password_hash: row.get(1)?, created_ms: row.get(2)?, changed_ms: row.get(3)? })
}

fn entry(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        at_ms: row.get(1)?,
        operator: row.get(2)?,
        app: row.get(3)?,
        action: row.get(4)?,
        target: row.get(5)?,
        detail: row.get(6)?,
    })
}

#[async_trait]
impl OperatorData for SqliteStore {
    async fn put_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<()> {
        let name = name.to_owned();
        self.write(move |conn, _| {
            conn.prepare_cached(
                "INSERT INTO operators (name, password_hash, created_ms, changed_ms) VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, changed_ms = excluded.changed_ms",
            )
            .and_then(|mut s| s.execute(params![name, password_hash, now_ms]))
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn add_first_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<bool> {
        let name = name.to_owned();
        // The single writer makes the check and the insert one step.
        self.write(move |conn, _| {
            let added = conn
                .prepare_cached(
                    "INSERT INTO operators (name, password_hash, created_ms, changed_ms) \
                     SELECT ?1, ?2, ?3, ?3 WHERE NOT EXISTS (SELECT 1 FROM operators)",
                )
                .and_then(|mut s| s.execute(params![name, password_hash, now_ms]))
                .map_err(storage)?;
            Ok(added == 1)
        })
        .await
    }

    async fn operator(&self, name: &str) -> Result<Option<Operator>> {
        let name = name.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT name, password_hash, created_ms, changed_ms FROM operators WHERE name = ?1")
                .and_then(|mut s| s.query_row(params![name], operator).optional())
                .map_err(storage)
        })
        .await
    }

    async fn append_audit(&self, e: AuditEntry) -> Result<()> {
        self.write(move |conn, _| {
            conn.prepare_cached(
                "INSERT INTO audit_log (at_ms, operator, app, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| s.execute(params![e.at_ms, e.operator, e.app, e.action, e.target, e.detail]))
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, at_ms, operator, app, action, target, detail FROM audit_log \
                     WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
                )
                .map_err(storage)?;
            let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit as i64], entry).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }
}
