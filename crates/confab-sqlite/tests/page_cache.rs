//! The page-cache wrapper skips truncates with nothing to drop and never one
//! with something to drop: a database grown, rolled back and grown again
//! with other content reads back exactly what was committed.
//!
//! A test binary of its own, so that the wrapper is installed before the
//! process's first SQLite connection, as `confab`'s `main` does.

use rusqlite::{params, Connection};

/// Deterministic pseudo-random numbers (xorshift), so failures repeat.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA auto_vacuum=FULL; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; \
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL, body BLOB NOT NULL); \
         CREATE INDEX IF NOT EXISTS t_a ON t (a, id); CREATE INDEX IF NOT EXISTS t_b ON t (b, id);",
    )
    .unwrap();
    conn
}

/// Inserts `rows` rows with random index keys and a body derived from them.
fn insert(conn: &Connection, numbers: &mut Numbers, rows: usize, salt: u64) {
    let mut stmt = conn.prepare_cached("INSERT INTO t (a, b, body) VALUES (?1, ?2, ?3)").unwrap();
    for _ in 0..rows {
        let (a, b) = (numbers.next() as i64 >> 1, numbers.next() as i64 >> 1);
        stmt.execute(params![a, b, body(a, b, salt)]).unwrap();
    }
}

fn body(a: i64, b: i64, salt: u64) -> Vec<u8> {
    let len = 100 + (a as u64 % 300) as usize;
    (0..len).map(|i| (a as u64).wrapping_mul(31).wrapping_add(b as u64 ^ salt).wrapping_add(i as u64) as u8).collect()
}

#[test]
fn truncates_with_nothing_to_drop_are_skipped_and_rollbacks_still_drop_pages() {
    assert!(confab_sqlite::page_cache::install(), "installed before any connection");
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("db");
    let conn = open(&path);
    let mut numbers = Numbers(0x9E37_79B9_7F4A_7C15);
    let mut committed: i64 = 0;
    for round in 0..300 {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        if round % 50 == 49 {
            // Deletes most rows: with `auto_vacuum` the commit shrinks the
            // database, and the cached pages past its new end must go, or
            // the growth after it would build on their old content.
            committed -= conn.execute("DELETE FROM t WHERE a % 5 <> 0", []).unwrap() as i64;
            conn.execute_batch("COMMIT").unwrap();
            continue;
        }
        if round % 7 == 3 {
            // Grows the database by many pages, then is rolled back: the
            // pages past the old end must leave the cache, or the next
            // growth would read their stale content.
            insert(&conn, &mut Numbers(round), 400, 0xDEAD);
            conn.execute_batch("ROLLBACK").unwrap();
            continue;
        }
        insert(&conn, &mut numbers, 40, 0);
        conn.execute_batch("COMMIT").unwrap();
        committed += 40;
        if round % 50 == 20 {
            let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(check, "ok", "after round {round}");
        }
    }
    let skipped = confab_sqlite::page_cache::skipped_truncates();
    assert!(skipped >= 100, "only {skipped} truncates skipped in about 250 commits with page splits");

    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, committed);
    let mut stmt = conn.prepare("SELECT a, b, body FROM t").unwrap();
    let mut bodies = stmt.query([]).unwrap();
    while let Some(row) = bodies.next().unwrap() {
        let (a, b, stored): (i64, i64, Vec<u8>) = (row.get(0).unwrap(), row.get(1).unwrap(), row.get(2).unwrap());
        assert_eq!(stored, body(a, b, 0), "row ({a}, {b}) reads back what was committed");
    }
    drop(bodies);
    drop(stmt);
    drop(conn);

    // A second connection, with a cold cache, reads the same.
    let again = open(&path);
    let check: String = again.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = again.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, committed);
}
