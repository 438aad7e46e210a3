//! The RFC 8936 poll receiver, natively: a transmitter modelled as the RFC
//! describes it (SETs pending until acknowledged, `maxEvents`,
//! `moreAvailable`, `ack` and `setErrs` recorded), polled by
//! `handlers::poll_transmitter` through the push route's own SET path. Each
//! run is followed by what it must change for later requests, and by what
//! the transmitter was told.

use edge_revoke_core::config::Config;
use edge_revoke_core::error::ConfigError;
use edge_revoke_core::handlers::{MAX_EVENTS, MAX_POLLS, POLL_ROUTE};
use edge_revoke_core::idp::{CAEP_CREDENTIAL_CHANGE, CAEP_SESSION_REVOKED, SSF_VERIFICATION};
use edge_revoke_core::isolate::Isolate;
use edge_revoke_test_support::*;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::rc::Rc;

const POLL_URL: &str = "https://ssf.test/poll";
const POLL_TOKEN: &str = "poll-secret-1";

/// A poll transmitter (RFC 8936 §2): SETs wait, in order, until a request
/// acknowledges them or reports them in `setErrs`.
#[derive(Default)]
struct Transmitter {
    pending: Vec<(String, String)>,
    acked: Vec<String>,
    errs: Map<String, Value>,
    requests: Vec<Value>,
    /// The polls (0-based) that answer 500 instead.
    failing: Vec<usize>,
    /// Sends every pending SET, whatever `maxEvents` says.
    ignores_max_events: bool,
}

impl Transmitter {
    fn answer(&mut self, body: &[u8]) -> Option<(u16, String)> {
        let request: Value = serde_json::from_slice(body).expect("a poll request is JSON");
        let n = self.requests.len();
        self.requests.push(request.clone());
        if self.failing.contains(&n) {
            return Some((500, "down".into()));
        }
        for jti in request["ack"].as_array().unwrap() {
            let jti = jti.as_str().unwrap().to_owned();
            self.pending.retain(|(j, _)| *j != jti);
            self.acked.push(jti);
        }
        if let Some(errs) = request.get("setErrs").and_then(Value::as_object) {
            for (jti, err) in errs {
                self.pending.retain(|(j, _)| j != jti);
                self.errs.insert(jti.clone(), err.clone());
            }
        }
        let max = match self.ignores_max_events {
            true => usize::MAX,
            false => request["maxEvents"].as_u64().unwrap() as usize,
        };
        let sets: Map<String, Value> = self
            .pending
            .iter()
            .take(max)
            .map(|(jti, set)| (jti.clone(), Value::String(set.clone())))
            .collect();
        let more = self.pending.len() > sets.len();
        Some((
            200,
            json!({ "sets": sets, "moreAvailable": more }).to_string(),
        ))
    }
}

