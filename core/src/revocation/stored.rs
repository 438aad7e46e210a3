//! How records and cutoffs are written to, and read back from, a key-value
//! store such as Workers KV: the value and metadata texts, what an entry we
//! cannot read counts as, and KV's list answers.

use super::{
    cutoff_expires_at, Cutoff, CutoffKind, CutoffPage, Kv, Lifetimes, Listed, Page, Record,
    KEY_PREFIX,
};
use crate::error::StoreError;
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

/// The value and the metadata written for a cutoff: its JSON, and a copy
/// with its names cut to fit KV's metadata limit.
pub fn cutoff_entry(cutoff: &Cutoff) -> Result<(String, String), StoreError> {
    let value = serde_json::to_string(cutoff).map_err(|_| StoreError::Unavailable)?;
    let metadata =
        serde_json::to_string(&cutoff.for_metadata()).map_err(|_| StoreError::Unavailable)?;
    Ok((value, metadata))
}

/// Writes `new` merged with `stored` (what the store holds for its name) at
/// `key`, unless the merge is already in force (a replay, or a second
/// sign-out), until every token it revokes would be rejected anyway
/// ([`cutoff_expires_at`]). The merged cutoff and its expiry when written.
/// The one cutoff write: the journal's flush and a write without a journal
/// both use it.
pub async fn put_merged<K: Kv>(
    kv: &K,
    key: &str,
    stored: Option<Cutoff>,
    new: Cutoff,
    lifetimes: Lifetimes,
    now: u64,
) -> Result<Option<(Cutoff, u64)>, StoreError> {
    let merged = Cutoff::merge(stored.clone(), new);
    if stored.as_ref() == Some(&merged) {
        return Ok(None);
    }
    let Lifetimes {
        leeway,
        max_token_lifetime,
    } = lifetimes;
    let until = cutoff_expires_at(merged.latest(), leeway, max_token_lifetime, now);
    let (value, metadata) = cutoff_entry(&merged)?;
    kv.put(key, &value, until, &metadata).await?;
    Ok(Some((merged, until)))
}

/// The longest stored value read: ours stay under a few KiB. A longer one is
/// not ours; the store binding does not copy it in and it counts as
/// unreadable, so no entry can make the worker allocate without bound.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How long one store call (read or write) may take. A slower one counts
/// as failed: the request fails closed (`503` with `Retry-After`), and a
/// write is never answered as a success.
pub const STORE_TIMEOUT_MS: u64 = 2_000;

/// What a failed store call's error message means: the key was written too
/// recently ([`StoreError::RateLimited`], worth a retry: Workers KV answers
/// HTTP 429 and the binding's error message carries the status), or the
/// store is unavailable.
pub fn write_error(message: &str) -> StoreError {
    if message.contains("429") {
        StoreError::RateLimited
    } else {
        StoreError::Unavailable
    }
}

/// The binding's bulk-read answer: a JSON array with one member per key
/// asked, in order: the value as a string, `null` when missing, `true` when
/// longer than [`MAX_VALUE_BYTES`] (never copied in). Anything else is an
/// unusable answer, so the read failed.
pub fn read_texts(text: &str) -> Result<Vec<Option<Stored>>, StoreError> {
    let Ok(serde_json::Value::Array(values)) = serde_json::from_str(text) else {
        return Err(StoreError::Unavailable);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(text) => Ok(Some(Stored::Text(text))),
            serde_json::Value::Bool(true) => Ok(Some(Stored::Oversized)),
            serde_json::Value::Null => Ok(None),
            _ => Err(StoreError::Unavailable),
        })
        .collect()
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

