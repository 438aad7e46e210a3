//! A key-value store whose calls can be made to fail or to wait, call by
//! call, and a poll loop that lets a waiting call finish.

use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::memory::MemoryKv;
use edge_revoke_core::revocation::stored::Stored;
use edge_revoke_core::revocation::Kv;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Polls `future` to completion with a no-op waker, re-polling whenever it
/// is pending (every wait in the core's tests is a store call that wakes
/// itself). Returns the output and the number of polls it took.
pub fn drive<F: Future>(future: F) -> (F::Output, usize) {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for polls in 1..=10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls);
        }
    }
    panic!("the future is still pending after 10000 polls");
}

/// Polls `futures` in turn, each once a round, until every one is done:
/// requests in flight together, as the runtime interleaves them at each
/// wait. Outputs in the order given.
pub fn drive_together<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                if let Poll::Ready(done) = future.as_mut().poll(&mut cx) {
                    *output = Some(done);
                }
            }
        }
        if outputs.iter().all(Option::is_some) {
            return outputs.into_iter().flatten().collect();
        }
    }
    panic!("a future is still pending after 10000 rounds");
}

/// One operation of [`Kv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `get_many`: a bulk read.
    Read,
    Put,
    Delete,
    List,
}

impl Op {
    /// The name [`FaultKv::log`] records.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::List => "list",
        }
    }
}

/// What one call does before (or instead of) reaching the inner store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Straight to the inner store.
    #[default]
    Pass,
    /// `Err(StoreError::Unavailable)`; the inner store is not called.
    Fail,
    /// Pending for this many polls (waking itself), then the inner store.
    Delay(u32),
    /// Pending for this many polls, then `Err(StoreError::Unavailable)`.
    DelayThenFail(u32),
    /// `Err(StoreError::RateLimited)`, as Workers KV refuses a second write
    /// to a key within a second; the inner store is not called.
    RateLimited,
}

/// Which calls a script or a standing outcome applies to: an operation, on
/// keys starting with `prefix` (every key when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Calls {
    op: Op,
    prefix: String,
}

impl Calls {
    fn cover(&self, op: Op, keys: &[&str]) -> bool {
        self.op == op && keys.iter().any(|key| key.starts_with(&self.prefix))
    }
}

/// Wraps a key-value store (in memory by default). Each call takes the next
/// [`Outcome`] scripted for it, or when none is left the standing one
/// ([`Outcome::Pass`] unless set with [`FaultKv::always`]).
pub struct FaultKv<K = MemoryKv> {
    /// The store the calls reach.
    pub inner: K,
    /// Every poll of every call, as `"<op> <key prefix>"` (`"read"` alone
    /// for a bulk read), in order: two calls that both appear before either
    /// appears again were in flight together.
    pub log: Cell<Vec<String>>,
    /// Every wait the core asked for before retrying a write, in ms.
    pub sleeps: Cell<Vec<u64>>,
    scripts: RefCell<Vec<(Calls, VecDeque<Outcome>)>>,
    standing: RefCell<Vec<(Calls, Outcome)>>,
}

impl<K> FaultKv<K> {
    pub fn new(inner: K) -> FaultKv<K> {
        FaultKv {
            inner,
            log: Cell::new(Vec::new()),
            sleeps: Cell::new(Vec::new()),
            scripts: RefCell::default(),
            standing: RefCell::default(),
        }
    }

    /// The outcomes of the next calls of `op`, in order (after any already
    /// scripted).
    pub fn script(&self, op: Op, outcomes: impl IntoIterator<Item = Outcome>) {
        self.script_on(op, "", outcomes);
    }

    /// The outcomes of the next calls of `op` on a key starting with
    /// `prefix` (a bulk read: one of its keys).
    pub fn script_on(&self, op: Op, prefix: &str, outcomes: impl IntoIterator<Item = Outcome>) {
        let calls = Calls {
            op,
            prefix: prefix.to_owned(),
        };
        self.scripts
            .borrow_mut()
            .push((calls, outcomes.into_iter().collect()));
    }

    /// The outcome of every call of each of `ops` once its script is used up.
    pub fn always(&self, ops: impl IntoIterator<Item = Op>, outcome: Outcome) {
        for op in ops {
            self.always_on(op, "", outcome);
        }
    }

    /// The outcome of every call of `op` on a key starting with `prefix`,
    /// once its script is used up.
    pub fn always_on(&self, op: Op, prefix: &str, outcome: Outcome) {
        let calls = Calls {
            op,
            prefix: prefix.to_owned(),
        };
        let mut standing = self.standing.borrow_mut();
        standing.retain(|(c, _)| *c != calls);
        standing.push((calls, outcome));
    }

