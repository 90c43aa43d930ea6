//! Hot swap, one mechanism for filters and sinks: a plugin's current version lives in a
//! [`Slot`] that the daemon hands new versions to. When a plugin file changes,
//! [`Topology::swap_file`] loads it again (compiled and `init`-checked off the reactor, once
//! per slot that runs it) and hands the new version over; each user of the plugin (a filter
//! stage, a sink's writer) holds a [`Follower`] and switches at its next batch boundary,
//! dropping its instance for one of the new version. A call in progress finishes on the old
//! version. Checking costs one atomic load per batch. A file that fails leaves the running
//! version in place.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::apply::{Running, Topology};
use crate::ComponentId;
use crate::status::Status;
use crate::wasm::WasmError;
use crate::wasm::plugin::Plugin;
use crate::wasm::world::World;
use crate::watch::resolved;

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

impl Topology {
    /// Whether a running pipeline uses the plugin file `path` (resolved), as a filter or
    /// a sink.
    pub(crate) fn uses_plugin(&self, path: &Path) -> bool {
        self.running
            .values()
            .flat_map(Running::plugin_paths)
            .any(|p| resolved(&p).as_deref() == Some(path))
    }

    /// The plugin file `path` changed: loads it again for every filter and sink that runs
    /// it and hands each new version to its slot.
    pub(crate) async fn swap_file(&mut self, path: &Path) {
        let mut filters = Vec::new();
        let mut sinks = Vec::new();
        for (name, r) in &self.running {
            for (i, slot) in r.filters.iter().enumerate() {
                filters.push((name.clone(), ComponentId::filter(i), slot.clone()));
            }
            for (id, slot) in &r.sinks {
                sinks.push((name.clone(), *id, slot.clone()));
            }
        }
        for (name, component, slot) in filters {
            self.swap_in(path, &name, component, &slot).await;
        }
        for (name, component, slot) in sinks {
            self.swap_in(path, &name, component, &slot).await;
        }
    }

    /// Swaps the new version of the plugin at `path` into `slot` (component `component` of
    /// pipeline `name`), if `slot` runs that file. The pipeline's identity follows, since it
    /// is derived from its slots.
    async fn swap_in<W: World>(
        &mut self,
        path: &Path,
        name: &str,
        component: ComponentId,
        slot: &Arc<Slot<W>>,
    ) {
        let old = slot.current();
        if resolved(&old.path).as_deref() != Some(path) {
            return;
        }
        let cache = self.settings.cache_dir.clone();
        let current = old.clone();
        let new = match reload_changed(&old.path, old.hash, move || current.reload(&cache)).await {
            Reloaded::Same => return,
            Reloaded::Failed(why) => return self.swap_failed(name, component, &old.path, &why),
            Reloaded::New(new) => new,
        };
        if !self.running.contains_key(name) {
            return;
        }
        let cached = new.cached;
        slot.swap(new);
        self.swap_handed_over(name, component, &old.path, cached);
    }

    /// A new version of `component` of pipeline `name` is handed over: counted, recorded for
    /// the API and logged.
    fn swap_handed_over(&self, name: &str, component: ComponentId, path: &Path, cached: bool) {
        Status::count(&self.status.swaps_applied);
        if let Some(p) = self.status.write().pipelines.get_mut(name) {
            p.last_reload = Some(SystemTime::now());
        }
        tracing::info!(pipeline = %name, component = %component, path = %path.display(), cached, "plugin changed on disk; new version compiled, swapping at the next batch");
    }

    /// A new version of `component` of pipeline `name` could not be loaded: counted,
    /// recorded as the pipeline's last error and logged; the running version stays.
    fn swap_failed(&self, name: &str, component: ComponentId, path: &Path, cause: &str) {
        Status::count(&self.status.swaps_failed);
        let why = format!("plugin swap failed, the running version stays: {cause}");
        tracing::error!(pipeline = %name, component = %component, path = %path.display(), "{why}");
        if let Some(p) = self.status.write().pipelines.get_mut(name) {
            p.last_error = Some(why);
        }
    }
}

/// What loading a changed plugin file again came to.
enum Reloaded<T> {
    /// The file has the bytes of the running version (a touch, or an event for a write
    /// that changed nothing).
    Same,
    /// It does not compile, link or `init`: why.
    Failed(String),
    /// The new version, and its first instance.
    New(T),
}

/// Loads the plugin at `path` again with `load`, on a blocking thread (compiling is CPU
/// work, off the reactor), unless the file still has the bytes of hash `running`.
async fn reload_changed<T: Send + 'static>(
    path: &Path,
    running: u64,
    load: impl FnOnce() -> Result<T, WasmError> + Send + 'static,
) -> Reloaded<T> {
    let path = path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path).ok()?;
        (xxhash_rust::xxh3::xxh3_64(&bytes) != running).then(load)
    })
    .await;
    match loaded {
        Ok(None) => Reloaded::Same,
        Ok(Some(Ok(new))) => Reloaded::New(new),
        Ok(Some(Err(e))) => Reloaded::Failed(e.to_string()),
        Err(e) => Reloaded::Failed(format!("loading it panicked: {e}")),
    }
}
