//! logcatch's built-in plugins, one module each: sources (`file`, `demo`, `stdin`, `nats`,
//! `kafka`) and sinks (`stdout`, `file`, `http`, `elasticsearch`, `nats`, `kafka`, `blackhole`). [`registry`] maps their YAML `type:` names to them.

#![warn(missing_docs)]

pub mod sources {
    //! Where lines come from.
    pub mod demo;
    pub mod event;
    pub mod file;
    pub mod kafka;
    pub mod lines;
    pub mod multiline;
    pub mod nats;
    pub mod stdin;
}

pub mod kafka;

pub mod sinks {
    //! Where lines go.
    pub mod blackhole;
    pub mod elasticsearch;
    pub mod event_id;
    pub mod file;
    pub mod http;
    pub mod kafka;
    pub mod nats;
    pub mod stdout;
    pub mod template;
}

use logcatch_core::registry::Registry;

/// Every built-in source and sink, by `type:`.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.source("file", sources::file::build)
        .source("demo", sources::demo::build)
        .source("stdin", sources::stdin::build)
        .source("nats", sources::nats::build)
        .source("kafka", sources::kafka::build)
        .sink("stdout", sinks::stdout::build)
        .sink("file", sinks::file::build)
        .sink("http", sinks::http::build)
        .sink("elasticsearch", sinks::elasticsearch::build)
        .sink("nats", sinks::nats::build)
        .sink("kafka", sinks::kafka::build)
        .sink("blackhole", sinks::blackhole::build);
    r
}
