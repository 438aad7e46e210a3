//! The parts of a request the core decides on, as plain data.

use crate::primitives::parse_form;

/// The headers the core reads. The glue copies only these out of the runtime's
/// request, so the hot path does not walk every header.
pub const READ_HEADERS: &[&str] = &[
    "authorization",
    "x-auth-token",
    "accept",
    "x-api-key",
    "access-control-request-method",
    "content-type",
];

/// Method, URL and the headers in [`READ_HEADERS`].
#[derive(Clone, Debug, Default)]
pub struct RequestHead {
    /// Upper-case method, e.g. `DELETE`.
    pub method: String,
    /// The full URL as received.
    pub url: String,
    /// The path, still percent-encoded, e.g. `/v2.0/tokens/abc`.
    pub path: String,
    /// The raw query without `?`; empty when there is none.
    pub query: String,
    /// `(lower-case name, value)` pairs.
    pub headers: Vec<(String, String)>,
    /// Every header name of the request, lower-case, when the worker was
    /// asked for them ([`RequestHead::from_lines`]): claim headers are
    /// configured, and every spelling of them is stripped.
    pub names: Vec<String>,
}

impl RequestHead {
    /// Splits `url` into path and query.
    pub fn new<N: Into<String>, V: Into<String>>(
        method: &str,
        url: &str,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> RequestHead {
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        let path_and_query = path_and_query.split('#').next().unwrap_or_default();
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        RequestHead {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.into().to_ascii_lowercase(), v.into()))
                .collect(),
            names: Vec::new(),
        }
    }

    /// The head from one text: the method, the URL, then one `name:value`
    /// line per header present, separated by `\n` (the worker's binding
    /// builds it in one JS call; neither a URL nor a header value can hold a
    /// line break), and optionally a line `:name:name...` with every header
    /// name of the request (a header name holds no `:`). `None` when the
    /// text has no URL line.
    pub fn from_lines(text: &str) -> Option<RequestHead> {
        let mut lines = text.split('\n');
        let method = lines.next()?;
        let url = lines.next()?;
        let mut names = Vec::new();
        let headers = lines.filter_map(|line| match line.strip_prefix(':') {
            Some(all) => {
                names.extend(
                    all.split(':')
                        .filter(|n| !n.is_empty())
                        .map(|n| n.to_ascii_lowercase()),
                );
                None
            }
            None => line.split_once(':'),
        });
        let mut head = RequestHead::new(method, url, headers.collect::<Vec<_>>());
        head.names = names;
        Some(head)
    }

    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every decoded value of query parameter `name`, whose name matches
    /// without regard to ASCII case (`tokenId`, `TokenId`: some origin
    /// frameworks read them as one). `None` when the query cannot be decoded.
    pub fn query_values(&self, name: &str) -> Option<Vec<String>> {
        Some(
            parse_form(&self.query)?
                .into_iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .collect(),
        )
    }

    /// True when the client prefers `application/json` to problem+json.
    pub fn wants_plain_json(&self) -> bool {
        self.header("accept").is_some_and(|accept| {
            accept.contains("application/json") && !accept.contains("application/problem+json")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_url() {
        let head = RequestHead::new(
            "delete",
            "https://edge.test/v2.0/tokens?tokenId=a%2Bb&x#frag",
            [("X-Auth-Token", "t")],
        );
        assert_eq!(head.method, "DELETE");
        assert_eq!(head.path, "/v2.0/tokens");
        assert_eq!(head.query, "tokenId=a%2Bb&x");
        assert_eq!(head.header("x-auth-token"), Some("t"));
        assert_eq!(head.query_values("tokenId").unwrap(), ["a+b"]);
        let bare = RequestHead::new("GET", "https://edge.test", Vec::<(String, String)>::new());
        assert_eq!(bare.path, "/");
        assert_eq!(bare.query, "");
    }

    #[test]
    fn a_head_from_lines() {
        let head = RequestHead::from_lines(
            "post\nhttps://edge.test/a?b=1\nauthorization:Bearer a:b\ncontent-type:text/plain; x=\"1\"",
        )
        .unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/a");
        assert_eq!(head.query, "b=1");
        assert_eq!(head.header("authorization"), Some("Bearer a:b"));
        assert_eq!(head.header("content-type"), Some("text/plain; x=\"1\""));
        assert_eq!(head.headers.len(), 2);
        let bare = RequestHead::from_lines("GET\nhttps://edge.test/").unwrap();
        assert!(bare.headers.is_empty());
        assert!(bare.names.is_empty());
        let named = RequestHead::from_lines(
            "GET\nhttps://edge.test/\nauthorization:Bearer t\n:authorization:X_User_Id:x-user-id",
        )
        .unwrap();
        assert_eq!(named.headers.len(), 1);
        assert_eq!(named.names, ["authorization", "x_user_id", "x-user-id"]);
        assert!(RequestHead::from_lines("GET").is_none());
    }

    #[test]
    fn accept_negotiation() {
        let head = |accept: &str| RequestHead::new("GET", "http://h/", [("accept", accept)]);
        assert!(head("application/json").wants_plain_json());
        assert!(!head("application/problem+json, application/json").wants_plain_json());
        assert!(!head("*/*").wants_plain_json());
    }
}
