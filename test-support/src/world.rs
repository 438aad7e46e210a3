//! The worker's core with a fixed clock, the fixture configuration, the
//! native verifier and a store: what scenario tests and fuzz targets drive.

use crate::store::{drive, drive_together};
use crate::tokens::{public_jwks, API_KEY, AUDIENCE, AUDIENCE_2, ISSUER, NOW, SECRET};
use edge_revoke_core::config::Config;
use edge_revoke_core::handlers::{handle, poll_transmitter, Action, Decision, PollRun, Services};
use edge_revoke_core::http::reply::Reply;
use edge_revoke_core::http::request::RequestHead;
use edge_revoke_core::isolate::Isolate;
use edge_revoke_core::keys::{Outbound, Post};
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::memory_journal::LocalJournal;
use edge_revoke_core::revocation::Kv;
use edge_revoke_core::token::signature::RustCrypto;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// A configuration with every key type, the issuer, two audiences and two
/// invalidation API keys; `extra` adds or replaces variables (an empty
/// value unsets one).
pub fn config_with(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("JWT_SECRET", SECRET.to_string()),
        ("JWT_JWKS", public_jwks()),
        ("JWT_ISSUER", ISSUER.to_string()),
        ("JWT_AUDIENCE", format!("{AUDIENCE},{AUDIENCE_2}")),
        ("INVALIDATE_API_KEYS", format!("{API_KEY},service-key-2")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration is valid")
}

/// The standard test configuration.
pub fn config() -> Config {
    config_with(&[])
}

/// `method` on `https://edge.test{path}` with `headers`.
pub fn request_head(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    let url = format!("https://edge.test{path}");
    RequestHead::new(method, &url, headers.iter().copied())
}

/// The worker's core as one isolate holds it ([`Isolate`]: settings,
/// remembered writes, key sets, token cache), a key-value store (in memory
/// unless replaced), the native verifier, and a clock that reads [`NOW`]
/// until a test moves it.
pub struct World<K = MemoryKv> {
    /// The time every request is decided at (shared, so that a responder
    /// can move it).
    pub now: Rc<Cell<u64>>,
    /// What the isolate keeps between requests.
    pub isolate: Isolate,
    /// Where revocations live.
    pub store: K,
    pub verifier: RustCrypto,
    /// The revocation journal this isolate follows, if one is bound.
    pub journal: Option<Rc<LocalJournal>>,
    /// The isolate's outgoing requests: no key set is reachable; posts are
    /// recorded and answered as a test says.
    pub outbound: Posts,
}

/// Outgoing requests as a test sees them: every `fetch` of a key set fails,
/// every `post` is recorded and answered by [`Posts::responder`] when one is
/// set, else with [`Posts::answer`] and no body (`None`: no response in
/// time).
#[derive(Default)]
pub struct Posts {
    /// What the posts get back without a responder.
    pub answer: Cell<Option<u16>>,
    /// Answers each post's body (a transmitter, an authorization server).
    #[allow(clippy::type_complexity)]
    pub responder: RefCell<Option<Box<dyn FnMut(&[u8]) -> Option<(u16, String)>>>>,
    /// Each post: its URL, `Authorization` header and body.
    pub sent: RefCell<Vec<(String, String, Vec<u8>)>>,
}

impl Outbound for Posts {
    async fn fetch(&self, _url: &str) -> Result<String, ()> {
        Err(())
    }

    async fn post(&self, post: &Post<'_>) -> Result<(u16, String), ()> {
        let bearer = String::from_utf8_lossy(post.bearer.expose());
        let sent = (
            post.url.to_owned(),
            format!("Bearer {bearer}"),
            post.body.to_vec(),
        );
        self.sent.borrow_mut().push(sent);
        if let Some(respond) = self.responder.borrow_mut().as_mut() {
            // Cut as the worker reads it: `read_limit` bytes and one more,
            // or nothing with 0.
            let (status, mut text) = respond(post.body).ok_or(())?;
            let most = match post.read_limit {
                0 => 0,
                limit => limit + 1,
            };
            if text.len() > most {
                let mut cut = most;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text.truncate(cut);
            }
            return Ok((status, text));
        }
        self.answer
            .get()
            .map(|status| (status, String::new()))
            .ok_or(())
    }
}

impl World {
    /// A world with the standard test configuration.
    pub fn new() -> World {
        World::with(config())
    }

    /// A world with `config`.
    pub fn with(config: Config) -> World {
        World {
            now: Rc::new(Cell::new(NOW)),
            isolate: Isolate::new(Ok(config)),
            store: MemoryKv::new(NOW),
            verifier: RustCrypto,
            journal: None,
            outbound: Posts::default(),
        }
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl<K: Kv> World<K> {
    /// The same world with another store (e.g. a [`crate::FaultKv`]).
    pub fn with_store<T: Kv>(self, store: T) -> World<T> {
        World {
            now: self.now,
            isolate: self.isolate,
            store,
            verifier: self.verifier,
            journal: self.journal,
            outbound: self.outbound,
        }
    }

    /// The same world following `journal` (shared with other worlds: other
    /// isolates or locations).
    pub fn following(mut self, journal: &Rc<LocalJournal>) -> Self {
        self.journal = Some(journal.clone());
        self
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        self.isolate
            .config
            .as_ref()
            .expect("test configuration is valid")
    }

    /// What a request is decided with at the world's time, as the worker
    /// builds it (no remote key set is reachable).
    pub fn services(&self) -> Services<'_, &K, RustCrypto, Posts, Option<&LocalJournal>> {
        self.services_at(self.now.get())
    }

    /// The same at `now`.
    pub fn services_at(
        &self,
        now: u64,
    ) -> Services<'_, &K, RustCrypto, Posts, Option<&LocalJournal>> {
        if let Some(journal) = &self.journal {
            journal.set_now(now);
        }
        let journal = self.journal.as_deref();
        self.isolate
            .services(&self.store, journal, &self.verifier, &self.outbound, now)
    }

    /// Moves the clock `seconds` on.
    pub fn advance(&self, seconds: u64) {
        self.now.set(self.now.get() + seconds);
    }

    /// Decides one request at the world's time.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Decision {
        self.decide(&request_head(method, path, headers), body).0
    }

    /// One scheduled poll run of `SSF_POLL_URL` at the world's time (`None`
    /// when it is unset). The run reads the world's clock, which a responder
    /// may move.
    pub fn poll(&self) -> Option<PollRun> {
        let config = self.isolate.config.as_ref();
        let runtime = |now| self.services_at(now);
        drive(poll_transmitter(config, runtime, || self.now.get() * 1000)).0
    }

    /// Decides one request at the world's time, and says how many polls
    /// that took (one unless the store made a call wait).
    pub fn decide(&self, head: &RequestHead, body: Option<&[u8]>) -> (Decision, usize) {
        let now = self.now.get();
        let config = self.isolate.config.as_ref();
        drive(handle(head, body, config, &self.services(), now))
    }
}

