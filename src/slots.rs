//! The bookkeeping behind `js::settle`: numbered slots, each holding one
//! awaited outcome and the waker of the task waiting for it. JS fills a slot
//! exactly once (through the one callback of the isolate); the future takes
//! the outcome, or is dropped first and leaves the slot to be freed when JS
//! calls. Plain Rust, generic over the outcome, so that it is tested
//! natively (the rest of this crate is wasm only).

use std::task::Waker;

struct Slot<T> {
    waker: Option<Waker>,
    outcome: Option<T>,
    /// The future was dropped first: free the slot when the outcome comes.
    abandoned: bool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            waker: None,
            outcome: None,
            abandoned: false,
        }
    }
}

/// Slots in use and free ones, reused before new ones are made: as many
/// exist as awaits were ever pending at once.
pub(crate) struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// A slot for one await.
    pub(crate) fn take(&mut self) -> u32 {
        match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, index: u32) {
        self.slots[index as usize] = Slot::default();
        self.free.push(index);
    }

    /// JS delivers the outcome of slot `index`: the waker to wake, if a task
    /// waits. An abandoned slot is freed and the outcome dropped; an index
    /// that was never handed out is ignored.
    pub(crate) fn fill(&mut self, index: u32, outcome: T) -> Option<Waker> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.abandoned {
            self.release(index);
            return None;
        }
        slot.outcome = Some(outcome);
        slot.waker.take()
    }

    /// The future polls slot `index`: its outcome (the slot is then free),
    /// or `None` after keeping `waker` to be woken.
    pub(crate) fn poll(&mut self, index: u32, waker: &Waker) -> Option<T> {
        let slot = &mut self.slots[index as usize];
        match slot.outcome.take() {
            Some(outcome) => {
                self.release(index);
                Some(outcome)
            }
            None => {
                slot.waker = Some(waker.clone());
                None
            }
        }
    }

    /// The future was dropped before taking its outcome: free the slot now
    /// if the outcome is in, else when it comes.
    pub(crate) fn abandon(&mut self, index: u32) {
        if self.slots[index as usize].outcome.is_some() {
            self.release(index);
        } else {
            self.slots[index as usize].abandoned = true;
        }
    }

    /// Slots that exist (in use or free).
    #[cfg(test)]
    fn made(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn an_outcome_reaches_the_waiting_task_once() {
        let mut slots = Slots::default();
        let (count, waker) = waker();
        let a = slots.take();
        assert_eq!(slots.poll(a, &waker), None, "pending");
        slots.fill(a, "done").unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(slots.poll(a, &waker), Some("done"));
        // The slot is free again and reused.
        assert_eq!(slots.take(), a);
        assert_eq!(slots.made(), 1);
    }

    #[test]
    fn an_outcome_before_the_first_poll_is_kept() {
        let mut slots = Slots::default();
        let a = slots.take();
        assert!(slots.fill(a, 7).is_none(), "nobody waits yet");
        assert_eq!(slots.poll(a, &waker().1), Some(7));
    }

    #[test]
    fn a_dropped_future_frees_its_slot_whenever_the_outcome_comes() {
        let mut slots = Slots::default();
        // Dropped while pending: freed when JS calls, the outcome dropped.
        let a = slots.take();
        slots.poll(a, &waker().1);
        slots.abandon(a);
        let b = slots.take();
        assert_ne!(a, b, "not free before the outcome");
        assert!(slots.fill(a, 1).is_none(), "nobody is woken");
        assert_eq!(slots.take(), a, "free after it");
        // Dropped after the outcome came: freed at once.
        assert!(slots.fill(b, 2).is_none());
        slots.abandon(b);
        assert_eq!(slots.take(), b);
        assert_eq!(slots.made(), 2);
    }

    #[test]
    fn slots_are_bounded_by_the_awaits_pending_at_once() {
        let mut slots = Slots::default();
        let (_, waker) = waker();
        for round in 0..1000 {
            let taken: Vec<u32> = (0..3).map(|_| slots.take()).collect();
            for (n, &index) in taken.iter().enumerate() {
                slots.poll(index, &waker);
                slots.fill(index, round + n);
                assert_eq!(slots.poll(index, &waker), Some(round + n));
            }
        }
        assert_eq!(slots.made(), 3);
    }

    #[test]
    fn an_unknown_index_is_ignored() {
        let mut slots: Slots<u8> = Slots::default();
        assert!(slots.fill(5, 1).is_none());
        assert_eq!(slots.made(), 0);
    }
}
