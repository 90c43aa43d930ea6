//! The two kinds of plugin, as the one loader ([`super::plugin`]) sees them: what each must
//! export, what its linker grants, its generated bindings and how its `init` is called.
//! Everything else (compiling, checking, limits, instances, call outcomes, swaps) is shared.

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use super::bindings::{FilterPlugin, FilterPluginPre};
use super::host::HostState;
use super::sink_bindings::{SinkPlugin, SinkPluginPre};
use super::{CONTRACT, SINK_CONTRACT, clock};

/// One world of the contract (`filter-plugin` or `sink-plugin`).
pub trait World: Sized + Send + Sync + 'static {
    /// `filter` or `sink`, for messages.
    const KIND: &'static str;
    /// The interface it must export, with the contract version.
    const CONTRACT: &'static str;
    /// Wall time a call may take unless `limits.timeout` says otherwise.
    const DEFAULT_TIMEOUT: Duration;
    /// Linked and type-checked once per plugin version.
    type Pre: Send + Sync;
    /// The exports of one instance.
    type Exports: Send;

    /// Adds to `linker` what this kind of plugin may import, beside WASI without authority.
    fn link_extra(linker: &mut Linker<HostState>) -> wasmtime::Result<()>;
    /// Wraps a checked `InstancePre` into the typed one.
    fn pre(pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre>;
    /// A new instance.
    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self::Exports>;
    /// Calls the plugin's `init(config)`.
    fn init(
        exports: &Self::Exports,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>>;
}

/// World `filter-plugin`: `process` a batch into a verdict.
pub struct FilterWorld;

/// World `sink-plugin`: `write` a batch out; wasi:http to the hosts a pipeline grants.
pub struct SinkWorld;

impl World for FilterWorld {
    const KIND: &'static str = "filter";
    const CONTRACT: &'static str = CONTRACT;
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    type Pre = FilterPluginPre<HostState>;
    type Exports = FilterPlugin;

    fn link_extra(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        FilterPlugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
    }

    fn pre(pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        FilterPluginPre::new(pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<FilterPlugin> {
        pre.instantiate(store)
    }

    fn init(
        exports: &FilterPlugin,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        exports.logcatch_plugin_filter().call_init(store, config)
    }
}

impl World for SinkWorld {
    const KIND: &'static str = "sink";
    const CONTRACT: &'static str = SINK_CONTRACT;
    const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    type Pre = SinkPluginPre<HostState>;
    type Exports = SinkPlugin;

    fn link_extra(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
        SinkPlugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
    }

    fn pre(pre: InstancePre<HostState>) -> wasmtime::Result<Self::Pre> {
        SinkPluginPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<HostState>) -> wasmtime::Result<SinkPlugin> {
        pre.instantiate(store)
    }

    fn init(
        exports: &SinkPlugin,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        exports.logcatch_plugin_sink().call_init(store, config)
    }
}

/// A linker for world `W`: WASI with an empty context (no files, environment or sockets)
/// and the clock whose waits end at the call's deadline, then what `W` adds.
pub fn linker<W: World>(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    clock::shadow_wasi_clock(&mut linker)?;
    W::link_extra(&mut linker)?;
    Ok(linker)
}