/// The cutoff of `kind` stored for `name`. One this version cannot read
/// revokes every token of `name` ([`Cutoff::unreadable`]); so does one
/// stored for another name.
pub fn read_cutoff(kind: CutoffKind, name: &str, stored: &Stored) -> Cutoff {
    let text = match stored {
        Stored::Text(text) => Some(text.as_str()),
        Stored::Oversized => None,
    };
    text.and_then(|text| Cutoff::from_json(kind, text))
        .filter(|cutoff| cutoff.name == name)
        .unwrap_or_else(|| Cutoff::unreadable(kind, name))
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

/// One page of a `list({prefix: "subject:" | "session:"})` result. An entry
/// without readable metadata is listed as unreadable (it still revokes).
pub fn read_cutoff_list(kind: CutoffKind, text: &str) -> Result<CutoffPage, StoreError> {
    let (items, cursor) = read_keys(text, |key| {
        let name = key.name.strip_prefix(kind.prefix()).unwrap_or(&key.name);
        let cutoff = key
            .metadata
            .and_then(|metadata| Cutoff::from_value(kind, metadata))
            .unwrap_or_else(|| Cutoff::unreadable(kind, name));
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
        let subject = CutoffKind::Subject;
        let cutoff = Cutoff::all(
            subject,
            "alice",
            5,
            "alice".into(),
            "DELETE /api/tokens".into(),
        );
        let stored = text(&cutoff_entry(&cutoff).unwrap().0);
        assert_eq!(read_cutoff(subject, "alice", &stored), cutoff);
        // Another subject's value under this key is not this subject's cutoff,
        // nor is a session's.
        assert!(read_cutoff(subject, "bob", &stored).is_unreadable());
        assert!(read_cutoff(CutoffKind::Session, "alice", &stored).is_unreadable());
        let id = TokenId::from_reference("any").unwrap();
        for garbage in ["", "{", "null", "{\"sub\":\"alice\"}"] {
            let read = read_cutoff(subject, "alice", &text(garbage));
            assert!(read.is_unreadable(), "{garbage:?}");
            assert!(read.revokes(Some(u64::MAX - 1), &id), "every token");
        }
        assert!(read_cutoff(subject, "alice", &Stored::Oversized).is_unreadable());
        // A new sign-out replaces the unreadable entry instead of merging with it.
        let unreadable = Cutoff::unreadable(subject, "alice");
        let repaired = Cutoff::merge(Some(unreadable), cutoff.clone());
        assert_eq!(repaired, cutoff);
    }

    #[test]
    fn cutoff_listings_read_their_metadata() {
        let cutoff = Cutoff::all(
            CutoffKind::Subject,
            &"a".repeat(300),
            5,
            "root".into(),
            "DELETE /api/users/{sub}/tokens".into(),
        );
        let metadata = cutoff_entry(&cutoff).unwrap().1;
        assert!(metadata.len() < 1024, "fits KV's metadata limit");
        let text = format!(
            r#"{{"keys":[{{"name":"subject:x","expiration":9,"metadata":{metadata}}},{{"name":"subject:y"}}],"list_complete":true}}"#
        );
        let page = read_cutoff_list(CutoffKind::Subject, &text).unwrap();
        let listed = &page.items[0].0;
        assert_eq!(
            (listed.name.len(), listed.cutoff, page.items[0].1),
            (256, Some(5), Some(9))
        );
        assert_eq!(
            page.items[1].0,
            Cutoff::unreadable(CutoffKind::Subject, "y")
        );
        let sessions = r#"{"keys":[{"name":"session:s1","metadata":{"sid":"s1","cutoff":7,"by":"idp","route":"r"}}],"list_complete":false,"cursor":"c"}"#;
        let page = read_cutoff_list(CutoffKind::Session, sessions).unwrap();
        let session = &page.items[0].0;
        assert_eq!(
            (session.kind, session.cutoff),
            (CutoffKind::Session, Some(7))
        );
        assert_eq!(page.cursor.as_deref(), Some("c"));
    }

    #[test]
    fn the_bulk_read_answer_and_write_errors_are_read_here() {
        assert_eq!(
            read_texts(r#"["a",null,true]"#),
            Ok(vec![
                Some(Stored::Text("a".into())),
                None,
                Some(Stored::Oversized)
            ])
        );
        for bad in ["", "{}", "[1]", "[false]", "[[]]", "null"] {
            assert_eq!(read_texts(bad), Err(StoreError::Unavailable), "{bad:?}");
        }
        assert_eq!(
            write_error("KV PUT failed: 429 Too Many Requests"),
            StoreError::RateLimited
        );
        assert_eq!(write_error("KV PUT failed: 500"), StoreError::Unavailable);
        assert_eq!(write_error(""), StoreError::Unavailable);
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