/// A request for [`decide_together`]: the world (isolate) that decides it,
/// its head and its body.
pub type InFlight<'a, K> = (&'a World<K>, RequestHead, Option<&'a [u8]>);

/// Requests in flight together, each decided by its world (one isolate,
/// or several sharing a store or a journal) at that world's time: while one
/// waits in a store call the others go on.
pub fn decide_together<K: Kv>(requests: &[InFlight<'_, K>]) -> Vec<Decision> {
    let services: Vec<_> = requests.iter().map(|(w, _, _)| w.services()).collect();
    let futures = requests
        .iter()
        .zip(&services)
        .map(|((w, head, body), services)| {
            let config = w.isolate.config.as_ref();
            handle(head, *body, config, services, w.now.get())
        })
        .collect();
    drive_together(futures)
}

/// The reply of a decision that answered at the edge.
pub fn reply(decision: &Decision) -> &Reply {
    match &decision.action {
        Action::Reply(reply) => reply,
        Action::Forward(_) => panic!("expected a reply, got Forward"),
    }
}

/// The status, or 0 for a request forwarded to the origin.
pub fn status(decision: &Decision) -> u16 {
    match &decision.action {
        Action::Reply(reply) => reply.status,
        Action::Forward(_) => 0,
    }
}

pub fn forwarded(decision: &Decision) -> bool {
    matches!(decision.action, Action::Forward(_))
}

/// The JSON body of a reply.
pub fn json_body(decision: &Decision) -> Value {
    serde_json::from_slice(&reply(decision).body).expect("a JSON reply body")
}
