//! Hot swap, one mechanism for filters and sinks: a plugin's current version lives in a
//! [`Slot`] that the daemon hands new versions to (loaded and `init`-checked off the hot
//! path); each user of the plugin (a filter stage, a sink's writer) holds a [`Follower`]
//! and switches at its next batch boundary, dropping its instance for one of the new
//! version. A call in progress finishes on the old version. Checking costs one atomic load
//! per batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::plugin::Plugin;
use super::world::World;

/// The current version of one plugin of a pipeline.
pub struct Slot<W: World> {
    current: Mutex<(Arc<Plugin<W>>, u64)>,
    /// The generation in `current`, readable without the lock.
    generation: AtomicU64,
}

impl<W: World> Slot<W> {
    /// A slot holding `plugin`, generation 0.
    pub fn new(plugin: Plugin<W>) -> Arc<Self> {
        Arc::new(Slot {
            current: Mutex::new((Arc::new(plugin), 0)),
            generation: AtomicU64::new(0),
        })
    }

    /// The current version.
    pub fn current(&self) -> Arc<Plugin<W>> {
        self.lock().0.clone()
    }

    /// Makes `plugin` the current version: every follower switches to it at its next batch.
    pub fn swap(&self, plugin: Plugin<W>) {
        let mut c = self.lock();
        c.0 = Arc::new(plugin);
        c.1 += 1;
        self.generation.store(c.1, Ordering::Release);
    }

    /// A follower starting on the current version.
    pub fn follow(self: &Arc<Self>) -> Follower<W> {
        let (plugin, seen) = self.lock().clone();
        Follower {
            slot: self.clone(),
            seen,
            plugin,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Arc<Plugin<W>>, u64)> {
        // Holders only replace the whole value, so a panicked holder leaves a usable one.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One user's view of a [`Slot`]: the version it runs now.
pub struct Follower<W: World> {
    slot: Arc<Slot<W>>,
    seen: u64,
    plugin: Arc<Plugin<W>>,
}

impl<W: World> Follower<W> {
    /// The version this user runs.
    pub fn plugin(&self) -> &Arc<Plugin<W>> {
        &self.plugin
    }

    /// Switches to the slot's current version if it changed since the last check: call at
    /// a batch boundary. True when it switched (the caller drops its instance).
    pub fn catch_up(&mut self) -> bool {
        if self.slot.generation.load(Ordering::Acquire) == self.seen {
            return false;
        }
        (self.plugin, self.seen) = self.slot.lock().clone();
        true
    }
}
