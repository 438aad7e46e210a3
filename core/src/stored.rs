//! How records and cutoffs are written to, and read back from, a key-value
//! store such as Workers KV. The worker's KV binding moves text; what the
//! text means, and what an entry we cannot read counts as, is decided here.

use crate::error::StoreError;
use crate::revocation::{
    AnyCutoff, Cutoff, CutoffKind, CutoffPage, Listed, Page, Record, SessionCutoff, KEY_PREFIX,
};
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

/// The value written for a subject or session cutoff: its JSON.
pub fn cutoff_entry<T: serde::Serialize>(cutoff: &T) -> Result<String, StoreError> {
    serde_json::to_string(cutoff).map_err(|_| StoreError::Unavailable)
}

/// The longest stored value read: ours stay under a few KiB. A longer one is
/// not ours; the store binding does not copy it in and it counts as
/// unreadable, so no entry can make the worker allocate without bound.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How long one store call (read or write) may take. A slower one counts
/// as failed: the request fails closed (`503` with `Retry-After`), and a
/// write is never answered as a success.
pub const STORE_TIMEOUT_MS: u64 = 2_000;

/// True when the error a store write failed with says the key was written
/// too recently (Workers KV answers HTTP 429 and the binding's error message
/// carries the status).
pub fn is_rate_limited(message: &str) -> bool {
    message.contains("429")
}

/// What the store binding found under a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A value of at most [`MAX_VALUE_BYTES`].
    Text(String),
    /// A value longer than [`MAX_VALUE_BYTES`], not read.
    Oversized,
}

/// The record stored under `revoked:<id>`. Any entry means revoked, even
/// one this version cannot read ([`Record::unreadable`]).
pub fn read_record(id: &TokenId, stored: &Stored) -> Record {
    read_named(stored, |record: &Record| !record.is_unreadable())
        .unwrap_or_else(|| Record::unreadable(id.to_string()))
}

/// The cutoff stored under `subject:<sub>`. One this version cannot read
/// revokes every token of `sub` ([`Cutoff::unreadable`]); so does one
/// stored for another subject.
pub fn read_cutoff(sub: &str, stored: &Stored) -> Cutoff {
    read_named(stored, |cutoff: &Cutoff| cutoff.sub == sub)
        .unwrap_or_else(|| Cutoff::unreadable(sub))
}

/// A stored JSON value of type `T` that `belongs`, or `None` for anything
/// else (not JSON, not a `T`, another name's value, oversized).
fn read_named<T: serde::de::DeserializeOwned>(
    stored: &Stored,
    belongs: impl Fn(&T) -> bool,
) -> Option<T> {
    match stored {
        Stored::Text(text) => serde_json::from_str::<T>(text).ok().filter(belongs),
        Stored::Oversized => None,
    }
}

/// The cutoff stored under `session:<sid>`. One this version cannot read,
/// or one stored for another session, revokes every token of `sid`
/// ([`SessionCutoff::unreadable`]).
pub fn read_session(sid: &str, stored: &Stored) -> SessionCutoff {
    read_named(stored, |cutoff: &SessionCutoff| cutoff.sid == sid)
        .unwrap_or_else(|| SessionCutoff::unreadable(sid))
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
    let (items, cursor) = read_keys(text, |key| {
        let jti = key
            .name
            .strip_prefix(KEY_PREFIX)
            .unwrap_or(&key.name)
            .to_owned();
        let record = key
            .metadata
            .and_then(|m| serde_json::from_value::<Record>(m).ok())
            .unwrap_or_else(|| Record::unreadable(jti));
        Listed {
            record,
            expires_at: key.expiration,
        }
    })?;
    Ok(Page { items, cursor })
}

/// The metadata written with a cutoff: the cutoff, its names cut to fit.
pub fn cutoff_metadata(cutoff: &AnyCutoff) -> Result<String, StoreError> {
    serde_json::to_string(&cutoff.for_metadata()).map_err(|_| StoreError::Unavailable)
}

/// One page of a `list({prefix: "subject:" | "session:"})` result. An entry
/// without readable metadata is listed as unreadable (it still revokes).
pub fn read_cutoff_list(kind: CutoffKind, text: &str) -> Result<CutoffPage, StoreError> {
    let (items, cursor) = read_keys(text, |key| {
        let name = key.name.strip_prefix(kind.prefix()).unwrap_or(&key.name);
        let metadata = key.metadata.unwrap_or_default();
        let cutoff = match kind {
            CutoffKind::Subject => AnyCutoff::Subject(
                serde_json::from_value(metadata).unwrap_or_else(|_| Cutoff::unreadable(name)),
            ),
            CutoffKind::Session => AnyCutoff::Session(
                serde_json::from_value(metadata)
                    .unwrap_or_else(|_| SessionCutoff::unreadable(name)),
            ),
        };
        (cutoff, key.expiration)
    })?;
    Ok(CutoffPage { items, cursor })
}

