//! A response the worker makes itself, as plain data for the glue to send.

use serde::Serialize;

/// Status, headers and a small body. Header names are lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body; empty for 204.
    pub body: Vec<u8>,
}

impl Reply {
    /// An empty response, e.g. 204.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Reply {
        // Serialising plain data cannot fail; an empty object is the safe fallback.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            body,
        }
    }

    /// Replaces the content type.
    pub fn set_content_type(&mut self, value: &str) {
        self.headers.retain(|(name, _)| *name != "content-type");
        self.headers.push(("content-type", value.into()));
    }

    /// The value of a header, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
