//! Sink plugins: the [`Sink`] trait and the [`export_sink!`](crate::export_sink) macro
//! (feature `sink`).

/// A sink plugin: build it from its config, then deliver each batch.
///
/// Make it the component's export with [`export_sink!`](crate::export_sink).
pub trait Sink: Sized {
    /// Builds the sink from the pipeline's `config:` block, as JSON (`{}` when absent);
    /// an error refuses the plugin with that message.
    fn init(config: &str) -> Result<Self, String>;

    /// Delivers one batch. `Ok` means the destination has every event durably: logcatch
    /// then acknowledges the batch. An error means nothing is acknowledged: logcatch retries
    /// the same batch later (on a fresh instance), so a write must be safe to repeat; an
    /// event's [`source`](crate::Event::source) and [`offset`](crate::Event::offset) make a
    /// stable id for that.
    fn write(&mut self, batch: &crate::Batch) -> Result<(), String>;
}

/// Makes a [`Sink`] type the component's `logcatch:plugin/sink` export.
///
/// Use it once, at the top level of a `cdylib` crate: `logcatch_plugin::export_sink!(MySink);`.
/// `init` builds the one instance of `MySink` that later `write` calls use; `write` before
/// `init` returns an error.
#[macro_export]
macro_rules! export_sink {
    ($ty:ty) => {
        const _: () = {
            ::std::thread_local! {
                static __LOGCATCH_SINK: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct __LogcatchSinkExport;

            impl $crate::sink_bindings::exports::logcatch::plugin::sink::Guest for __LogcatchSinkExport {
                fn init(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::sink_init::<$ty>(&__LOGCATCH_SINK, &config)
                }

                fn write(
                    batch: $crate::bindings::logcatch::plugin::types::EventBatch,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::sink_write::<$ty>(&__LOGCATCH_SINK, batch)
                }
            }

            $crate::sink_bindings::export!(__LogcatchSinkExport with_types_in $crate::sink_bindings);
        };
    };
}
