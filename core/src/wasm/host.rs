//! What each plugin store holds: WASI with no ambient authority, the memory limiter, the
//! deadline of the call in progress (which the time limit, the clock's waits and HTTP
//! requests all end at), and the host's `log` import (and, for sinks, wasi:http limited to
//! the granted hosts). Guest stdout/stderr and `host.log` go to `tracing`, rate-limited.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::allow::HttpGrant;
use super::bindings::logcatch::plugin::{host, types::Level};
use super::guest_log::{GuestLog, MAX_LINE};

/// The data of one plugin instance's store.
pub struct HostState {
    /// Memory limits, checked by wasmtime on every growth.
    pub limits: StoreLimits,
    /// When the call in progress must end: set as each call starts (`Plugin::arm`).
    pub deadline: std::time::Instant,
    /// Where the guest's monotonic clock counts from.
    pub(super) clock_origin: std::time::Instant,
    /// Raised when a clock wait of the call in progress was ended by its deadline.
    pub(super) wait_cut: Arc<AtomicBool>,
    log: Arc<GuestLog>,
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// The hosts wasi:http may reach: none unless [`HostState::with_http`] grants some.
    grant: HttpGrant,
}

impl HostState {
    /// A sandbox: no preopened directories, no environment, no arguments, no network;
    /// stdout, stderr and `host.log` go to `log`; linear memory capped at `memory` bytes.
    pub fn new(log: Arc<GuestLog>, memory: u64) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream {
                log: log.clone(),
                stream: "stdout",
            })
            .stderr(LogStream {
                log: log.clone(),
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
        let now = std::time::Instant::now();
        HostState {
            limits,
            deadline: now,
            clock_origin: now,
            wait_cut: Arc::default(),
            log,
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

    /// Starts a call that must end by `deadline`: blocking waits (clock, HTTP) end there.
    pub fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.deadline = deadline;
        self.grant.set_deadline(deadline);
        self.wait_cut.store(false, Ordering::Relaxed);
    }

    /// Whether the call in progress waited on the clock until its deadline: it timed out,
    /// whatever it returns after.
    pub fn wait_was_cut(&self) -> bool {
        self.wait_cut.load(Ordering::Relaxed)
    }

    /// The table of the store's WASI resources.
    pub(super) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
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
        self.log.line(level, None, &message);
    }
}

impl super::bindings::logcatch::plugin::types::Host for HostState {}

/// A guest output stream that logs each line it receives.
#[derive(Clone)]
struct LogStream {
    log: Arc<GuestLog>,
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

struct LineLogger {
    to: LogStream,
    line: Vec<u8>,
}

impl LineLogger {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if !text.is_empty() {
            let level = if self.to.stream == "stderr" {
                Level::Warn
            } else {
                Level::Info
            };
            self.to.log.line(level, Some(self.to.stream), text);
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
