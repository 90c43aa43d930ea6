"""logcatch-plugin: write logcatch filters in Python.

A logcatch filter is a WebAssembly component that logcatch calls once per batch of log
events; this package turns the column-wise wire batch (`wit/logcatch.wit`) into events and
back, and is built into the component by componentize-py:

- `Batch`: the events of one call. `for event in batch` yields `Event`s with `.message`,
  `.source`, `.offset`, `.timestamp_ns`, `.attrs` (a dict of `str`/`int`/`float`/`bool`),
  `.attr(key)` and `.index`.
- `Verdict`: `Verdict.KEEP_ALL`, `Verdict.keep(indices)`, `Verdict.keep_where(batch, pred)`,
  `Verdict.drop_all()`, `Verdict.replace(builder)`.
- `BatchBuilder`: a transform's new batch (`push_event`, `push_event_with_message`,
  `push`, `attr`, `set_message`).
- `export_filter(cls)`: makes your class the component's export
  (`Filter = export_filter(MyFilter)`); `cls(config_json)` is `init`, `.process(batch)`
  answers each batch.
- `config(json, DataclassType)` parses the config strictly; `log(Level.INFO, "...")`
  writes to logcatch's log; raise `PluginError("...")` to refuse a config or a batch.

A complete filter (`app.py`)::

    from dataclasses import dataclass, field

    import logcatch_plugin
    from logcatch_plugin import Level, PluginError, Verdict

    @dataclass
    class Config:
        paths: list[str] = field(default_factory=lambda: ["/healthz", "/ready"])

    class DropHealthChecks:
        def __init__(self, config: str):
            self.paths = logcatch_plugin.config(config, Config).paths
            if not self.paths:
                raise PluginError("paths: give at least one path")
            logcatch_plugin.log(Level.INFO, f"dropping {self.paths}")

        def process(self, batch):
            def keep(event):
                path = event.attr("path")
                if isinstance(path, str):
                    return path not in self.paths
                return not any(p in event.message for p in self.paths)
            return Verdict.keep_where(batch, keep)

    Filter = logcatch_plugin.export_filter(DropHealthChecks)

See README.md beside this package for the build and the tests.
"""

from .batch import AttrValue, Batch, Event
from .builder import BatchBuilder
from .export import export_filter
from .host import Level, PluginError, config, log
from .verdict import Verdict

#: The contract this SDK speaks; logcatch refuses components built against another.
CONTRACT = "logcatch:plugin@0.1.0"

__version__ = "0.1.0"

__all__ = [
    "CONTRACT",
    "AttrValue",
    "Batch",
    "BatchBuilder",
    "Event",
    "Level",
    "PluginError",
    "Verdict",
    "config",
    "export_filter",
    "log",
]
