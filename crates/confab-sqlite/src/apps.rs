//! Apps and their credentials.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use confab_core::error::{Error, Result};
use confab_core::model::{App, AppId};
use confab_core::storage::{AppData, CredentialChange, NewApp, Provisioned};

use crate::convert::{self, APP_COLUMNS};
use crate::{storage, SqliteStore};

#[async_trait]
impl AppData for SqliteStore {
    async fn create_app(&self, app: NewApp) -> Result<App> {
        self.write(move |conn, _| insert_app(conn, app)).await
    }

    async fn apps(&self) -> Result<Vec<App>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id")).map_err(storage)?;
            let rows = stmt.query_map([], convert::app).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn app_by_name(&self, org: &str, name: &str) -> Result<Option<App>> {
        let (org, name) = (org.to_owned(), name.to_owned());
        self.read(move |conn| app_named(conn, &org, &name)).await
    }

    async fn app_by_uuid(&self, uuid: &str) -> Result<Option<App>> {
        let uuid = uuid.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE uuid = ?1"))
                .and_then(|mut s| s.query_row(params![uuid], convert::app).optional())
                .map_err(storage)
        })
        .await
    }

    async fn change_credentials(&self, org: &str, name: &str, change: CredentialChange) -> Result<App> {
        let (org, name) = (org.to_owned(), name.to_owned());
        self.write(move |conn, _| {
            let app = app_named(conn, &org, &name)?.ok_or_else(|| Error::NotFound(format!("no app {org}/{name}")))?;
            update_app(conn, change.applied_to(&app))
        })
        .await
    }

    async fn provision_app(&self, new: NewApp, change: CredentialChange) -> Result<Provisioned> {
        // The single writer (and SQLite's write lock across processes)
        // makes the read and the write one step.
        self.write(move |conn, _| match app_named(conn, &new.org, &new.name)? {
            None => Ok(Provisioned { before: None, after: insert_app(conn, new)? }),
            Some(app) => {
                let after = update_app(conn, change.applied_to(&app))?;
                Ok(Provisioned { before: Some(app), after })
            }
        })
        .await
    }

    async fn set_rate_limits(&self, app: AppId, limits: BTreeMap<String, u32>) -> Result<()> {
        let text = convert::json(&limits)?;
        self.write(move |conn, _| {
            conn.execute("UPDATE apps SET rate_limits = ?2 WHERE id = ?1", params![app.0, text]).map_err(storage)?;
            Ok(())
        })
        .await
    }
}

fn app_named(conn: &Connection, org: &str, name: &str) -> Result<Option<App>> {
    conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE org = ?1 AND name = ?2"))
        .and_then(|mut s| s.query_row(params![org, name], convert::app).optional())
        .map_err(storage)
}

/// Refuses (before anything is written, as the writer's contract wants)
/// credentials that another app than `app` holds.
fn check_unique(conn: &Connection, app: AppId, client_id: &str, credentials: &BTreeMap<String, String>) -> Result<()> {
    let taken: bool = conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM apps WHERE client_id = ?1 AND id <> ?2)",
            params![client_id, app.0],
            |r| r.get(0),
        )
        .map_err(storage)?;
    if taken {
        return Err(Error::Duplicate("another app already has this client id".into()));
    }
    let mut held = conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM app_credentials WHERE name = ?1 AND value = ?2 AND app_id <> ?3)")
        .map_err(storage)?;
    for (name, value) in credentials {
        if held.query_row(params![name, value, app.0], |r| r.get::<_, bool>(0)).map_err(storage)? {
            return Err(Error::Duplicate(format!("another app already has this {name}")));
        }
    }
    Ok(())
}

fn insert_app(conn: &Connection, app: NewApp) -> Result<App> {
    let taken: bool = conn
        .query_row("SELECT EXISTS(SELECT 1 FROM apps WHERE org = ?1 AND name = ?2)", params![app.org, app.name], |r| {
            r.get(0)
        })
        .map_err(storage)?;
    if taken {
        return Err(Error::Duplicate(format!("app {}/{} already exists", app.org, app.name)));
    }
    check_unique(conn, AppId(0), &app.client_id, &app.credentials)?;
    conn.execute(
        "INSERT INTO apps (uuid, org, name, client_id, client_secret, signing_key, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![app.uuid, app.org, app.name, app.client_id, app.client_secret, app.signing_key, app.created_ms],
    )
    .map_err(storage)?;
    let id = AppId(conn.last_insert_rowid());
    store_credentials(conn, id, &app.credentials)?;
    Ok(App {
        id,
        uuid: app.uuid,
        org: app.org,
        name: app.name,
        client_id: app.client_id,
        client_secret: app.client_secret,
        signing_key: app.signing_key,
        created_ms: app.created_ms,
        rate_limits: Default::default(),
        credentials: app.credentials,
    })
}

fn update_app(conn: &Connection, app: App) -> Result<App> {
    check_unique(conn, app.id, &app.client_id, &app.credentials)?;
    conn.execute(
        "UPDATE apps SET client_id = ?2, client_secret = ?3, signing_key = ?4 WHERE id = ?1",
        params![app.id.0, app.client_id, app.client_secret, app.signing_key],
    )
    .map_err(storage)?;
    store_credentials(conn, app.id, &app.credentials)?;
    Ok(app)
}

fn store_credentials(conn: &Connection, app: AppId, credentials: &BTreeMap<String, String>) -> Result<()> {
    conn.execute("DELETE FROM app_credentials WHERE app_id = ?1", params![app.0]).map_err(storage)?;
    let mut insert = conn
        .prepare_cached("INSERT INTO app_credentials (name, value, app_id) VALUES (?1, ?2, ?3)")
        .map_err(storage)?;
    for (name, value) in credentials {
        insert.execute(params![name, value, app.0]).map_err(storage)?;
    }
    conn.execute("UPDATE apps SET credentials = ?2 WHERE id = ?1", params![app.0, convert::json(credentials)?])
        .map_err(storage)?;
    Ok(())
}
