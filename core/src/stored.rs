//! How records and cutoffs are written to, and read back from, a key-value
//! store such as Workers KV. The worker's KV binding moves text; what the
//! text means, and what an entry we cannot read counts as, is decided here.

use crate::error::StoreError;
use crate::revocation::{Cutoff, Listed, Page, Record, KEY_PREFIX};
use crate::token::TokenId;
use serde::Deserialize;

/// The value and the metadata written for a revocation: the JSON record,
/// and a copy small enough for KV's metadata limit.
pub fn record_entry(record: &Record) -> Result<(String, String), StoreError> {
    let value = serde_json::to_string(record).map_err(|_| StoreError::Unavailable)?;
    let metadata =
        serde_json::to_string(&record.for_metadata()).map_err(|_| StoreError::Unavailable)?;
    Ok((value, metadata))
}

/// The value written for a cutoff.
pub fn cutoff_entry(cutoff: &Cutoff) -> Result<String, StoreError> {
    serde_json::to_string(cutoff).map_err(|_| StoreError::Unavailable)
}

/// Stands for an entry whose record cannot be read: still a revocation.
pub fn unreadable_record(jti: String) -> Record {
    Record {
        jti,
        revoked_at: 0,
        exp: None,
        sub: None,
        reason: "unknown".into(),
        by: "unknown".into(),
        route: "unknown".into(),
    }
}

/// The record stored under `revoked:<id>`. Any entry means revoked, even
/// one this version cannot parse.
pub fn read_record(id: &TokenId, text: &str) -> Record {
    serde_json::from_str(text).unwrap_or_else(|_| unreadable_record(id.to_string()))
}

/// The cutoff stored under `subject:<sub>`. An entry this version cannot
/// read must not be ignored: the store counts as unavailable.
pub fn read_cutoff(text: &str) -> Result<Cutoff, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Unavailable)
}

/// The JSON shape of a KV `list()` result.
#[derive(Deserialize)]
struct ListResult {
    keys: Vec<ListKey>,
    list_complete: bool,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListKey {
    name: String,
    expiration: Option<u64>,
    metadata: Option<serde_json::Value>,
}

/// One page of a `list({prefix: "revoked:"})` result, from its JSON.
pub fn read_list(text: &str) -> Result<Page, StoreError> {
    let listed: ListResult = serde_json::from_str(text).map_err(|_| StoreError::Unavailable)?;
    let items = listed
        .keys
        .into_iter()
        .map(|key| {
            let jti = key
                .name
                .strip_prefix(KEY_PREFIX)
                .unwrap_or(&key.name)
                .to_owned();
            let record = key
                .metadata
                .and_then(|m| serde_json::from_value::<Record>(m).ok())
                .unwrap_or_else(|| unreadable_record(jti));
            Listed {
                record,
                expires_at: key.expiration,
            }
        })
        .collect();
    Ok(Page {
        items,
        cursor: listed.cursor.filter(|_| !listed.list_complete),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            jti: "t".into(),
            revoked_at: 10,
            exp: Some(20),
            sub: Some("alice".into()),
            reason: "sign_out".into(),
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        }
    }

    #[test]
    fn records_round_trip_and_unreadable_entries_still_revoke() {
        let id = TokenId::from_reference("t").unwrap();
        let (value, metadata) = record_entry(&record()).unwrap();
        assert_eq!(read_record(&id, &value), record());
        assert_eq!(serde_json::from_str::<Record>(&metadata).unwrap(), record());
        for garbage in ["", "{", "null", "[]", "{\"jti\":1}", "\u{0}"] {
            assert_eq!(read_record(&id, garbage), unreadable_record("t".into()));
        }
    }

    #[test]
    fn unreadable_cutoffs_fail_closed() {
        let cutoff = Cutoff {
            sub: "alice".into(),
            cutoff: 5,
            except: None,
            by: "alice".into(),
            route: "DELETE /api/tokens".into(),
        };
        assert_eq!(read_cutoff(&cutoff_entry(&cutoff).unwrap()), Ok(cutoff));
        for garbage in ["", "{", "null", "{\"sub\":\"a\"}"] {
            assert_eq!(read_cutoff(garbage), Err(StoreError::Unavailable));
        }
    }

    #[test]
    fn list_pages_keep_unreadable_metadata_as_revocations() {
        let text = r#"{"keys":[
            {"name":"revoked:a","expiration":99,"metadata":{"jti":"a","revoked_at":1,"exp":null,"sub":null,"reason":"admin","by":"root","route":"r"}},
            {"name":"revoked:b","metadata":"not a record"}
        ],"list_complete":false,"cursor":"c1"}"#;
        let page = read_list(text).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].expires_at, Some(99));
        assert_eq!(page.items[1].record, unreadable_record("b".into()));
        assert_eq!(page.cursor.as_deref(), Some("c1"));
        let last = read_list(r#"{"keys":[],"list_complete":true,"cursor":"x"}"#).unwrap();
        assert_eq!(last.cursor, None);
        assert_eq!(read_list("nope"), Err(StoreError::Unavailable));
    }
}
