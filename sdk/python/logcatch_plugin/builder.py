"""Writing a batch: `BatchBuilder`, the new events of a transform."""

from __future__ import annotations

from typing import Dict, List

from . import _wire
from .batch import (
    _I64_MAX,
    _I64_MIN,
    KIND_BOOL,
    KIND_FLOAT,
    KIND_INT,
    KIND_TEXT,
    AttrValue,
    Batch,
    Event,
    _float_bits,
)

_U32 = 1 << 32
_U64_MASK = (1 << 64) - 1


class BatchBuilder:
    """Builds the new batch of a transform, event by event; hand it to `Verdict.replace`.

    Add events with `push` (a new event) or `push_event` / `push_event_with_message` (a copy
    of an input event, which keeps its source and offset, so logcatch can still acknowledge
    and deduplicate it); `attr` and `set_message` then change the event added last. Every
    method returns the builder, so calls chain. Sources and attribute keys are deduplicated
    into the batch's dictionaries, and the result is always a valid batch.
    """

    __slots__ = (
        "_arena",
        "_msg_off",
        "_msg_len",
        "_ts",
        "_source_id",
        "_offset",
        "_attr_end",
        "_attr_key_id",
        "_attr_kind",
        "_attr_val",
        "_sources",
        "_source_ids",
        "_keys",
        "_key_ids",
    )

    def __init__(self) -> None:
        self._arena = bytearray()
        self._msg_off: List[int] = []
        self._msg_len: List[int] = []
        self._ts: List[int] = []
        self._source_id: List[int] = []
        self._offset: List[int] = []
        self._attr_end: List[int] = []
        self._attr_key_id: List[int] = []
        self._attr_kind = bytearray()
        self._attr_val: List[int] = []
        self._sources: List[str] = []
        self._source_ids: Dict[str, int] = {}
        self._keys: List[str] = []
        self._key_ids: Dict[str, int] = {}

    @classmethod
    def sized_for(cls, batch: Batch) -> "BatchBuilder":
        """An empty builder for a transform of `batch` (the Rust SDK's name; Python lists
        grow on their own)."""
        return cls()

    def __len__(self) -> int:
        return len(self._msg_off)

    def push(
        self, message: str, source: str = "", offset: int = 0, timestamp_ns: int = 0
    ) -> "BatchBuilder":
        """Adds a new event: `message` from `source`, at byte `offset` in it, ingested at
        `timestamp_ns` (nanoseconds since the Unix epoch)."""
        self._push_bytes(message.encode())
        self._ts.append(timestamp_ns)
        self._source_id.append(self._source(source))
        self._offset.append(offset)
        self._attr_end.append(len(self._attr_key_id))
        return self

    def push_event(self, event: Event) -> "BatchBuilder":
        """Adds a copy of `event`: message, source, offset, timestamp and every attribute."""
        b = event._b
        w = b._w
        i = event.index
        off = w.msg_off[i]
        self._push_bytes(b._arena[off : off + w.msg_len[i]])
        return self._copy_rest(event)

    def push_event_with_message(self, event: Event, message: str) -> "BatchBuilder":
        """Adds a copy of `event` (source, offset, timestamp, attributes) with a new message."""
        self._push_bytes(message.encode())
        return self._copy_rest(event)

    def set_message(self, message: str) -> "BatchBuilder":
        """Replaces the message of the event added last."""
        self._need_event("set_message")
        data = message.encode()
        self._msg_off[-1] = len(self._arena)
        self._msg_len[-1] = len(data)
        self._arena += data
        return self

    def attr(self, key: str, value: AttrValue) -> "BatchBuilder":
        """Sets attribute `key` of the event added last to `value` (a `str`, `int`, `float`
        or `bool`), replacing the value it has if it has one."""
        self._need_event("attr")
        kind, raw = self._encode(key, value)
        kid = self._key(key)
        ids = self._attr_key_id
        start = self._attr_end[-2] if len(self._attr_end) > 1 else 0
        for a in range(start, len(ids)):
            if ids[a] == kid:
                self._attr_kind[a] = kind
                self._attr_val[a] = raw
                return self
        ids.append(kid)
        self._attr_kind.append(kind)
        self._attr_val.append(raw)
        self._attr_end[-1] = len(ids)
        return self

    def build(self) -> Batch:
        """The events as a `Batch` to read back: for tests, or to chain steps."""
        return Batch(self.to_wire())

    def to_wire(self) -> _wire.EventBatch:
        """The events as the wire record logcatch receives."""
        if len(self._arena) >= _U32:
            raise ValueError("a batch holds at most 4 GiB of text")
        return _wire.EventBatch(
            arena=bytes(self._arena),
            msg_off=list(self._msg_off),
            msg_len=list(self._msg_len),
            timestamp_ns=list(self._ts),
            source_id=list(self._source_id),
            sources=list(self._sources),
            offset=list(self._offset),
            attr_end=list(self._attr_end),
            attr_key_id=list(self._attr_key_id),
            attr_keys=list(self._keys),
            attr_kind=bytes(self._attr_kind),
            attr_val=list(self._attr_val),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BatchBuilder):
            return NotImplemented
        return self.build() == other.build()

    def __repr__(self) -> str:
        return f"BatchBuilder({self.build()!r})"

    # Internals.

    def _push_bytes(self, data: bytes) -> None:
        self._msg_off.append(len(self._arena))
        self._msg_len.append(len(data))
        self._arena += data

    def _copy_rest(self, event: Event) -> "BatchBuilder":
        b = event._b
        w = b._w
        i = event.index
        self._ts.append(w.timestamp_ns[i])
        self._source_id.append(self._source(w.sources[w.source_id[i]]))
        self._offset.append(w.offset[i])
        r = b._attr_range(i)
        if r:
            keys = w.attr_keys
            for a in r:
                kind = w.attr_kind[a]
                raw = w.attr_val[a]
                if kind == KIND_TEXT:
                    off = raw >> 32
                    length = raw & 0xFFFF_FFFF
                    raw = (len(self._arena) << 32) | length
                    self._arena += b._arena[off : off + length]
                self._attr_key_id.append(self._key(keys[w.attr_key_id[a]]))
                self._attr_kind.append(kind)
                self._attr_val.append(raw)
        self._attr_end.append(len(self._attr_key_id))
        return self

    def _source(self, name: str) -> int:
        sid = self._source_ids.get(name)
        if sid is None:
            sid = self._source_ids[name] = len(self._sources)
            self._sources.append(name)
        return sid

    def _key(self, name: str) -> int:
        kid = self._key_ids.get(name)
        if kid is None:
            kid = self._key_ids[name] = len(self._keys)
            self._keys.append(name)
        return kid

    def _encode(self, key: str, value: AttrValue) -> tuple:
        # bool before int: True is an int in Python.
        if isinstance(value, bool):
            return KIND_BOOL, int(value)
        if isinstance(value, int):
            if not _I64_MIN <= value <= _I64_MAX:
                raise OverflowError(f"attribute {key!r}: {value} does not fit in 64 bits")
            return KIND_INT, value & _U64_MASK
        if isinstance(value, float):
            return KIND_FLOAT, _float_bits(value)
        if isinstance(value, str):
            data = value.encode()
            raw = (len(self._arena) << 32) | len(data)
            self._arena += data
            return KIND_TEXT, raw
        raise TypeError(
            f"attribute {key!r}: a value is a str, int, float or bool, not {type(value).__name__}"
        )

    def _need_event(self, what: str) -> None:
        if not self._msg_off:
            raise IndexError(f"BatchBuilder.{what}: no event was added yet")
