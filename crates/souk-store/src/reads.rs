//! Point reads that SQLite answers in place, on the calling thread. Through sqlx every
//! statement is a message to its connection's thread and every row a message back, each
//! a wake-up of another thread: for `status` of ten orders, a dozen hand-offs around a
//! read that SQLite itself does in tens of microseconds. These reads are short (rows by
//! key, bounded by the caller) and never wait for a writer (WAL), so they run right
//! where they are asked, on read-only connections kept here, as the placements' writer
//! and the catalogue loader already call the same bundled SQLite.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::Result;

/// Idle connections kept for the next reads; more are opened while as many read at once.
const KEEP: usize = 8;

#[derive(Debug)]
pub(crate) struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReads {
    pub(crate) fn new(path: PathBuf) -> SqliteReads {
        SqliteReads {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (or a new one), here and now.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R> {
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let answer = read(&conn)?;
        let mut idle = self.lock();
        if idle.len() < KEEP {
            idle.push(conn);
        }
        Ok(answer)
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Only a checkpoint that restarts the log makes a reader wait, and briefly.
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A connection vector cannot be left half-changed: take it as it is.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
