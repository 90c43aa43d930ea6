//! Acknowledgement handles: a batch's positions reach the checkpoint ledger only once every
//! sink of the pipeline has taken the batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::checkpoint::{Ledger, Mark};

/// What a batch covers in its source: the marks to commit once every sink has acknowledged it.
#[derive(Debug, Default)]
pub struct Ack {
    inner: Option<Arc<AckInner>>,
}

#[derive(Debug)]
struct AckInner {
    holders: AtomicUsize,
    target: Target,
}

/// What releasing the last holder does.
enum Target {
    /// Commits marks to a checkpoint ledger.
    Ledger {
        marks: Vec<(String, Mark)>,
        ledger: Arc<Ledger>,
    },
    /// Calls back a source that keeps its positions elsewhere (a JetStream consumer).
    Callback(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Ledger { marks, .. } => f.debug_struct("Ledger").field("marks", marks).finish(),
            Target::Callback(_) => f.write_str("Callback"),
        }
    }
}

impl Ack {
    /// An ack that commits nothing (sources that cannot replay, such as stdin).
    pub fn none() -> Self {
        Ack { inner: None }
    }

    /// An ack held once, that commits `marks` (stream key, mark) to `ledger` when released.
    pub fn new(ledger: Arc<Ledger>, marks: Vec<(String, Mark)>) -> Self {
        Ack {
            inner: Some(Arc::new(AckInner {
                holders: AtomicUsize::new(1),
                target: Target::Ledger { marks, ledger },
            })),
        }
    }

    /// An ack held once, that calls `on_done` when released: for sources whose positions live
    /// outside logcatch (a JetStream consumer acknowledges its messages there). If the batch is
    /// never delivered, `on_done` is dropped uncalled.
    pub fn callback(on_done: impl FnOnce() + Send + 'static) -> Self {
        Ack {
            inner: Some(Arc::new(AckInner {
                holders: AtomicUsize::new(1),
                target: Target::Callback(std::sync::Mutex::new(Some(Box::new(on_done)))),
            })),
        }
    }

    /// Sets how many holders must call [`done`](Self::done) before the marks are committed
    /// (the pipeline sets it to its number of sinks before fanning out).
    pub fn set_holders(&self, holders: usize) {
        if let Some(inner) = &self.inner {
            inner.holders.store(holders, Ordering::Release);
        }
    }

    /// One holder is done with the batch; the last one commits its marks.
    pub fn done(&self) {
        if let Some(inner) = &self.inner
            && inner.holders.fetch_sub(1, Ordering::AcqRel) == 1
        {
            match &inner.target {
                Target::Ledger { marks, ledger } => ledger.commit(marks),
                Target::Callback(on_done) => {
                    let f = on_done.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(f) = f {
                        f();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn callback_runs_once_after_the_last_holder() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let ack = Ack::callback(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
        ack.set_holders(2);
        ack.done();
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        ack.done();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        drop(ack);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
