//! Users in PostgreSQL.

use super::*;

pub(crate) async fn users_page(
    client: &impl deadpool_postgres::GenericClient,
    app: AppId,
    after: Option<i64>,
    limit: usize,
) -> Result<Page<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    let rows = client.query(&sql, &[&app.0, &after.unwrap_or(0), &(limit as i64 + 1)]).await.map_err(pg)?;
    let more = rows.len() > limit;
    let items = rows.iter().take(limit).map(user_row).collect::<Result<Vec<_>>>()?;
    let next = if more { items.last().map(|(pos, _)| *pos) } else { None };
    Ok(Page { items: items.into_iter().map(|(_, r)| r.user).collect(), next })
}

#[async_trait]
impl UserData for PostgresStore {
    async fn insert_users(&self, app: AppId, users: Vec<UserRecord>) -> Result<Vec<Result<User>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let stmt = tx
            .prepare(
                "INSERT INTO users (app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (app_id, username) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        let mut results = Vec::with_capacity(users.len());
        for record in users {
            let u = &record.user;
            let attributes = json(&u.attributes)?;
            let inserted = tx
                .execute(
                    &stmt,
                    &[
                        &app.0,
                        &u.username.as_str(),
                        &u.uuid,
                        &record.password_hash,
                        &u.nickname,
                        &u.activated,
                        &u.credential_generation,
                        &u.created_ms,
                        &u.modified_ms,
                        &attributes,
                    ],
                )
                .await
                .map_err(pg)?;
            results.push(if inserted == 1 {
                Ok(record.user)
            } else {
                Err(Error::Duplicate(format!("the user {} already exists", u.username)))
            });
        }
        tx.commit().await.map_err(pg)?;
        Ok(results)
    }

    async fn user(&self, app: AppId, username: &Username) -> Result<Option<UserRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND username = $2");
        let row = client.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r))
    }

    async fn record_login(&self, app: AppId, username: &Username, now_ms: i64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE users SET last_login_ms = $3 WHERE app_id = $1 AND username = $2",
                &[&app.0, &username.as_str(), &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn active_since(&self, app: AppId, since_ms: i64) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT COUNT(*) FROM users WHERE app_id = $1 AND last_login_ms >= $2", &[&app.0, &since_ms])
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn count_users(&self, app: AppId) -> Result<u64> {
        let client = self.client().await?;
        let row = client.query_one("SELECT COUNT(*) FROM users WHERE app_id = $1", &[&app.0]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn update_profile(
        &self,
        app: AppId,
        username: &Username,
        change: ProfileChange,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND username = $2 FOR UPDATE");
        let Some(row) = tx.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)? else {
            return Ok(None);
        };
        let (_, record) = user_row(&row)?;
        let user = record.user;
        let nickname = change.nickname.unwrap_or(user.nickname);
        let attributes = match &change.attributes {
            Some(c) => c.apply(&user.attributes)?,
            None => user.attributes,
        };
        let push = change.push.unwrap_or(user.push);
        let sql = format!(
            "UPDATE users SET nickname = $3, attributes = $4, push = $5, modified_ms = $6 \
             WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = tx
            .query_one(&sql, &[&app.0, &username.as_str(), &nickname, &json(&attributes)?, &json(&push)?, &now_ms])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(Some(user_row(&row)?.1.user))
    }

    async fn attributes_capacity(&self, app: AppId) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(OCTET_LENGTH(attributes)), 0)::BIGINT FROM users WHERE app_id = $1 AND attributes <> '{}'",
                &[&app.0],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let client = self.client().await?;
        users_page(&client, app, after, limit).await
    }

    async fn users_by_prefix(&self, app: AppId, prefix: &str, limit: usize) -> Result<Vec<User>> {
        let client = self.client().await?;
        // Byte order ("C"), as the core compares IDs; `starts_with` is exact.
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND starts_with(username, $2) \
             ORDER BY username COLLATE \"C\" LIMIT $3"
        );
        let rows = client.query(&sql, &[&app.0, &prefix, &(limit as i64)]).await.map_err(pg)?;
        rows.iter().map(|row| user_row(row).map(|(_, r)| r.user)).collect()
    }

    async fn users_with_attribute(&self, app: AppId, key: &str, value: &str, limit: usize) -> Result<Vec<User>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND attributes <> '{{}}' \
             AND (attributes::jsonb ->> $2) = $3 ORDER BY id LIMIT $4"
        );
        let rows = client.query(&sql, &[&app.0, &key, &value, &(limit as i64)]).await.map_err(pg)?;
        rows.iter().map(|row| user_row(row).map(|(_, r)| r.user)).collect()
    }

    async fn delete_user(&self, app: AppId, username: &Username) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!("DELETE FROM users WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}");
        let row = client.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }

    async fn delete_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let page = users_page(&tx, app, after, limit).await?;
        for user in &page.items {
            tx.execute("DELETE FROM users WHERE app_id = $1 AND username = $2", &[&app.0, &user.username.as_str()])
                .await
                .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(page)
    }

    async fn set_password(&self, app: AppId, username: &Username, hash: String, now_ms: i64) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET password_hash = $3, generation = generation + 1, modified_ms = $4 \
             WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&app.0, &username.as_str(), &hash, &now_ms]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }

    async fn set_activated(
        &self,
        app: AppId,
        username: &Username,
        activated: bool,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET activated = $3, modified_ms = $4 WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&app.0, &username.as_str(), &activated, &now_ms]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }
}
