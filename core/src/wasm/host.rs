//! What each plugin store holds: WASI with no ambient authority, the memory limiter, and
//! the host's `log` import (and, for sinks, wasi:http limited to the granted hosts). Guest
//! stdout/stderr are captured into `tracing`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::allow::HttpGrant;

use super::bindings::logcatch::plugin::{host, types::Level};

/// The data of one plugin instance's store.
pub struct HostState {
    /// Plugin name, for logs.
    pub plugin: Arc<str>,
    /// Memory limits, checked by wasmtime on every growth.
    pub limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// The hosts wasi:http may reach: none unless [`HostState::with_http`] grants some.
    grant: HttpGrant,
}

impl HostState {
    /// A sandbox for `plugin`: no preopened directories, no environment, no arguments, no
    /// network; stdout and stderr go to the log; linear memory capped at `memory` bytes.
    pub fn new(plugin: Arc<str>, memory: u64) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream {
                plugin: plugin.clone(),
                stream: "stdout",
            })
            .stderr(LogStream {
                plugin: plugin.clone(),
                stream: "stderr",
            })
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory as usize)
            .instances(64)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            plugin,
            limits,
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            grant: HttpGrant::default(),
        }
    }

    /// Lets wasi:http requests through to the hosts of `grant` (used only if the linker
    /// links wasi:http, which it does for sinks only).
    pub fn with_http(mut self, grant: HttpGrant) -> Self {
        self.grant = grant;
        self
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.grant,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl super::bindings::logcatch::plugin::types::Host for HostState {}

/// A guest output stream that logs each line it receives.
#[derive(Clone)]
struct LogStream {
    plugin: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineLogger {
            to: self.clone(),
            line: Vec::new(),
        })
    }
}

/// Longest guest output line kept before it is logged anyway.
const MAX_LINE: usize = 4096;

struct LineLogger {
    to: LogStream,
    line: Vec<u8>,
}

impl LineLogger {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if !text.is_empty() {
            let (plugin, stream) = (&*self.to.plugin, self.to.stream);
            if stream == "stderr" {
                tracing::warn!(plugin, stream, "{text}");
            } else {
                tracing::info!(plugin, stream, "{text}");
            }
        }
        self.line.clear();
    }
}

impl tokio::io::AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &b in buf {
            if b == b'\n' || self.line.len() >= MAX_LINE {
                self.emit();
            }
            if b != b'\n' {
                self.line.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}
