//! A store whose calls can be made to fail or to wait, call by call, and a
//! poll loop that lets a waiting call finish.

use edge_revoke_core::error::StoreError;
use edge_revoke_core::revocation::{Cutoff, CutoffKind, CutoffPage, Page, Record, SessionCutoff};
use edge_revoke_core::store::{MemoryStore, RevocationStore};
use edge_revoke_core::token::TokenId;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
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

/// One method of [`RevocationStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Put,
    Delete,
    GetCutoff,
    PutCutoff,
    GetSession,
    PutSession,
    List,
}

impl Op {
    /// The calls that read.
    pub const READS: [Op; 4] = [Op::Get, Op::GetCutoff, Op::GetSession, Op::List];
    /// The calls that write.
    pub const WRITES: [Op; 4] = [Op::Put, Op::Delete, Op::PutCutoff, Op::PutSession];

    /// The name [`FaultStore::log`] records.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::GetCutoff => "cutoff",
            Op::PutCutoff => "put_cutoff",
            Op::GetSession => "session",
            Op::PutSession => "put_session",
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

/// Wraps a store (in memory by default). Each call takes the next
/// [`Outcome`] scripted for its [`Op`], or when none is left the standing
/// one ([`Outcome::Pass`] unless set with [`FaultStore::always`]).
pub struct FaultStore<S = MemoryStore> {
    /// The store the calls reach.
    pub inner: S,
    /// Every poll of every call, by [`Op::name`], in order: two calls that
    /// both appear before either appears again were in flight together.
    pub log: Cell<Vec<&'static str>>,
    /// Every wait the core asked for before retrying a write, in ms.
    pub sleeps: Cell<Vec<u64>>,
    script: RefCell<HashMap<Op, VecDeque<Outcome>>>,
    standing: RefCell<HashMap<Op, Outcome>>,
}

impl<S> FaultStore<S> {
    pub fn new(inner: S) -> FaultStore<S> {
        FaultStore {
            inner,
            log: Cell::new(Vec::new()),
            sleeps: Cell::new(Vec::new()),
            script: RefCell::default(),
            standing: RefCell::default(),
        }
    }

    /// The outcomes of the next calls of `op`, in order (after any already
    /// scripted).
    pub fn script(&self, op: Op, outcomes: impl IntoIterator<Item = Outcome>) {
        self.script
            .borrow_mut()
            .entry(op)
            .or_default()
            .extend(outcomes);
    }

    /// The outcome of every call of each of `ops` once its script is used up.
    pub fn always(&self, ops: impl IntoIterator<Item = Op>, outcome: Outcome) {
        let mut standing = self.standing.borrow_mut();
        for op in ops {
            standing.insert(op, outcome);
        }
    }

    fn next(&self, op: Op) -> Outcome {
        let scripted = self
            .script
            .borrow_mut()
            .get_mut(&op)
            .and_then(VecDeque::pop_front);
        scripted.unwrap_or_else(|| self.standing.borrow().get(&op).copied().unwrap_or_default())
    }

    /// The fault part of one call: logs each poll, waits, fails or passes.
    async fn enter(&self, op: Op) -> Result<(), StoreError> {
        let (mut waits, fail) = match self.next(op) {
            Outcome::Pass => (0, None),
            Outcome::Fail => (0, Some(StoreError::Unavailable)),
            Outcome::Delay(n) => (n, None),
            Outcome::DelayThenFail(n) => (n, Some(StoreError::Unavailable)),
            Outcome::RateLimited => (0, Some(StoreError::RateLimited)),
        };
        std::future::poll_fn(|cx| {
            let mut log = self.log.take();
            log.push(op.name());
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

impl<S: RevocationStore> RevocationStore for FaultStore<S> {
    async fn get(&self, id: &TokenId) -> Result<Option<Record>, StoreError> {
        self.enter(Op::Get).await?;
        self.inner.get(id).await
    }
    async fn put(&self, id: &TokenId, record: &Record, expires_at: u64) -> Result<(), StoreError> {
        self.enter(Op::Put).await?;
        self.inner.put(id, record, expires_at).await
    }
    async fn delete(&self, id: &TokenId) -> Result<(), StoreError> {
        self.enter(Op::Delete).await?;
        self.inner.delete(id).await
    }
    async fn get_cutoff(&self, sub: &str) -> Result<Option<Cutoff>, StoreError> {
        self.enter(Op::GetCutoff).await?;
        self.inner.get_cutoff(sub).await
    }
    async fn put_cutoff(&self, cutoff: &Cutoff, expires_at: u64) -> Result<(), StoreError> {
        self.enter(Op::PutCutoff).await?;
        self.inner.put_cutoff(cutoff, expires_at).await
    }
    async fn get_session(&self, sid: &str) -> Result<Option<SessionCutoff>, StoreError> {
        self.enter(Op::GetSession).await?;
        self.inner.get_session(sid).await
    }
    async fn put_session(&self, cutoff: &SessionCutoff, expires_at: u64) -> Result<(), StoreError> {
        self.enter(Op::PutSession).await?;
        self.inner.put_session(cutoff, expires_at).await
    }
    async fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.enter(Op::List).await?;
        self.inner.list(cursor, limit).await
    }
    async fn list_cutoffs(
        &self,
        kind: CutoffKind,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CutoffPage, StoreError> {
        self.enter(Op::List).await?;
        self.inner.list_cutoffs(kind, cursor, limit).await
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

    fn world() -> World<FaultStore> {
        World::new().with_store(FaultStore::new(MemoryStore::new(NOW)))
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
            ["get", "cutoff"],
            "a sign-out of a token already revoked reads and writes nothing"
        );
    }

    #[test]
    fn a_standing_outcome_applies_to_every_call() {
        let w = world();
        w.store.always(Op::READS, Outcome::DelayThenFail(1));
        let auth = format!("Bearer {}", valid_token());
        let get = request_head("GET", "/x", &[("authorization", &auth)]);
        for _ in 0..2 {
            let (decision, polls) = w.decide(&get, None);
            assert_eq!((status(&decision), polls), (503, 2));
        }
        let log = w.store.log.take();
        assert_eq!(log, ["get", "cutoff", "get", "cutoff"].repeat(2));
    }
}
