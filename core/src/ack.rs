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
    marks: Vec<(String, Mark)>,
    ledger: Arc<Ledger>,
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
                marks,
                ledger,
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
            inner.ledger.commit(&inner.marks);
        }
    }
}
