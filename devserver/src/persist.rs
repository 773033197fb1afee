//! `--state FILE`: the whole state as one JSON document in a single-row
//! SQLite table, rewritten inside a transaction after changes.
//!
//! SQLite (rather than a plain file) gives atomic replacement and crash
//! safety for free. The bootstrap section is the one place a plaintext
//! secret lives: the app key and admin token are kept there so that a
//! restarted server prints, and accepts, the same credentials (documented in
//! `devserver/README.md` and `alter-dev --help`).

use crate::state::State;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::sync::Mutex;

/// Secrets generated on first start and reused after a restart.
#[derive(Clone, Serialize, Deserialize)]
pub struct Bootstrap {
    pub admin_token: String,
    pub app_api_key: String,
    /// Hex HS256 secret of the local identity provider.
    pub jwt_secret: String,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bootstrap(<redacted>)")
    }
}

pub struct StateFile {
    conn: Mutex<Connection>,
}

/// Makes the state file readable and writable by its owner only (0600),
/// creating it empty if needed: it holds the app key and the admin token in
/// plaintext. SQLite gives its `-wal` and `-shm` companions the same mode.
#[cfg(unix)]
fn owner_only(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its old mode through `open`: narrow it too.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> io::Result<()> {
    Ok(())
}

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("state file: {e}"))
}

impl StateFile {
    /// Opens (creating if needed) the state file and loads what it holds.
    pub fn open(path: &Path) -> io::Result<(StateFile, Option<(Bootstrap, State)>)> {
        owner_only(path)?;
        let conn = Connection::open(path).map_err(to_io)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS alter_dev_state (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 format INTEGER NOT NULL,
                 bootstrap TEXT NOT NULL,
                 state TEXT NOT NULL,
                 saved_at INTEGER NOT NULL
             );",
        )
        .map_err(to_io)?;
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT bootstrap, state FROM alter_dev_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(to_io)?;
        let loaded = match row {
            None => None,
            Some((b, s)) => {
                let bootstrap: Bootstrap = serde_json::from_str(&b).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("state file: {e}"))
                })?;
                let state: State = serde_json::from_str(&s).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("state file: {e}"))
                })?;
                Some((bootstrap, state))
            }
        };
        Ok((
            StateFile {
                conn: Mutex::new(conn),
            },
            loaded,
        ))
    }

    /// Replaces the stored document in one transaction (blocking I/O: call
    /// from a blocking thread).
    pub fn save(&self, bootstrap: &Bootstrap, state_json: &str) -> io::Result<()> {
        let bootstrap_json = serde_json::to_string(bootstrap).map_err(to_io)?;
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction().map_err(to_io)?;
        tx.execute(
            "INSERT INTO alter_dev_state (id, format, bootstrap, state, saved_at)
             VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET format = ?1, bootstrap = ?2, state = ?3, saved_at = ?4",
            params![
                crate::state::STATE_FORMAT,
                bootstrap_json,
                state_json,
                crate::util::now()
            ],
        )
        .map_err(to_io)?;
        tx.commit().map_err(to_io)
    }
}
