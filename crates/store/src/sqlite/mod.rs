//! The embedded backend: one SQLite file in WAL mode.
//!
//! Two pools share the file:
//!
//! - the **writer pool** has exactly one connection. [`LedgerStore::begin`] takes it and opens
//!   the transaction with `BEGIN IMMEDIATE`, so the database write lock is held from the first
//!   statement: a batch can never hit `SQLITE_BUSY` halfway through. A second `begin` waits for
//!   the pool (up to [`WRITER_ACQUIRE_TIMEOUT`]) until the first transaction ends.
//! - the **reader pool** has up to [`READERS`] read-only connections. [`LedgerStore::read`]
//!   opens a deferred transaction on one of them; WAL lets it read the last committed snapshot
//!   while the writer works. Writes through it fail.
//!
//! Durability: `synchronous=FULL` on every connection, so a commit returns only after the WAL is
//! synced. Foreign keys are on. Statements are prepared once per connection and cached by sqlx.

mod codec;
mod tx;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use ledger::{LedgerStore, LedgerTx, StoreError};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use self::codec::map_err;
use self::tx::SqliteTx;

/// Read-only connections for [`LedgerStore::read`].
pub const READERS: u32 = 4;

/// How long SQLite waits on a lock held by another connection (or process) before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`LedgerStore::begin`] waits for the writer connection while another write
/// transaction is open.
pub const WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The schema migrations, in order: `(version, description, SQL)`. The version and description
/// are what `sqlx::migrate!` derives from the file name `<version>_<description>.sql`, so the
/// checksums recorded in `_sqlx_migrations` are the same either way. A test checks that this
/// list matches `migrations/sqlite/`.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "jws",
        include_str!("../../migrations/sqlite/0002_jws.sql"),
    ),
    (
        3,
        "participant tls",
        include_str!("../../migrations/sqlite/0003_participant_tls.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Connection settings the writer actually runs with, as reported by SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlitePragmas {
    /// `PRAGMA journal_mode` (expected: `wal`).
    pub journal_mode: String,
    /// `PRAGMA synchronous` (expected: 2, FULL).
    pub synchronous: i64,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA busy_timeout`, in milliseconds.
    pub busy_timeout_ms: i64,
}

/// A [`LedgerStore`] on one SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let context = || format!("open {}", path.display());
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WRITER_ACQUIRE_TIMEOUT)
            // Keep the connection (and its prepared statements) for the life of the store; a
            // local file needs no liveness ping before each transaction.
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(|e| map_err(e, context))?;

        migrator()
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(format!("sqlite: migrate {}: {e}", path.display())))?;

        // Readers open after the writer made the file a WAL database with a current schema.
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await
            .map_err(|e| map_err(e, context))?;

        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings of the writer connection (waits while a write transaction is open).
    pub async fn writer_pragmas(&self) -> Result<SqlitePragmas, StoreError> {
        let context = || "read pragmas".to_owned();
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| map_err(e, context))?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| map_err(e, context))?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| map_err(e, context))?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| map_err(e, context))?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| map_err(e, context))?;
        Ok(SqlitePragmas {
            journal_mode,
            synchronous,
            foreign_keys: foreign_keys != 0,
            busy_timeout_ms,
        })
    }

    /// Closes every connection, waiting for open transactions to end. Closing the last
    /// connection checkpoints the WAL into the database file. Dropping the store without closing
    /// is safe too: every commit is already durable.
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn LedgerTx>, StoreError> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| map_err(e, || "begin write transaction".to_owned()))?;
        Ok(Box::new(SqliteTx::new(tx)))
    }

    async fn read(&self) -> Result<Box<dyn LedgerTx>, StoreError> {
        let tx = self
            .readers
            .begin()
            .await
            .map_err(|e| map_err(e, || "begin read transaction".to_owned()))?;
        Ok(Box::new(SqliteTx::new(tx)))
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}
