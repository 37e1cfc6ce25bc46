//! Apps and their credentials.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use confab_core::error::{Error, Result};
use confab_core::model::{App, AppId};
use confab_core::storage::{AppData, CredentialChange, NewApp, Provisioned};

use crate::{app_row, is_unique_violation, json, pg, PostgresStore, APP_COLUMNS};

/// Taken (per transaction) by every credential change, so that a check and
/// the write after it are one step across all nodes and `confab app` runs.
const CREDENTIALS_LOCK: i64 = 7_220_419;

#[async_trait]
impl AppData for PostgresStore {
    async fn create_app(&self, app: NewApp) -> Result<App> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREDENTIALS_LOCK]).await.map_err(pg)?;
        let created = insert_app(&tx, app).await?;
        tx.commit().await.map_err(pg)?;
        Ok(created)
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let client = self.client().await?;
        let rows = client.query(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id"), &[]).await.map_err(pg)?;
        rows.iter().map(app_row).collect()
    }

    async fn app_by_name(&self, org: &str, name: &str) -> Result<Option<App>> {
        let client = self.client().await?;
        app_named(&client, org, name).await
    }

    async fn app_by_uuid(&self, uuid: &str) -> Result<Option<App>> {
        let client = self.client().await?;
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE uuid = $1");
        client.query_opt(&sql, &[&uuid]).await.map_err(pg)?.as_ref().map(app_row).transpose()
    }

    async fn change_credentials(&self, org: &str, name: &str, change: CredentialChange) -> Result<App> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREDENTIALS_LOCK]).await.map_err(pg)?;
        let app = app_named(&tx, org, name).await?.ok_or_else(|| Error::NotFound(format!("no app {org}/{name}")))?;
        let changed = update_app(&tx, change.applied_to(&app)).await?;
        tx.commit().await.map_err(pg)?;
        Ok(changed)
    }

    async fn provision_app(&self, new: NewApp, change: CredentialChange) -> Result<Provisioned> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREDENTIALS_LOCK]).await.map_err(pg)?;
        let provisioned = match app_named(&tx, &new.org, &new.name).await? {
            None => Provisioned { before: None, after: insert_app(&tx, new).await? },
            Some(app) => {
                let after = update_app(&tx, change.applied_to(&app)).await?;
                Provisioned { before: Some(app), after }
            }
        };
        tx.commit().await.map_err(pg)?;
        Ok(provisioned)
    }

    async fn set_rate_limits(&self, app: AppId, limits: BTreeMap<String, u32>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("UPDATE apps SET rate_limits = $2 WHERE id = $1", &[&app.0, &json(&limits)?])
            .await
            .map_err(pg)?;
        Ok(())
    }
}

async fn app_named(client: &impl GenericClient, org: &str, name: &str) -> Result<Option<App>> {
    let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE org = $1 AND name = $2");
    client.query_opt(&sql, &[&org, &name]).await.map_err(pg)?.as_ref().map(app_row).transpose()
}

/// Refuses credentials another app than `app` holds, naming which (the
/// unique keys refuse them too; this says what collided).
async fn check_unique(
    client: &impl GenericClient,
    app: AppId,
    client_id: &str,
    credentials: &BTreeMap<String, String>,
) -> Result<()> {
    let taken = client
        .query_opt("SELECT 1 FROM apps WHERE client_id = $1 AND id <> $2", &[&client_id, &app.0])
        .await
        .map_err(pg)?;
    if taken.is_some() {
        return Err(Error::Duplicate("another app already has this client id".into()));
    }
    for (name, value) in credentials {
        let held = client
            .query_opt(
                "SELECT 1 FROM app_credentials WHERE name = $1 AND value = $2 AND app_id <> $3",
                &[name, value, &app.0],
            )
            .await
            .map_err(pg)?;
        if held.is_some() {
            return Err(Error::Duplicate(format!("another app already has this {name}")));
        }
    }
    Ok(())
}

async fn insert_app(client: &impl GenericClient, app: NewApp) -> Result<App> {
    if app_named(client, &app.org, &app.name).await?.is_some() {
        return Err(Error::Duplicate(format!("app {}/{} already exists", app.org, app.name)));
    }
    check_unique(client, AppId(0), &app.client_id, &app.credentials).await?;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO apps (uuid, org, name, client_id, client_secret, signing_key, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {APP_COLUMNS}"
            ),
            &[&app.uuid, &app.org, &app.name, &app.client_id, &app.client_secret, &app.signing_key, &app.created_ms],
        )
        .await
        .map_err(|e| unique(e, &app.org, &app.name))?;
    let mut created = app_row(&row)?;
    store_credentials(client, created.id, &app.credentials).await?;
    created.credentials = app.credentials;
    Ok(created)
}

async fn update_app(client: &impl GenericClient, app: App) -> Result<App> {
    check_unique(client, app.id, &app.client_id, &app.credentials).await?;
    client
        .execute(
            "UPDATE apps SET client_id = $2, client_secret = $3, signing_key = $4 WHERE id = $1",
            &[&app.id.0, &app.client_id, &app.client_secret, &app.signing_key],
        )
        .await
        .map_err(|e| unique(e, &app.org, &app.name))?;
    store_credentials(client, app.id, &app.credentials).await?;
    Ok(app)
}

async fn store_credentials(
    client: &impl GenericClient,
    app: AppId,
    credentials: &BTreeMap<String, String>,
) -> Result<()> {
    client.execute("DELETE FROM app_credentials WHERE app_id = $1", &[&app.0]).await.map_err(pg)?;
    for (name, value) in credentials {
        client
            .execute("INSERT INTO app_credentials (name, value, app_id) VALUES ($1, $2, $3)", &[name, value, &app.0])
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Duplicate(format!("another app already has this {name}"))
                } else {
                    pg(e)
                }
            })?;
    }
    client
        .execute("UPDATE apps SET credentials = $2 WHERE id = $1", &[&app.0, &json(credentials)?])
        .await
        .map_err(pg)?;
    Ok(())
}

fn unique(e: tokio_postgres::Error, org: &str, name: &str) -> Error {
    if is_unique_violation(&e) {
        return Error::Duplicate(format!("app {org}/{name} or its client id is taken by another app"));
    }
    pg(e)
}
