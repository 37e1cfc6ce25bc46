//! Runs the same three workloads through tokio-postgres (pooled by
//! deadpool-postgres) and through sqlx, one driver after the other in one
//! run, so their ratio means something on a noisy machine:
//! - `point`: a primary-key lookup (token checks, user reads);
//! - `append`: one transaction inserting 64 rows with `UNNEST` (a batch of
//!   appends, as confab's batchers commit them);
//! - `page`: 50 rows in key order after a cursor (history and backlog pages).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 16;
const SECONDS: u64 = 5;
const BATCH: usize = 64;

#[tokio::main]
async fn main() {
    let base = std::env::args().nth(1).unwrap_or_else(|| "postgres://postgres@127.0.0.1/postgres".into());
    let schema = format!("driver_bench_{}", std::process::id());
    let (setup, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    setup
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.items (id BIGINT PRIMARY KEY, conv BIGINT NOT NULL, body TEXT NOT NULL);
             INSERT INTO {schema}.items SELECT n, n % 100, repeat('x', 120) FROM generate_series(1, 100000) n;
             ANALYZE {schema}.items;"
        ))
        .await
        .expect("setup");
    let url = format!("{base}{}options=-c%20search_path%3D{schema}", if base.contains('?') { '&' } else { '?' });

    let tp = TokioPostgres::new(&url);
    let sx = sqlx::postgres::PgPoolOptions::new().max_connections(TASKS as u32).connect(&url).await.expect("sqlx pool");
    println!("{TASKS} tasks, {SECONDS}s per figure, ops per second (higher is better)");
    println!("{:<8} {:>16} {:>16} {:>8}", "workload", "tokio-postgres", "sqlx", "ratio");
    for workload in ["point", "append", "page"] {
        let tp_loop = tp.clone();
        let a = measure(move |n| {
            let tp = tp_loop.clone();
            async move { tp.run(workload, n).await }
        })
        .await;
        let sx_loop = sx.clone();
        let b = measure(move |n| {
            let sx = sx_loop.clone();
            async move { sqlx_run(&sx, workload, n).await }
        })
        .await;
        println!("{workload:<8} {a:>16.0} {b:>16.0} {:>8.2}", a / b);
    }
    setup.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("cleanup");
}

/// Operations per second with `TASKS` tasks each running `op` in a loop.
async fn measure<F, Fut>(op: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = Duration::from_secs(SECONDS);
    let tasks: Vec<_> = (0..TASKS as u64)
        .map(|task| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = task << 40;
                while started.elapsed() < deadline {
                    op(n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    futures_util::future::join_all(tasks).await;
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[derive(Clone)]
struct TokioPostgres {
    pool: deadpool_postgres::Pool,
}

impl TokioPostgres {
    fn new(url: &str) -> TokioPostgres {
        let config: tokio_postgres::Config = url.parse().expect("url");
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        TokioPostgres { pool: deadpool_postgres::Pool::builder(manager).max_size(TASKS).build().expect("pool") }
    }

    async fn run(&self, workload: &str, n: u64) {
        let mut client = self.pool.get().await.expect("connection");
        match workload {
            "point" => {
                let id = (n % 100_000 + 1) as i64;
                let statement = client.prepare_cached("SELECT body FROM items WHERE id = $1").await.unwrap();
                client.query_one(&statement, &[&id]).await.unwrap();
            }
            "append" => {
                let (ids, convs, bodies) = batch(n);
                let tx = client.transaction().await.unwrap();
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO items (id, conv, body) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[])",
                    )
                    .await
                    .unwrap();
                tx.execute(&statement, &[&ids, &convs, &bodies]).await.unwrap();
                tx.commit().await.unwrap();
            }
            _ => {
                let (conv, after) = ((n % 100) as i64, (n % 90_000) as i64);
                let statement = client
                    .prepare_cached("SELECT id, body FROM items WHERE conv = $1 AND id > $2 ORDER BY id LIMIT 50")
                    .await
                    .unwrap();
                client.query(&statement, &[&conv, &after]).await.unwrap();
            }
        }
    }
}

async fn sqlx_run(pool: &sqlx::PgPool, workload: &str, n: u64) {
    match workload {
        "point" => {
            let id = (n % 100_000 + 1) as i64;
            sqlx::query("SELECT body FROM items WHERE id = $1").bind(id).fetch_one(pool).await.unwrap();
        }
        "append" => {
            let (ids, convs, bodies) = batch(n);
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(
                "INSERT INTO items (id, conv, body) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[])",
            )
            .bind(ids)
            .bind(convs)
            .bind(bodies)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
        _ => {
            let (conv, after) = ((n % 100) as i64, (n % 90_000) as i64);
            sqlx::query("SELECT id, body FROM items WHERE conv = $1 AND id > $2 ORDER BY id LIMIT 50")
                .bind(conv)
                .bind(after)
                .fetch_all(pool)
                .await
                .unwrap();
        }
    }
}

/// Next unused ID for appended rows, above the preloaded range, shared by both drivers.
static NEXT_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_000_000);

/// 64 fresh rows.
fn batch(_n: u64) -> (Vec<i64>, Vec<i64>, Vec<String>) {
    let base = NEXT_ID.fetch_add(BATCH as i64, Ordering::Relaxed);
    let ids: Vec<i64> = (0..BATCH as i64).map(|i| base + i).collect();
    let convs = ids.iter().map(|id| id % 100).collect();
    let bodies = ids.iter().map(|_| "y".repeat(120)).collect();
    (ids, convs, bodies)
}
