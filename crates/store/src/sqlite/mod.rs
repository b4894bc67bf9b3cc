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
    (
        4,
        "audit chain",
        include_str!("../../migrations/sqlite/0004_audit_chain.sql"),
    ),
    (
        5,
        "iam",
        include_str!("../../migrations/sqlite/0005_iam.sql"),
    ),
    (
        6,
        "settings",
        include_str!("../../migrations/sqlite/0006_settings.sql"),
    ),
    (
        8,
        "party ownership",
        include_str!("../../migrations/sqlite/0008_party_ownership.sql"),
    ),
    (
        9,
        "audit indexes",
        include_str!("../../migrations/sqlite/0009_audit_indexes.sql"),
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
    ///
    /// That includes chaining audit entries written before the audit log was a hash chain
    /// (migration 4 moved them to `audit_legacy`; see `chain_legacy_audit`).
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let context = || format!("open {}", path.display());
        restrict_file_modes(path)?;
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
        chain_legacy_audit(&writer).await?;

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

/// The mode of the database file and of its `-wal` and `-shm` companions: read and write for
/// the hub's user only (the file holds password hashes, sealed TOTP seeds, the audit log).
pub const DATABASE_FILE_MODE: u32 = 0o600;

/// Creates the database file with [`DATABASE_FILE_MODE`] when it is missing (an empty file is
/// an empty SQLite database), and narrows the file and an existing `-wal`/`-shm` to it. SQLite
/// creates `-wal` and `-shm` later with the mode of the database file, so they are 0600 too.
fn restrict_file_modes(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let failed = |what: &Path, e: std::io::Error| {
            StoreError::Backend(format!("sqlite: {}: {e}", what.display()))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(DATABASE_FILE_MODE)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(path, e)),
        }
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        for file in files {
            let metadata = match std::fs::metadata(&file) {
                Ok(metadata) => metadata,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed(&file, e)),
            };
            if metadata.is_file() && metadata.permissions().mode() & 0o777 != DATABASE_FILE_MODE {
                std::fs::set_permissions(
                    &file,
                    std::fs::Permissions::from_mode(DATABASE_FILE_MODE),
                )
                .map_err(|e| failed(&file, e))?;
                tracing::warn!(
                    file = %file.display(),
                    "database file was readable by other users; narrowed to 0600"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Finishes migration 4: chains the rows it moved to `audit_legacy` into `audit`, in their
/// original order (`id`), and drops `audit_legacy`, in one write transaction. Nothing to do (and
/// no write lock taken) when `audit_legacy` is gone, the normal case after the first open.
///
/// `audit` must be empty then: migration 4 created it empty, and no store hands out a
/// transaction before this ran. If it is not (someone wrote to the file by hand), the open
/// fails rather than guess how the two logs interleave.
async fn chain_legacy_audit(writer: &SqlitePool) -> Result<(), StoreError> {
    const EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                          WHERE type = 'table' AND name = 'audit_legacy')";
    /// Legacy rows read at a time.
    const PAGE: i64 = 1000;
    let context = || "chain the audit entries of before migration 4".to_owned();
    let pending: bool = sqlx::query_scalar(EXISTS)
        .fetch_one(writer)
        .await
        .map_err(|e| map_err(e, context))?;
    if !pending {
        return Ok(());
    }
    let tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| map_err(e, context))?;
    let mut tx = SqliteTx::new(tx);
    // Another process may have finished it while we waited for the lock.
    let pending: bool = sqlx::query_scalar(EXISTS)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| map_err(e, context))?;
    if !pending {
        return Ok(());
    }
    let chained: i64 = sqlx::query_scalar("SELECT count(*) FROM audit")
        .fetch_one(tx.conn())
        .await
        .map_err(|e| map_err(e, context))?;
    if chained != 0 {
        return Err(StoreError::Corrupt(format!(
            "sqlite: audit_legacy (entries from before the hash chain) still exists but audit \
             already holds {chained} chained entries; refusing to guess their order"
        )));
    }
    let mut count = 0_usize;
    let mut after_id = i64::MIN;
    loop {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, subject, detail, outcome FROM audit_legacy \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after_id)
        .bind(PAGE)
        .fetch_all(tx.conn())
        .await
        .map_err(|e| map_err(e, context))?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let c = codec::Cols::new(row, "audit_legacy");
            after_id = c.int(0)?;
            let entry = ledger::AuditEntry {
                at_ms: c.int(1)?,
                actor: c.text(2)?,
                action: c.text(3)?,
                subject: c.text(4)?,
                detail: c.text(5)?,
                outcome: c.text(6)?,
                ..Default::default()
            };
            tx.append_audit(&entry).await?;
        }
        count += rows.len();
    }
    sqlx::query("DROP TABLE audit_legacy")
        .execute(tx.conn())
        .await
        .map_err(|e| map_err(e, context))?;
    Box::new(tx).commit().await?;
    if count > 0 {
        tracing::info!(
            entries = count,
            "audit log: chained the entries of before the hash chain"
        );
    }
    Ok(())
}

#[async_trait]
impl LedgerStore for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn LedgerTx>, StoreError> {
        let context = || "begin write transaction".to_owned();
        let tx = match self.writer.begin_with("BEGIN IMMEDIATE").await {
            // A COMMIT that failed (disk full, I/O error) and that SQLite rolled back by itself
            // leaves sqlx counting an open transaction on the pooled connection, and every later
            // BEGIN on it fails. Close that connection (which rolls back whatever it still
            // holds) and begin on a fresh one, so the store recovers once the condition clears.
            Err(sqlx::Error::InvalidSavePointStatement) => {
                tracing::warn!(
                    "sqlite: the writer connection was left inside a failed transaction; replacing it"
                );
                let stale = self
                    .writer
                    .acquire()
                    .await
                    .map_err(|e| map_err(e, context))?;
                let _ = stale.close().await;
                self.writer.begin_with("BEGIN IMMEDIATE").await
            }
            other => other,
        }
        .map_err(|e| map_err(e, context))?;
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
