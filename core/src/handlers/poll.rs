//! The RFC 8936 poll receiver: one scheduled run asks the transmitter's
//! poll endpoint (`SSF_POLL_URL`) for security event tokens, hands each to
//! the push route's own [`super::ssf::receive`], and acknowledges it only
//! once its effect is stored.
//!
//! - Each request (RFC 8936 §2.2) carries `maxEvents`, `returnImmediately:
//!   true` (a scheduled run does not long-poll), `ack` (the `jti`s whose
//!   effect is stored since the last request) and, when there are any,
//!   `setErrs` (`{"err", "description"}` of RFC 8935 §2.3 for each SET that
//!   was refused).
//! - The answer (§2.3) is `{"sets": {jti: SET}, "moreAvailable": bool}`. The
//!   run asks again after every answer that carried SETs (which covers
//!   `moreAvailable: true`), sending their acknowledgements with it, until an
//!   answer is empty, within [`RUN_MS`] and [`MAX_POLLS`]; when it must stop
//!   with acknowledgements pending, it sends them alone (`maxEvents: 0`,
//!   §2.4.2).
//! - A SET whose effect could not be stored (KV or the key set down) is
//!   neither acknowledged nor refused: the transmitter sends it again, and
//!   the next run acts on it. Acting on a SET twice changes nothing (its
//!   cutoffs are at the event's time, and merge).
//! - A poll that fails (no answer, not 200, not the shape above) ends the
//!   run; whatever it would have acknowledged comes again.

use super::ssf::receive;
use super::{Context, Runtime};
use crate::config::{Config, SsfConfig, SsfPoll};
use crate::error::{ConfigError, Rejection, Render};
use crate::keys::{Outbound, Post};
use crate::log::Event;
use serde_json::{json, Map, Value};

/// Most SETs asked for per poll.
pub const MAX_EVENTS: usize = 25;
/// Most polls per run.
pub const MAX_POLLS: u32 = 20;
/// No poll starts this long after the run began (a cron trigger's run may
/// take 30 s of CPU; waiting on the network costs none, but a run should end
/// well before the next minute's).
pub const RUN_MS: u64 = 20_000;
/// How long one poll may take.
pub const POLL_TIMEOUT_MS: u64 = 10_000;
/// Largest poll answer read.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The route name of polled SETs' records and log lines.
pub const POLL_ROUTE: &str = "SSF poll (RFC 8936)";

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollRun {
    /// Poll requests sent, acknowledgement-only ones included.
    pub polls: u32,
    /// SETs received.
    pub received: u32,
    /// SETs acknowledged: their effect is stored.
    pub acknowledged: u32,
    /// SETs refused as invalid, reported in `setErrs`.
    pub refused: u32,
    /// SETs left unacknowledged to come again: their effect could not be
    /// stored, or the poll that would have acknowledged them failed.
    pub left: u32,
    /// Why the run stopped early, if it did.
    pub failed: Option<&'static str>,
    /// One log line per SET received, as the push route writes them.
    pub events: Vec<Event>,
}

impl PollRun {
    /// The run's summary log line.
    pub fn log_line(&self) -> Value {
        json!({
            "event": "ssf_poll",
            "polls": self.polls,
            "received": self.received,
            "acknowledged": self.acknowledged,
            "refused": self.refused,
            "left": self.left,
            "failed": self.failed,
        })
    }
}