/// A world that polls `t`.
fn polling(t: &Rc<RefCell<Transmitter>>) -> World<FaultKv> {
    let w = receiving_with(&[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", POLL_TOKEN)]);
    attach(&w, t);
    w
}

fn attach<K>(w: &World<K>, t: &Rc<RefCell<Transmitter>>) {
    let t = t.clone();
    *w.outbound.responder.borrow_mut() = Some(Box::new(move |body| t.borrow_mut().answer(body)));
}

/// A SET of `event` for `sub_id`, ID `jti`.
fn set(jti: &str, event: &str, body: Value, sub_id: Value) -> (String, String) {
    let mut claims = set_claims(event, body, sub_id);
    claims["jti"] = jti.into();
    (jti.to_owned(), set_token(&claims))
}

fn session_of(sub: &str, sid: &str) -> Value {
    json!({"format": "complex", "user": user(sub), "session": {"format": "opaque", "id": sid}})
}

fn transmitter(sets: Vec<(String, String)>) -> Rc<RefCell<Transmitter>> {
    Rc::new(RefCell::new(Transmitter {
        pending: sets,
        ..Transmitter::default()
    }))
}

#[test]
fn polled_sets_are_enforced_and_acknowledged_once_stored() {
    let t = transmitter(vec![
        set(
            "p-1",
            CAEP_SESSION_REVOKED,
            json!({"event_timestamp": NOW - 1}),
            session_of("alice", "s-1"),
        ),
        set("p-2", CAEP_CREDENTIAL_CHANGE, json!({}), user("bob")),
        set(
            "p-3",
            SSF_VERIFICATION,
            json!({}),
            json!({"format": "opaque", "id": "stream"}),
        ),
    ]);
    let w = polling(&t);
    let alice = access_token("alice", Some("s-1"), "a-1", NOW - 20);
    let alice_other = access_token("alice", Some("s-2"), "a-2", NOW - 20);
    let bob = access_token("bob", None, "b-1", NOW - 20);
    assert!(forwarded(&get(&w, &alice)) && forwarded(&get(&w, &bob)));

    let run = w.poll().expect("polling is configured");
    assert_eq!(
        (
            run.polls,
            run.received,
            run.acknowledged,
            run.refused,
            run.left,
            run.failed
        ),
        (2, 3, 3, 0, 0, None)
    );
    assert_eq!(status(&get(&w, &alice)), 401);
    assert!(
        forwarded(&get(&w, &alice_other)),
        "another session of alice"
    );
    assert_eq!(status(&get(&w, &bob)), 401);

    let t = t.borrow();
    assert!(t.pending.is_empty());
    assert_eq!(t.acked, ["p-1", "p-2", "p-3"]);
    assert_eq!(
        t.requests[0],
        json!({"maxEvents": MAX_EVENTS, "returnImmediately": true, "ack": []})
    );
    assert_eq!(
        t.requests[1],
        json!({"maxEvents": MAX_EVENTS, "returnImmediately": true, "ack": ["p-1", "p-2", "p-3"]})
    );
    // The poll carries the operator's credential, to the configured URL.
    let sent = w.outbound.sent.borrow();
    assert_eq!(
        (sent[0].0.as_str(), sent[0].1.as_str()),
        (POLL_URL, "Bearer poll-secret-1")
    );
    // One log line per SET, as the push route writes them.
    let lines: Vec<Value> = run.events.iter().map(|e| e.log_line(0)).collect();
    assert_eq!(lines[0]["route"], POLL_ROUTE);
    assert_eq!(lines[0]["sid"], "s-1");
    assert_eq!(lines[2]["decision"], "ignored");
    assert_eq!(run.log_line()["acknowledged"], 3);
}

#[test]
fn more_than_max_events_are_fetched_in_one_run() {
    let sets = (0..MAX_EVENTS + 5)
        .map(|n| {
            set(
                &format!("m-{n}"),
                CAEP_CREDENTIAL_CHANGE,
                json!({}),
                user(&format!("u-{n}")),
            )
        })
        .collect();
    let t = transmitter(sets);
    let w = polling(&t);
    let run = w.poll().unwrap();
    assert_eq!((run.polls, run.received, run.acknowledged), (3, 30, 30));
    let t = t.borrow();
    assert!(t.pending.is_empty());
    assert_eq!(t.requests[1]["ack"].as_array().unwrap().len(), MAX_EVENTS);
    assert_eq!(t.requests[2]["ack"].as_array().unwrap().len(), 5);
    assert_eq!(
        status(&get(&w, &access_token("u-29", None, "x", NOW - 20))),
        401
    );
}

/// A transmitter that sends more SETs than asked for: the run takes
/// `maxEvents` of them and leaves the rest unacknowledged, to come again.
#[test]
fn an_answer_over_max_events_is_taken_only_up_to_it() {
    let sets = (0..MAX_EVENTS + 5)
        .map(|n| {
            let sub = user(&format!("u-{n:02}"));
            set(&format!("m-{n:02}"), CAEP_CREDENTIAL_CHANGE, json!({}), sub)
        })
        .collect();
    let t = transmitter(sets);
    t.borrow_mut().ignores_max_events = true;
    let w = polling(&t);
    let run = w.poll().unwrap();
    assert_eq!((run.polls, run.received, run.acknowledged), (3, 30, 30));
    let t = t.borrow();
    let acked = |n: usize| t.requests[n]["ack"].as_array().unwrap().len();
    assert_eq!((acked(1), acked(2)), (MAX_EVENTS, 5));
}

/// A SET is judged at the time its answer came, not at the run's start: a
/// SET issued during a slow run is not "issued in the future", and a
/// cutoff it writes is at that time.
#[test]
fn each_answer_is_judged_at_its_own_time() {
    let w = receiving_with(&[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", POLL_TOKEN)]);
    let clock = w.now.clone();
    let mut polls = 0;
    *w.outbound.responder.borrow_mut() = Some(Box::new(move |_| {
        polls += 1;
        if polls > 1 {
            return Some((200, r#"{"sets":{}}"#.into()));
        }
        // The first answer takes five minutes, and carries a SET issued as
        // it is sent, whose event_timestamp runs far ahead (clamped to the
        // answer's time and the leeway).
        clock.set(clock.get() + 300);
        let change = json!({ "event_timestamp": NOW + 10_000 });
        let mut claims = set_claims(CAEP_CREDENTIAL_CHANGE, change, user("alice"));
        claims["iat"] = json!(NOW + 300);
        let sets = json!({ "late-1": set_token(&claims) });
        Some((200, json!({ "sets": sets }).to_string()))
    }));
    let signed_in_during_the_run = access_token("alice", None, "a-1", NOW + 100);
    let run = w.poll().unwrap();
    assert_eq!((run.received, run.acknowledged, run.refused), (1, 1, 0));
    assert_eq!(status(&get(&w, &signed_in_during_the_run)), 401);
    w.advance(100);
    let signed_in_after = access_token("alice", None, "a-2", NOW + 400);
    assert!(
        forwarded(&get(&w, &signed_in_after)),
        "the cutoff is at NOW + 360"
    );
}

#[test]
fn unusable_settings_end_a_run_with_the_fetch_handler_s_log_line() {
    let mut w = World::new();
    w.isolate = Isolate::new(Err(ConfigError::NoKey));
    let run = w.poll().expect("a run that says why it did nothing");
    assert_eq!(
        (run.polls, run.failed),
        (0, Some("the settings are unusable"))
    );
    let line = run.events[0].log_line(0);
    assert_eq!(
        (line["reason"].as_str(), line["route"].as_str()),
        (Some("config"), Some(POLL_ROUTE))
    );
}

/// Each refused SET is reported in `setErrs` with exactly the error the push
/// route answers for it.
#[test]
fn a_refused_set_is_reported_with_the_push_route_s_error_and_never_acknowledged() {
    let mut wrong_issuer = set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), user("carol"));
    wrong_issuer["iss"] = "https://evil.test".into();
    let mut by_access_key = set_claims(CAEP_CREDENTIAL_CHANGE, json!({}), user("carol"));
    by_access_key["jti"] = "e-2".into();
    let refused = [
        ("e-1", set_token(&wrong_issuer)),
        ("e-2", mint("RS256", &by_access_key)),
        ("e-3", "not a jwt".to_owned()),
    ];
    let t = transmitter(
        refused
            .iter()
            .map(|(j, s)| (j.to_string(), s.clone()))
            .collect(),
    );
    let w = polling(&t);
    let carol = access_token("carol", None, "c-1", NOW - 20);
    let run = w.poll().unwrap();
    assert_eq!(
        (run.received, run.acknowledged, run.refused, run.left),
        (3, 0, 3, 0)
    );
    assert!(forwarded(&get(&w, &carol)), "nothing was acted on");
    let t = t.borrow();
    assert!(t.acked.is_empty());
    let pushed = receiving();
    for (jti, token) in &refused {
        let d = push(&pushed, token);
        assert_eq!(status(&d), 400);
        assert_eq!(
            t.errs[*jti],
            json_body(&d),
            "{jti}: the same answer as a push"
        );
    }
}

#[test]
fn a_set_whose_effect_is_not_stored_comes_again_and_is_then_acted_on_once() {
    let t = transmitter(vec![
        set(
            "s-a",
            CAEP_CREDENTIAL_CHANGE,
            json!({"event_timestamp": NOW - 5}),
            user("dave"),
        ),
        set(
            "s-b",
            CAEP_CREDENTIAL_CHANGE,
            json!({"event_timestamp": NOW - 5}),
            user("erin"),
        ),
    ]);
    let w = polling(&t);
    let dave = access_token("dave", None, "d-1", NOW - 20);
    w.store.always([Op::Put], Outcome::Fail);
    let run = w.poll().unwrap();
    assert_eq!(
        (run.received, run.acknowledged, run.refused, run.left),
        (2, 0, 0, 2)
    );
    assert_eq!(run.polls, 1, "no more is asked for, and nothing is owed");
    assert!(t.borrow().acked.is_empty() && t.borrow().errs.is_empty());
    assert_eq!(t.borrow().pending.len(), 2, "both come again");
    assert_eq!(run.events[0].log_line(0)["reason"], "store");

    // KV is back: the next run acts on both and acknowledges them.
    let w = polling(&t).with_store(&w.store.inner);
    attach(&w, &t);
    w.advance(60);
    let run = w.poll().unwrap();
    assert_eq!((run.acknowledged, run.left), (2, 0));
    assert_eq!(status(&get(&w, &dave)), 401);
    assert_eq!(
        w.store.cutoffs()["subject:dave"].0.cutoff,
        Some(NOW - 5),
        "the event's time"
    );
}

#[test]
fn a_poll_that_fails_midway_leaves_its_sets_to_come_again_and_a_replay_changes_nothing() {
    let t = transmitter(vec![set(
        "f-1",
        CAEP_CREDENTIAL_CHANGE,
        json!({"event_timestamp": NOW - 5}),
        user("frank"),
    )]);
    t.borrow_mut().failing = vec![1];
    let w = polling(&t);
    let run = w.poll().unwrap();
    assert_eq!(
        (run.polls, run.received, run.acknowledged, run.left),
        (2, 1, 0, 1)
    );
    assert_eq!(run.failed, Some("the poll endpoint did not answer 200"));
    assert_eq!(
        run.log_line()["failed"],
        "the poll endpoint did not answer 200"
    );
    let frank = access_token("frank", None, "f-9", NOW - 20);
    assert_eq!(status(&get(&w, &frank)), 401, "the effect was stored");
    assert_eq!(t.borrow().pending.len(), 1, "not acknowledged");

    // Frank signs in again; the SET comes again and must not sign him out.
    w.advance(30);
    let again = access_token("frank", None, "f-10", NOW + 30);
    assert!(forwarded(&get(&w, &again)));
    let run = w.poll().unwrap();
    assert_eq!((run.received, run.acknowledged), (1, 1));
    assert!(forwarded(&get(&w, &again)), "the replay changed nothing");
    assert_eq!(t.borrow().acked, ["f-1"]);
}

#[test]
fn a_run_ends_within_its_bounds_and_sends_what_it_owes() {
    // A transmitter that always has more.
    let w = receiving_with(&[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", POLL_TOKEN)]);
    let requests: Rc<RefCell<Vec<Value>>> = Rc::default();
    let seen = requests.clone();
    let (_, token) = set("x", SSF_VERIFICATION, json!({}), user("x"));
    *w.outbound.responder.borrow_mut() = Some(Box::new(move |body| {
        seen.borrow_mut()
            .push(serde_json::from_slice(body).unwrap());
        let jti = format!("x-{}", seen.borrow().len());
        Some((
            200,
            json!({"sets": {jti: token.clone()}, "moreAvailable": true}).to_string(),
        ))
    }));
    let run = w.poll().unwrap();
    assert_eq!(
        run.polls,
        MAX_POLLS + 1,
        "MAX_POLLS, then one to acknowledge"
    );
    let requests = requests.borrow();
    let last = requests.last().unwrap();
    assert_eq!(last["maxEvents"], 0, "acknowledgement only");
    assert_eq!(last["ack"], json!([format!("x-{MAX_POLLS}")]));
    assert_eq!(run.acknowledged, MAX_POLLS);

    // And by time: each poll takes 3 s of the run's 20.
    // One SET under 200 names: the transmitter's names are what is acknowledged.
    let (_, token) = set("y", SSF_VERIFICATION, json!({}), user("y"));
    let t = transmitter(
        (0..200)
            .map(|n| (format!("y-{n}"), token.clone()))
            .collect(),
    );
    let w = polling(&t);
    let (clock, t2) = (w.now.clone(), t.clone());
    *w.outbound.responder.borrow_mut() = Some(Box::new(move |body| {
        clock.set(clock.get() + 3);
        t2.borrow_mut().answer(body)
    }));
    let run = w.poll().unwrap();
    assert!(run.polls <= 9, "{} polls in 20 s at 3 s each", run.polls);
    assert_eq!(t.borrow().requests.last().unwrap()["maxEvents"], 0);
}

#[test]
fn unconfigured_there_is_no_run_and_bad_settings_are_refused() {
    assert!(receiving().poll().is_none());
    let bad = |vars: &[(&str, &str)], setting: &str| {
        let e = Config::from_lookup(|name| {
            [("JWT_SECRET", SECRET)]
                .iter()
                .chain(vars)
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap_err();
        assert_eq!(e.setting(), setting, "{vars:?}: {e}");
    };
    bad(
        &[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", "t")],
        "SSF_POLL_URL",
    );
    let ssf_jwks = ssf_jwks();
    let receiver = [
        ("SSF_ISSUER", SSF_ISSUER),
        ("SSF_AUDIENCE", SSF_AUDIENCE),
        ("SSF_JWKS", ssf_jwks.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all: Vec<(&str, &str)> = receiver.to_vec();
        all.extend_from_slice(extra);
        all
    };
    bad(&with(&[("SSF_POLL_URL", POLL_URL)]), "SSF_POLL_TOKEN");
    bad(
        &with(&[("SSF_POLL_URL", "poll"), ("SSF_POLL_TOKEN", "t")]),
        "SSF_POLL_URL",
    );
}

#[test]
fn an_answer_must_have_the_rfc_s_shape_and_at_most_a_mebibyte() {
    let answered = |text: String| {
        let w = receiving_with(&[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", POLL_TOKEN)]);
        *w.outbound.responder.borrow_mut() = Some(Box::new(move |_| Some((200, text.clone()))));
        w.poll().unwrap().failed
    };
    let empty = r#"{"sets":{},"moreAvailable":false}"#;
    assert_eq!(answered(empty.to_owned()), None);
    // Exactly 1 MiB is read; one byte more is not.
    let padded = |len: usize| format!("{empty}{}", " ".repeat(len - empty.len()));
    assert_eq!(answered(padded(1024 * 1024)), None);
    assert_eq!(
        answered(padded(1024 * 1024 + 1)),
        Some("the poll answer is over 1 MiB")
    );
    assert_eq!(
        answered("{}".into()),
        Some("the poll answer has no sets object")
    );
    assert_eq!(
        answered("[]".into()),
        Some("the poll answer has no sets object")
    );
    assert_eq!(answered("nope".into()), Some("the poll answer is not JSON"));
    assert_eq!(
        answered(r#"{"sets":{},"moreAvailable":"yes"}"#.into()),
        Some("moreAvailable is not a boolean")
    );
}

#[test]
fn an_acknowledgement_only_answer_may_leave_out_sets() {
    // The first poll brings a SET whose store fails (the run then only
    // acknowledges); a second SET is stored. The acknowledgement-only answer
    // is `{}`, which a normal poll's answer may not be.
    let (jti_ok, ok) = set("k-1", CAEP_CREDENTIAL_CHANGE, json!({}), user("kim"));
    let (jti_later, later) = set("k-2", CAEP_CREDENTIAL_CHANGE, json!({}), user("lee"));
    let w = receiving_with(&[("SSF_POLL_URL", POLL_URL), ("SSF_POLL_TOKEN", POLL_TOKEN)]);
    w.store.script_on(
        Op::Put,
        "subject:lee",
        [Outcome::Fail, Outcome::Fail, Outcome::Fail],
    );
    let requests: Rc<RefCell<Vec<Value>>> = Rc::default();
    let seen = requests.clone();
    *w.outbound.responder.borrow_mut() = Some(Box::new(move |body| {
        let request: Value = serde_json::from_slice(body).unwrap();
        seen.borrow_mut().push(request.clone());
        if request["maxEvents"] == 0 {
            return Some((200, "{}".into()));
        }
        let sets = json!({ &jti_ok: ok.clone(), &jti_later: later.clone() });
        Some((200, json!({ "sets": sets }).to_string()))
    }));
    let run = w.poll().unwrap();
    assert_eq!(run.failed, None, "{run:?}");
    assert_eq!((run.acknowledged, run.left, run.polls), (1, 1, 2));
    assert_eq!(
        requests.borrow()[1],
        json!({"maxEvents": 0, "returnImmediately": true, "ack": ["k-1"]})
    );
}
