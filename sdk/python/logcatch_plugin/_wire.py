"""The wire types of `wit/logcatch.wit`, and the host's `log`.

Inside a component (built with componentize-py), these are the generated bindings of world
`filter-plugin`. On plain CPython (unit tests) they are look-alike dataclasses with the same
fields, so a filter's logic runs and is tested natively, and a test can build a "wire" batch
by hand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import List, Union

try:
    # Only a component has the runtime module; generated bindings on a native path do not
    # make this a component.
    import componentize_py_runtime  # noqa: F401
    from componentize_py_types import Err
    from wit_world import exports as _exports
    from wit_world.imports import host as _host
    from wit_world.imports.types import (
        EventBatch,
        Level,
        Verdict_Keep,
        Verdict_KeepAll,
        Verdict_Replace,
    )

    IN_COMPONENT = True
    ExportBase = _exports.Filter

    def host_log(level: int, message: str) -> None:
        _host.log(Level(level), message)

except ImportError:
    IN_COMPONENT = False

    @dataclass
    class EventBatch:  # type: ignore[no-redef]
        """The wire batch (`record event-batch`), column-wise."""

        arena: bytes = b""
        msg_off: List[int] = field(default_factory=list)
        msg_len: List[int] = field(default_factory=list)
        timestamp_ns: List[int] = field(default_factory=list)
        source_id: List[int] = field(default_factory=list)
        sources: List[str] = field(default_factory=list)
        offset: List[int] = field(default_factory=list)
        attr_end: List[int] = field(default_factory=list)
        attr_key_id: List[int] = field(default_factory=list)
        attr_keys: List[str] = field(default_factory=list)
        attr_kind: bytes = b""
        attr_val: List[int] = field(default_factory=list)

    @dataclass
    class Verdict_KeepAll:  # type: ignore[no-redef]  # noqa: N801
        pass

    @dataclass
    class Verdict_Keep:  # type: ignore[no-redef]  # noqa: N801
        value: List[int]

    @dataclass
    class Verdict_Replace:  # type: ignore[no-redef]  # noqa: N801
        value: EventBatch

    class Level(Enum):  # type: ignore[no-redef]
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    @dataclass(frozen=True)
    class Err(Exception):  # type: ignore[no-redef]
        """The error case of a WIT `result`, as componentize-py raises it."""

        value: str

    ExportBase = object

    def host_log(level: int, message: str) -> None:
        print(f"[plugin {Level(level).name}] {message}", file=sys.stderr)


WireVerdict = Union[Verdict_KeepAll, Verdict_Keep, Verdict_Replace]

__all__ = [
    "IN_COMPONENT",
    "EventBatch",
    "Err",
    "ExportBase",
    "Level",
    "Verdict_Keep",
    "Verdict_KeepAll",
    "Verdict_Replace",
    "WireVerdict",
    "host_log",
]