    fn next(&self, op: Op, keys: &[&str]) -> Outcome {
        let scripted = self
            .scripts
            .borrow_mut()
            .iter_mut()
            .find(|(calls, outcomes)| calls.cover(op, keys) && !outcomes.is_empty())
            .and_then(|(_, outcomes)| outcomes.pop_front());
        scripted.unwrap_or_else(|| {
            let standing = self.standing.borrow();
            let mut matching = standing.iter().filter(|(c, _)| c.cover(op, keys));
            // The most specific (longest prefix) standing outcome applies.
            let best = matching.clone().map(|(c, _)| c.prefix.len()).max();
            matching
                .find(|(c, _)| Some(c.prefix.len()) == best)
                .map(|(_, outcome)| *outcome)
                .unwrap_or_default()
        })
    }

    /// The fault part of one call: logs each poll, waits, fails or passes.
    async fn enter(&self, op: Op, keys: &[&str]) -> Result<(), StoreError> {
        let (mut waits, fail) = match self.next(op, keys) {
            Outcome::Pass => (0, None),
            Outcome::Fail => (0, Some(StoreError::Unavailable)),
            Outcome::Delay(n) => (n, None),
            Outcome::DelayThenFail(n) => (n, Some(StoreError::Unavailable)),
            Outcome::RateLimited => (0, Some(StoreError::RateLimited)),
        };
        let entry = match (op, keys.first()) {
            (Op::Read | Op::List, _) | (_, None) => op.name().to_owned(),
            (_, Some(key)) => {
                let prefix = key.find(':').map_or(*key, |i| &key[..=i]);
                format!("{} {prefix}", op.name())
            }
        };
        std::future::poll_fn(|cx| {
            let mut log = self.log.take();
            log.push(entry.clone());
            self.log.set(log);
            if waits == 0 {
                return Poll::Ready(());
            }
            waits -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        match fail {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl<K: Kv> Kv for FaultKv<K> {
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Stored>>, StoreError> {
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.enter(Op::Read, &names).await?;
        self.inner.get_many(keys).await
    }
    async fn put(
        &self,
        key: &str,
        value: &str,
        expires_at: u64,
        metadata: &str,
    ) -> Result<(), StoreError> {
        self.enter(Op::Put, &[key]).await?;
        self.inner.put(key, value, expires_at, metadata).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.enter(Op::Delete, &[key]).await?;
        self.inner.delete(key).await
    }
    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<String, StoreError> {
        self.enter(Op::List, &[prefix]).await?;
        self.inner.list(prefix, cursor, limit).await
    }
    async fn sleep(&self, ms: u64) {
        let mut sleeps = self.sleeps.take();
        sleeps.push(ms);
        self.sleeps.set(sleeps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{valid_token, NOW};
    use crate::world::{request_head, status, World};

    fn world() -> World<FaultKv> {
        World::new().with_store(FaultKv::new(MemoryKv::new(NOW)))
    }

    #[test]
    fn scripted_outcomes_apply_call_by_call() {
        let w = world();
        w.store.script(Op::Put, [Outcome::Fail, Outcome::Delay(2)]);
        let auth = format!("Bearer {}", valid_token());
        let sign_out = request_head("DELETE", "/api/tokens", &[("authorization", &auth)]);
        let (failed, _) = w.decide(&sign_out, None);
        assert_eq!(status(&failed), 503);
        assert!(
            w.store.inner.entries().is_empty(),
            "a failed call stops short"
        );
        let (delayed, polls) = w.decide(&sign_out, None);
        assert_eq!((status(&delayed), polls), (204, 3));
        assert_eq!(
            w.store.inner.entries().len(),
            1,
            "a delayed call goes through"
        );
        w.store.log.take();
        let (again, polls) = w.decide(&sign_out, None);
        assert_eq!((status(&again), polls), (204, 1), "the script is used up");
        assert_eq!(
            w.store.log.take(),
            ["read"],
            "a sign-out of a token already revoked reads and writes nothing"
        );
    }

    #[test]
    fn a_standing_outcome_applies_to_every_call() {
        let w = world();
        w.store.always([Op::Read], Outcome::DelayThenFail(1));
        let auth = format!("Bearer {}", valid_token());
        let get = request_head("GET", "/x", &[("authorization", &auth)]);
        for _ in 0..2 {
            let (decision, polls) = w.decide(&get, None);
            assert_eq!((status(&decision), polls), (503, 2));
        }
        assert_eq!(w.store.log.take(), ["read"].repeat(4));
    }

    #[test]
    fn outcomes_can_apply_to_keys_of_one_kind() {
        let w = world();
        w.store.always_on(Op::Put, "subject:", Outcome::Fail);
        let auth = format!("Bearer {}", valid_token());
        let everywhere = request_head(
            "DELETE",
            "/api/tokens?scope=global",
            &[("authorization", &auth)],
        );
        assert_eq!(status(&w.decide(&everywhere, None).0), 503);
        let local = request_head("DELETE", "/api/tokens", &[("authorization", &auth)]);
        assert_eq!(status(&w.decide(&local, None).0), 204);
    }
}
