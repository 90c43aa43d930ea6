//! Compiled components cached on disk, so a restart (or a swap back) does not recompile.
//!
//! The key is the hash of the `.wasm` bytes and of the engine's compatibility hash (wasmtime
//! version, target, settings): a different engine never loads another's artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;
use xxhash_rust::xxh3::Xxh3;

/// The cache file for `bytes` compiled by `engine`.
pub fn entry(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let mut h = Xxh3::new();
    h.update(bytes);
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{:016x}.cwasm", h.finish()))
}

/// Loads the component for `bytes` from the cache in `dir`, compiling and storing it on a
/// miss. Returns the component and whether it came from the cache.
pub fn load(dir: &Path, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, bool)> {
    let path = entry(dir, engine, bytes);
    if path.exists() {
        // SAFETY: files in the cache directory are written only by `store` below, from
        // `Component::serialize` of this same engine configuration (the key covers it).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "unusable compile cache entry, recompiling: {e:#}")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&path, &component) {
        tracing::warn!(path = %path.display(), "cannot write compile cache: {e:#}");
    }
    Ok((component, false))
}

fn store(path: &Path, component: &Component) -> wasmtime::Result<()> {
    let bytes = component.serialize()?;
    crate::checkpoint::write_atomic(path, &bytes).map_err(wasmtime::Error::msg)?;
    Ok(())
}
