"""`export_filter`: makes a filter class the component's `logcatch:plugin/filter` export."""

from __future__ import annotations

import traceback
from typing import Any, Optional

from . import _wire
from .batch import Batch
from .host import PluginError
from .verdict import Verdict


def export_filter(cls: type) -> type:
    """Makes `cls` the component's filter. Use it once, in the app module that
    componentize-py builds, and name the result `Filter` (the name componentize-py looks
    for)::

        Filter = logcatch_plugin.export_filter(Redact)

    `cls(config_json)` builds the one instance (`init`); `instance.process(batch)` returns a
    `Verdict` for each batch. A `PluginError` refuses with its message; any other exception
    refuses with its type, message and where it was raised. `process` before `init` is an
    error. Outside a component the returned class works the same, with look-alike wire
    types, so a test can drive the export itself.
    """
    if not callable(getattr(cls, "process", None)):
        raise TypeError(f"export_filter: {cls.__name__} has no process(self, batch) method")
    slot: list = [None]

    class Filter(_wire.ExportBase):  # type: ignore[misc, valid-type]
        plugin = cls

        def init(self, config: str) -> None:
            slot[0] = None
            try:
                slot[0] = cls(config)
            except PluginError as e:
                raise _wire.Err(str(e)) from None
            except Exception as e:  # noqa: BLE001 - every failure refuses the plugin
                raise _wire.Err(_describe(e)) from None

        def process(self, batch: Any) -> Any:
            instance = slot[0]
            if instance is None:
                raise _wire.Err("process called before init")
            try:
                verdict = instance.process(Batch(batch))
                if not isinstance(verdict, Verdict):
                    raise TypeError(
                        f"{cls.__name__}.process returned {type(verdict).__name__}, "
                        "expected a Verdict"
                    )
                return verdict.to_wire()
            except PluginError as e:
                raise _wire.Err(str(e)) from None
            except Exception as e:  # noqa: BLE001 - fails this batch only
                raise _wire.Err(_describe(e)) from None

        @staticmethod
        def instance() -> Optional[Any]:
            """The instance `init` built (None before): for tests."""
            return slot[0]

    Filter.__qualname__ = Filter.__name__ = "Filter"
    return Filter


def _describe(e: BaseException) -> str:
    """`Type: message (at file:line)`, the innermost frame of the exception."""
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    frames = traceback.extract_tb(e.__traceback__)
    if frames:
        last = frames[-1]
        name = last.filename.replace("\\", "/").rsplit("/", 1)[-1]
        text += f" (at {name}:{last.lineno})"
    return text
