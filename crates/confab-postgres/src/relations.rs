//! Contacts, block lists and global mutes in PostgreSQL.

use async_trait::async_trait;

use confab_core::error::{Error, Result};
use confab_core::model::{AppId, ChatType, Username};
use confab_core::model::{GlobalMute, Relation};
use confab_core::storage::RelationData;

use crate::{pg, PostgresStore};

#[async_trait]
impl RelationData for PostgresStore {
    async fn add_relations(
        &self,
        app: AppId,
        relation: Relation,
        owner: &Username,
        others: Vec<Username>,
        cap: usize,
        now_ms: i64,
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let mutual = relation == Relation::Contact;
        // Every user whose count the cap bounds is locked, in one order, so
        // racing adds can neither pass the cap nor deadlock.
        let mut locked: Vec<&str> = vec![owner.as_str()];
        if mutual {
            locked.extend(others.iter().map(Username::as_str));
        }
        locked.sort_unstable();
        locked.dedup();
        for user in &locked {
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", &[&format!("rel:{user}"), &app.0])
                .await
                .map_err(pg)?;
        }
        let others: Vec<&str> = others.iter().map(Username::as_str).collect();
        let new: Vec<String> = tx
            .query(
                "SELECT o FROM UNNEST($4::TEXT[]) AS o WHERE NOT EXISTS \
                 (SELECT 1 FROM relations WHERE app_id = $1 AND owner = $2 AND kind = $3 AND other = o)",
                &[&app.0, &owner.as_str(), &relation.code(), &others],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let counted: Vec<String> = if mutual {
            std::iter::once(owner.as_str().to_owned()).chain(new.iter().cloned()).collect()
        } else {
            vec![owner.as_str().to_owned()]
        };
        for user in &counted {
            let row = tx
                .query_one(
                    "SELECT COUNT(*) FROM relations WHERE app_id = $1 AND owner = $2 AND kind = $3",
                    &[&app.0, user, &relation.code()],
                )
                .await
                .map_err(pg)?;
            let adding = if user == owner.as_str() { new.len() } else { 1 };
            if row.get::<_, i64>(0) as usize + adding > cap {
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO relations (app_id, owner, kind, other, created_ms) \
             SELECT $1, $2, $3, o, $5 FROM UNNEST($4::TEXT[]) AS o ON CONFLICT DO NOTHING",
            &[&app.0, &owner.as_str(), &relation.code(), &new, &now_ms],
        )
        .await
        .map_err(pg)?;
        if mutual {
            tx.execute(
                "INSERT INTO relations (app_id, owner, kind, other, created_ms) \
                 SELECT $1, o, $3, $2, $5 FROM UNNEST($4::TEXT[]) AS o ON CONFLICT DO NOTHING",
                &[&app.0, &owner.as_str(), &relation.code(), &new, &now_ms],
            )
            .await
            .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    async fn remove_relation(
        &self,
        app: AppId,
        relation: Relation,
        owner: &Username,
        other: &Username,
    ) -> Result<bool> {
        let client = self.client().await?;
        let sql = if relation == Relation::Contact {
            "DELETE FROM relations WHERE app_id = $1 AND kind = $2 \
             AND ((owner = $3 AND other = $4) OR (owner = $4 AND other = $3))"
        } else {
            "DELETE FROM relations WHERE app_id = $1 AND kind = $2 AND owner = $3 AND other = $4"
        };
        let removed =
            client.execute(sql, &[&app.0, &relation.code(), &owner.as_str(), &other.as_str()]).await.map_err(pg)?;
        Ok(removed > 0)
    }

    async fn relations(&self, app: AppId, relation: Relation, owner: &Username) -> Result<Vec<(Username, i64)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT other, created_ms FROM relations WHERE app_id = $1 AND owner = $2 AND kind = $3 \
                 ORDER BY created_ms DESC, other",
                &[&app.0, &owner.as_str(), &relation.code()],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(|r| Ok((Username::parse(r.get(0))?, r.get(1)))).collect()
    }

    async fn all_blocks(&self, app: AppId) -> Result<Vec<(Username, Username)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT owner, other FROM relations WHERE app_id = $1 AND kind = $2",
                &[&app.0, &Relation::Block.code()],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(|r| Ok((Username::parse(r.get(0))?, Username::parse(r.get(1))?))).collect()
    }

    async fn set_global_mute(&self, app: AppId, user: &Username, kind: ChatType, until_ms: Option<i64>) -> Result<()> {
        let client = self.client().await?;
        let (name, code) = (user.as_str(), kind.code());
        match until_ms {
            Some(until) => {
                client
                    .execute(
                        "INSERT INTO global_mutes (app_id, username, chat_type, until_ms) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (app_id, username, chat_type) DO UPDATE SET until_ms = EXCLUDED.until_ms",
                        &[&app.0, &name, &code, &until],
                    )
                    .await
            }
            None => {
                client
                    .execute(
                        "DELETE FROM global_mutes WHERE app_id = $1 AND username = $2 AND chat_type = $3",
                        &[&app.0, &name, &code],
                    )
                    .await
            }
        }
        .map_err(pg)?;
        Ok(())
    }

    async fn global_mutes(&self, app: AppId) -> Result<Vec<GlobalMute>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT username, chat_type, until_ms FROM global_mutes WHERE app_id = $1 ORDER BY username, chat_type",
                &[&app.0],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let kind: i64 = r.get(1);
                Ok(GlobalMute {
                    username: Username::parse(r.get(0))?,
                    kind: ChatType::from_code(kind).ok_or_else(|| Error::Storage(format!("bad chat type {kind}")))?,
                    until_ms: r.get(2),
                })
            })
            .collect()
    }
}
