//! The Durable Object `RevocationJournal`: the core's journal
//! (`edge_revoke_core::revocation::journal`) over the object's SQLite
//! storage, its alarm, and Workers KV. One instance per deployment (the
//! worker reaches it by a fixed name). The object's own routes, called by
//! the worker only (`src/journal_link.rs`):
//!
//! - `POST /append`: the body is one change; answers the entry's
//!   `{"seq","at"}` once it is stored, and runs the alarm at once.
//! - `POST /claim`: the same for a revocation, unless its name is revoked
//!   already (a retained entry, or KV for one no longer retained): then
//!   `{"taken":true}` and nothing is stored (a single-use name, such as an
//!   assertion's `jti`).
//! - `GET /tail?after=N`, `GET /tail` (the latest page): a tail.
//! - `GET /status`: the journal's counters.
//!
//! The alarm carries pending entries to KV and schedules itself again as
//! the core says.

use crate::js::now_ms;
use crate::kv::WorkersKv;
use edge_revoke_core::config::Config;
use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::journal::{Bounds, StoredEntry};
use edge_revoke_core::revocation::{Change, Journal, JournalStore, Lifetimes};
use serde::Deserialize;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, \
     key TEXT NOT NULL, change TEXT NOT NULL, confirmed INTEGER)",
    "CREATE INDEX IF NOT EXISTS entries_by_key ON entries (key, seq)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('head', 0), ('horizon', 0), ('failures', 0)",
];

/// The journal's SQLite tables.
struct Sql(SqlStorage);

#[derive(Deserialize)]
struct EntryRow {
    seq: i64,
    at: i64,
    key: String,
    change: String,
    confirmed: Option<i64>,
}

#[derive(Deserialize)]
struct Value {
    value: Option<i64>,
}

#[derive(Deserialize)]
struct BoundsRow {
    head: i64,
    oldest: Option<i64>,
    pending: i64,
    oldest_pending_at: Option<i64>,
    horizon: i64,
    failures: i64,
}

impl From<EntryRow> for StoredEntry {
    fn from(row: EntryRow) -> StoredEntry {
        StoredEntry {
            seq: row.seq as u64,
            at: row.at as u64,
            key: row.key,
            change: row.change,
            confirmed: row.confirmed.map(|at| at as u64),
        }
    }
}

impl Sql {
    fn rows<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        bindings: Vec<worker::SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, StoreError> {
        let cursor = self
            .0
            .exec(query, bindings)
            .map_err(|_| StoreError::Unavailable)?;
        cursor.to_array().map_err(|_| StoreError::Unavailable)
    }

    fn entries(
        &self,
        query: &str,
        bindings: Vec<worker::SqlStorageValue>,
    ) -> std::result::Result<Vec<StoredEntry>, StoreError> {
        let rows: Vec<EntryRow> = self.rows(query, bindings)?;
        Ok(rows.into_iter().map(StoredEntry::from).collect())
    }
}

const COLUMNS: &str = "SELECT seq, at, key, change, confirmed FROM entries";

impl JournalStore for Sql {
    fn append(&self, at: u64, key: &str, change: &str) -> std::result::Result<u64, StoreError> {
        let head: Vec<Value> = self.rows(
            "UPDATE counters SET value = value + 1 WHERE name = 'head' RETURNING value",
            vec![],
        )?;
        let seq = head
            .first()
            .and_then(|h| h.value)
            .ok_or(StoreError::Unavailable)?;
        self.rows::<Value>(
            "INSERT INTO entries (seq, at, key, change) VALUES (?, ?, ?, ?) RETURNING NULL AS value",
            vec![seq.into(), (at as i64).into(), key.into(), change.into()],
        )?;
        Ok(seq as u64)
    }

    fn after(&self, seq: u64, limit: usize) -> std::result::Result<Vec<StoredEntry>, StoreError> {
        let query = format!("{COLUMNS} WHERE seq > ? ORDER BY seq LIMIT ?");
        self.entries(&query, vec![(seq as i64).into(), (limit as i64).into()])
    }

    fn pending(&self, limit: usize) -> std::result::Result<Vec<StoredEntry>, StoreError> {
        let query = format!("{COLUMNS} WHERE confirmed IS NULL ORDER BY seq LIMIT ?");
        self.entries(&query, vec![(limit as i64).into()])
    }

    fn of_key(&self, key: &str) -> std::result::Result<Vec<StoredEntry>, StoreError> {
        let query = format!("{COLUMNS} WHERE key = ? ORDER BY seq");
        self.entries(&query, vec![key.into()])
    }

    fn confirm(&self, key: &str, through: u64, at: u64) -> std::result::Result<(), StoreError> {
        self.rows::<Value>(
            "UPDATE entries SET confirmed = ? WHERE key = ? AND seq <= ? AND confirmed IS NULL \
             RETURNING NULL AS value",
            vec![(at as i64).into(), key.into(), (through as i64).into()],
        )?;
        Ok(())
    }

    fn drop_confirmed(&self, at: u64) -> std::result::Result<Option<u64>, StoreError> {
        let rows: Vec<Value> = self.rows(
            "DELETE FROM entries WHERE confirmed <= ? RETURNING confirmed AS value",
            vec![(at as i64).into()],
        )?;
        Ok(rows.iter().filter_map(|r| r.value).max().map(|v| v as u64))
    }

    fn first_confirmed(&self) -> std::result::Result<Option<u64>, StoreError> {
        let rows: Vec<Value> = self.rows("SELECT min(confirmed) AS value FROM entries", vec![])?;
        Ok(rows.first().and_then(|r| r.value).map(|v| v as u64))
    }

