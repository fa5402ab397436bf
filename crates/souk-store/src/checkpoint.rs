//! WAL checkpoints on SQLite, off the write path. By default SQLite checkpoints inside the
//! commit that takes the log past 1,000 pages: that commit copies the log into the
//! database file and syncs it while every writer behind it (a whole group commit of
//! orders) waits. The pool's connections turn that off (`wal_autocheckpoint=0`) and this
//! task, on a connection of its own, runs `PRAGMA wal_checkpoint(PASSIVE)` instead: a
//! passive checkpoint takes no lock a writer needs, so commits go on while it copies and
//! syncs. The next writer after a complete checkpoint starts the log from its beginning
//! again, so the log stays as small as the work between two checkpoints.
//!
//! The task ends when its [`Running`] handle is dropped (with the last clone of the
//! store). SQLite checkpoints when a file's last connection closes, so a process that
//! stops between two rounds leaves a clean database too.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;

/// How often the log is copied back.
const EVERY: Duration = Duration::from_millis(200);

/// A running checkpointer; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Running {
    _stop: oneshot::Sender<()>,
}

/// Starts the checkpointer of the database `options` open.
pub(crate) fn start(options: SqliteConnectOptions) -> Running {
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut conn = match options.connect().await {
            Ok(conn) => conn,
            Err(e) => {
                // Without it the log only grows until the last connection closes; say so.
                tracing::error!(error = %e, "the WAL checkpointer could not connect");
                return;
            }
        };
        let mut interval = tokio::time::interval(EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = interval.tick() => {}
            }
            if let Err(e) = checkpoint(&mut conn).await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
        let _ = conn.close().await;
    });
    Running { _stop: stop }
}

/// One passive checkpoint. With nothing written since the last one it finds the log
/// already copied back and neither copies nor syncs anything.
async fn checkpoint(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    // (busy, pages in the log, pages copied back so far).
    let (_, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    tracing::trace!(log, copied, "WAL checkpoint");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::db::{sqlite_options, Db, SqliteSync};

    /// Commits never checkpoint (the pool's connections have it off), yet what they wrote
    /// reaches the database file while the pool stays open: the checkpointer copied it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_beside_the_writers() {
        let dir = std::env::temp_dir().join(format!(
            "souk-checkpoint-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("c.db");
        let url = format!("sqlite://{}", file.display());
        let Db::Sqlite(pool) = Db::connect(&url, 2, SqliteSync::Full)
            .await
            .expect("connect")
        else {
            panic!("not SQLite")
        };
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&pool)
            .await
            .expect("pragma");
        assert_eq!(auto, 0);
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&pool)
            .await
            .expect("table");
        let before = std::fs::metadata(&file).expect("file").len();
        for _ in 0..50 {
            sqlx::query("INSERT INTO t VALUES (randomblob(8192))")
                .execute(&pool)
                .await
                .expect("insert");
        }
        // 400 KB in the log: the file grows only when it is copied back.
        assert!(std::fs::metadata(&file).expect("file").len() < before + 400_000);
        let running = super::start(sqlite_options(&url, SqliteSync::Full).expect("options"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::metadata(&file).expect("file").len() < before + 400_000 {
            assert!(Instant::now() < deadline, "the log was not copied back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(running);
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