/// The keys of a `list()` result, each made into an item, and the cursor of
/// the next page (`None` when the list is complete).
fn read_keys<T>(
    text: &str,
    item: impl FnMut(ListKey) -> T,
) -> Result<(Vec<T>, Option<String>), StoreError> {
    let listed: ListResult = serde_json::from_str(text).map_err(|_| StoreError::Unavailable)?;
    let cursor = listed.cursor.filter(|_| !listed.list_complete);
    Ok((listed.keys.into_iter().map(item).collect(), cursor))
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

    fn text(s: &str) -> Stored {
        Stored::Text(s.to_owned())
    }

    #[test]
    fn records_round_trip_and_unreadable_entries_still_revoke() {
        let id = TokenId::from_reference("t").unwrap();
        let (value, metadata) = record_entry(&record()).unwrap();
        assert_eq!(read_record(&id, &text(&value)), record());
        assert_eq!(serde_json::from_str::<Record>(&metadata).unwrap(), record());
        let truncated = &value[..value.len() / 2];
        for garbage in ["", "{", "null", "[]", "{\"jti\":1}", "\u{0}", truncated] {
            let read = read_record(&id, &text(garbage));
            assert_eq!(read, Record::unreadable("t".into()), "{garbage:?}");
            assert!(read.is_unreadable());
        }
        assert!(read_record(&id, &Stored::Oversized).is_unreadable());
        assert!(!record().is_unreadable());
    }

    #[test]
    fn unreadable_cutoffs_revoke_the_whole_subject() {
        let cutoff = Cutoff::all("alice", 5, "alice".into(), "DELETE /api/tokens".into());
        let stored = text(&cutoff_entry(&cutoff).unwrap());
        assert_eq!(read_cutoff("alice", &stored), cutoff);
        // Another subject's value under this key is not this subject's cutoff.
        assert!(read_cutoff("bob", &stored).is_unreadable());
        let id = TokenId::from_reference("any").unwrap();
        for garbage in ["", "{", "null", "{\"sub\":\"alice\"}"] {
            let read = read_cutoff("alice", &text(garbage));
            assert!(read.is_unreadable(), "{garbage:?}");
            assert!(read.revokes(Some(u64::MAX - 1), &id), "every token");
        }
        assert!(read_cutoff("alice", &Stored::Oversized).is_unreadable());
        // A new sign-out replaces the unreadable entry instead of merging with it.
        let repaired = Cutoff::merge(Some(Cutoff::unreadable("alice")), cutoff.clone());
        assert_eq!(repaired, cutoff);
    }

    #[test]
    fn cutoff_listings_read_their_metadata() {
        let cutoff = Cutoff::all(
            &"a".repeat(300),
            5,
            "root".into(),
            "DELETE /api/users/{sub}/tokens".into(),
        );
        let metadata = cutoff_metadata(&AnyCutoff::Subject(cutoff.clone())).unwrap();
        assert!(metadata.len() < 1024, "fits KV's metadata limit");
        let text = format!(
            r#"{{"keys":[{{"name":"subject:x","expiration":9,"metadata":{metadata}}},{{"name":"subject:y"}}],"list_complete":true}}"#
        );
        let page = read_cutoff_list(CutoffKind::Subject, &text).unwrap();
        let AnyCutoff::Subject(listed) = &page.items[0].0 else {
            panic!("a subject cutoff");
        };
        assert_eq!(
            (listed.sub.len(), listed.cutoff, page.items[0].1),
            (256, Some(5), Some(9))
        );
        assert_eq!(page.items[1].0, AnyCutoff::Subject(Cutoff::unreadable("y")));
        let sessions = r#"{"keys":[{"name":"session:s1","metadata":{"sid":"s1","cutoff":7,"by":"idp","route":"r"}}],"list_complete":false,"cursor":"c"}"#;
        let page = read_cutoff_list(CutoffKind::Session, sessions).unwrap();
        assert!(matches!(&page.items[0].0, AnyCutoff::Session(s) if s.cutoff == 7));
        assert_eq!(page.cursor.as_deref(), Some("c"));
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
        assert_eq!(page.items[1].record, Record::unreadable("b".into()));
        assert_eq!(page.cursor.as_deref(), Some("c1"));
        let last = read_list(r#"{"keys":[],"list_complete":true,"cursor":"x"}"#).unwrap();
        assert_eq!(last.cursor, None);
        assert_eq!(read_list("nope"), Err(StoreError::Unavailable));
    }
}