/// One poll run, if `SSF_POLL_URL` is set: `None` otherwise. `clock` is
/// milliseconds since the epoch, read before each poll; `runtime` builds
/// what the SETs of each answer are decided with at that answer's time (in
/// seconds), so that a SET sent during the run is never judged by the
/// run's start. Settings that are unusable end the run at once, with the
/// line the fetch handler logs for them.
pub async fn poll_transmitter<R: Runtime>(
    config: Result<&Config, &ConfigError>,
    runtime: impl Fn(u64) -> R,
    clock: impl Fn() -> u64,
) -> Option<PollRun> {
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            let event = Event::rejected(&Rejection::Config(e.clone()), None, POLL_ROUTE, true);
            return Some(PollRun {
                failed: Some("the settings are unusable"),
                events: vec![event],
                ..PollRun::default()
            });
        }
    };
    let ssf = config.ssf.as_ref()?;
    let poll = ssf.poll.as_ref()?;
    let render = Render {
        realm: &config.realm,
        plain_json: true,
    };
    let started = clock();
    let mut run = PollRun::default();
    let mut ack: Vec<String> = Vec::new();
    let mut errs = Map::new();
    // Set once a SET could not be stored: ask for no more in this run.
    let mut stop = false;
    loop {
        let out_of_time = clock().saturating_sub(started) >= RUN_MS || run.polls >= MAX_POLLS;
        let last = stop || out_of_time;
        if last && ack.is_empty() && errs.is_empty() {
            break;
        }
        // The last request only acknowledges (RFC 8936 §2.4.2).
        let max_events = if last { 0 } else { MAX_EVENTS };
        let answer = ask(poll, max_events, &ack, &errs, &runtime(clock() / 1000)).await;
        run.polls += 1;
        let mut sets = match answer {
            Ok(answer) => answer,
            Err(why) => {
                run.left += ack.len() as u32;
                run.failed = Some(why);
                break;
            }
        };
        run.acknowledged += ack.len() as u32;
        ack.clear();
        errs.clear();
        if last || sets.is_empty() {
            break;
        }
        // A transmitter that sends more than asked for gets the rest back
        // unacknowledged: it sends them again.
        sets.truncate(MAX_EVENTS);
        run.received += sets.len() as u32;
        let now = clock() / 1000;
        let rt = runtime(now);
        let cx = Context {
            config,
            rt: &rt,
            now,
            route: POLL_ROUTE,
            render,
        };
        for (jti, set) in sets {
            match receive_polled(&set, ssf, &cx).await {
                Received::Stored(event) => {
                    run.events.push(event);
                    ack.push(jti);
                }
                Received::Refused(err, description, event) => {
                    run.events.push(event);
                    run.refused += 1;
                    errs.insert(jti, json!({ "err": err, "description": description }));
                }
                Received::NotStored(event) => {
                    run.events.push(event);
                    run.left += 1;
                    stop = true;
                }
            }
        }
    }
    Some(run)
}

/// What became of one polled SET.
enum Received {
    /// Its effect is stored: acknowledge it.
    Stored(Event),
    /// It is not acceptable (`err`, `description`): report it in `setErrs`.
    Refused(&'static str, &'static str, Event),
    /// Its effect could not be stored: leave it to come again.
    NotStored(Event),
}

async fn receive_polled<R: Runtime>(set: &Value, ssf: &SsfConfig, cx: &Context<'_, R>) -> Received {
    let Some(raw) = set.as_str() else {
        let e = crate::error::SsfError {
            code: crate::error::SsfErrorCode::InvalidRequest,
            description: "the SET is not a JSON string",
        };
        let event = Event::rejected(&e.into(), None, cx.route, true);
        return Received::Refused(e.code.as_str(), e.description, event);
    };
    match receive(raw, ssf, cx).await {
        Ok(event) => Received::Stored(event),
        Err((rejection, jti)) => {
            let event = Event::rejected(&rejection, jti.as_ref(), cx.route, true);
            match rejection {
                Rejection::Ssf(e) => Received::Refused(e.code.as_str(), e.description, event),
                _ => Received::NotStored(event),
            }
        }
    }
}

/// One poll request (RFC 8936 §2.2) and its answer (§2.3): the SETs by
/// `jti`.
async fn ask<R: Runtime>(
    poll: &SsfPoll,
    max_events: usize,
    ack: &[String],
    errs: &Map<String, Value>,
    rt: &R,
) -> Result<Vec<(String, Value)>, &'static str> {
    let mut request = json!({
        "maxEvents": max_events,
        "returnImmediately": true,
        "ack": ack,
    });
    if !errs.is_empty() {
        request["setErrs"] = Value::Object(errs.clone());
    }
    let body = request.to_string();
    let post = Post {
        url: &poll.url,
        bearer: &poll.token,
        content_type: "application/json",
        body: body.as_bytes(),
        timeout_ms: POLL_TIMEOUT_MS,
        read_limit: MAX_ANSWER_BYTES,
    };
    let (status, text) = rt.fetcher().post(&post).await.map_err(|()| "no answer")?;
    if status != 200 {
        return Err("the poll endpoint did not answer 200");
    }
    if text.len() > MAX_ANSWER_BYTES {
        return Err("the poll answer is over 1 MiB");
    }
    let answer: Value = serde_json::from_str(&text).map_err(|_| "the poll answer is not JSON")?;
    let sets = match answer.get("sets") {
        Some(Value::Object(sets)) => sets.clone().into_iter().collect(),
        None if max_events == 0 => Vec::new(),
        _ => return Err("the poll answer has no sets object"),
    };
    // The run asks again after every answer that carried SETs, whatever
    // `moreAvailable` says; it is only checked for its type.
    if answer
        .get("moreAvailable")
        .is_some_and(|more| !more.is_boolean())
    {
        return Err("moreAvailable is not a boolean");
    }
    Ok(sets)
}