    fn bounds(&self) -> std::result::Result<Bounds, StoreError> {
        let rows: Vec<BoundsRow> = self.rows(
            "SELECT (SELECT value FROM counters WHERE name = 'head') AS head, \
             (SELECT min(seq) FROM entries) AS oldest, \
             (SELECT count(*) FROM entries WHERE confirmed IS NULL) AS pending, \
             (SELECT min(at) FROM entries WHERE confirmed IS NULL) AS oldest_pending_at, \
             (SELECT value FROM counters WHERE name = 'horizon') AS horizon, \
             (SELECT value FROM counters WHERE name = 'failures') AS failures",
            vec![],
        )?;
        let row = rows.into_iter().next().ok_or(StoreError::Unavailable)?;
        let head = row.head as u64;
        Ok(Bounds {
            head,
            oldest: row.oldest.map_or(head + 1, |o| o as u64),
            pending: row.pending as u64,
            oldest_pending_at: row.oldest_pending_at.map(|a| a as u64),
            horizon: row.horizon as u64,
            failures: row.failures as u64,
        })
    }

    fn set_progress(&self, horizon: u64, failures: u64) -> std::result::Result<(), StoreError> {
        self.rows::<Value>(
            "UPDATE counters SET value = CASE name WHEN 'horizon' THEN ? ELSE ? END \
             WHERE name IN ('horizon', 'failures') RETURNING NULL AS value",
            vec![(horizon as i64).into(), (failures as i64).into()],
        )?;
        Ok(())
    }
}

/// The Durable Object.
#[durable_object]
pub struct RevocationJournal {
    state: State,
    env: Env,
    sql: Sql,
    config: std::result::Result<Config, edge_revoke_core::error::ConfigError>,
}

fn json(body: String) -> Result<Response> {
    let mut response = Response::ok(body)?;
    response
        .headers_mut()
        .set("content-type", "application/json")?;
    Ok(response)
}

impl RevocationJournal {
    fn journal(&self) -> Option<Journal<'_, Sql>> {
        let config = self.config.as_ref().ok()?;
        let lifetimes = Lifetimes {
            leeway: config.rules.leeway,
            max_token_lifetime: config.max_token_lifetime,
        };
        Some(Journal::new(&self.sql, config.kv_propagation, lifetimes))
    }

    /// The KV namespace, as the alarm writes it and a claim reads it.
    fn kv(&self) -> WorkersKv {
        let ttl = self.config.as_ref().map_or(0, |c| c.revocation_cache_ttl);
        WorkersKv::from_env(&self.env, ttl)
    }

    /// Runs the alarm at `at_ms` unless it runs sooner already.
    async fn alarm_at(&self, at_ms: u64) -> Result<()> {
        let storage = self.state.storage();
        let set = storage.get_alarm().await?;
        if set.is_none_or(|set| set as u64 > at_ms) {
            let offset = at_ms.saturating_sub(now_ms()) as i64;
            storage.set_alarm(offset).await?;
        }
        Ok(())
    }
}

impl DurableObject for RevocationJournal {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in SCHEMA {
            if sql.exec(statement, None).is_err() {
                worker::console_error!("{{\"event\":\"journal_schema_error\"}}");
            }
        }
        let config = Config::from_lookup(|name| crate::entry::setting(&env, name));
        RevocationJournal {
            state,
            env,
            sql: Sql(sql),
            config,
        }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        let Some(journal) = self.journal() else {
            return Response::error("unusable settings", 500);
        };
        let now = now_ms() / 1000;
        let url = request.inner().url();
        let after = url
            .split_once("after=")
            .and_then(|(_, n)| n.split('&').next()?.parse().ok());
        match (request.method(), request.path().as_str()) {
            (Method::Post, path @ ("/append" | "/claim")) => {
                let text = request.text().await?;
                let change = serde_json::from_str(&text)
                    .ok()
                    .and_then(Change::from_value);
                let Some(change) = change else {
                    return Response::error("not a change", 400);
                };
                let kept = match (path, change) {
                    ("/claim", Change::Revoke { id, record }) => {
                        let kv = self.kv();
                        journal.claim(&kv, &id, &record, now).await
                    }
                    ("/claim", _) => return Response::error("only a revocation is claimed", 400),
                    (_, change) => journal.append(change, now).map(Some),
                };
                match kept {
                    Ok(Some(entry)) => {
                        self.alarm_at(now_ms()).await?;
                        json(format!("{{\"seq\":{},\"at\":{}}}", entry.seq, entry.at))
                    }
                    Ok(None) => json("{\"taken\":true}".to_owned()),
                    Err(_) => Response::error("not stored", 503),
                }
            }
            (Method::Get, "/tail") => match journal.tail(after, now) {
                Ok(tail) => json(tail.to_json()),
                Err(_) => Response::error("unavailable", 503),
            },
            (Method::Get, "/status") => match journal.status(now) {
                Ok(status) => json(serde_json::to_string(&status).unwrap_or_default()),
                Err(_) => Response::error("unavailable", 503),
            },
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let Some(journal) = self.journal() else {
            return Response::error("unusable settings", 500);
        };
        match journal.flush(&self.kv(), now_ms()).await {
            Ok(flushed) => {
                if let Some(at) = flushed.next_alarm_ms {
                    self.alarm_at(at).await?;
                }
                if flushed.failed > 0 {
                    worker::console_log!(
                        "{{\"event\":\"journal_kv_retry\",\"failed_keys\":{},\"written_keys\":{}}}",
                        flushed.failed,
                        flushed.written
                    );
                }
                Response::ok("")
            }
            // The tables failed: the runtime retries a failed alarm.
            Err(_) => Response::error("journal storage failed", 500),
        }
    }
}
