"""Reading a batch: `Batch` and `Event` over the columnar wire."""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterable, Iterator, Optional, Union

#: Wire tags of attribute kinds (`attr-kind`).
KIND_TEXT = 0
KIND_INT = 1
KIND_FLOAT = 2
KIND_BOOL = 3

#: What an attribute holds: text, a 64-bit int, a 64-bit float or a bool.
AttrValue = Union[str, int, float, bool]

_U64 = 1 << 64
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_F64 = struct.Struct("<d")
_Q = struct.Struct("<Q")


def _int_from_bits(raw: int) -> int:
    return raw - _U64 if raw >= 1 << 63 else raw


def _float_from_bits(raw: int) -> float:
    return _F64.unpack(_Q.pack(raw))[0]


def _float_bits(value: float) -> int:
    return _Q.unpack(_F64.pack(value))[0]


class Batch:
    """The events of one `process` call, in order.

    Iterate it (`for event in batch`), index it (`batch[i]`), or take `len(batch)`. Each
    event is an `Event` with `.message`, `.source`, `.offset`, `.timestamp_ns`, `.attrs` and
    `.index`. Make your own for tests with `Batch.from_messages([...])` or
    `BatchBuilder(...).build()`.
    """

    __slots__ = ("_w", "_arena", "_text", "_n")

    def __init__(self, wire: Any) -> None:
        """Wraps a wire `event-batch` (the generated record, or any object with its fields)."""
        arena = wire.arena
        if not isinstance(arena, bytes):
            arena = bytes(arena)
        self._w = wire
        self._arena = arena
        # logcatch's arenas are UTF-8 and mostly ASCII: then the whole arena is decoded once
        # and byte offsets are string offsets. Otherwise each span is decoded on its own.
        self._text: Optional[str] = arena.decode("ascii") if arena.isascii() else None
        n = len(wire.msg_off)
        self._n = n
        for name in ("msg_len", "timestamp_ns", "source_id", "offset", "attr_end"):
            if len(getattr(wire, name)) != n:
                raise ValueError(
                    f"logcatch sent a malformed batch: {name.replace('_', '-')} has "
                    f"{len(getattr(wire, name))} entries for {n} events"
                )
        attrs = len(wire.attr_key_id)
        if len(wire.attr_kind) != attrs or len(wire.attr_val) != attrs:
            raise ValueError("logcatch sent a malformed batch: attribute columns differ in length")
        covered = wire.attr_end[-1] if n else 0
        if covered != attrs:
            raise ValueError(
                f"logcatch sent a malformed batch: {attrs} attributes but attr-end covers "
                f"{covered}"
            )

    @classmethod
    def from_messages(cls, messages: Iterable[str]) -> "Batch":
        """A batch of `messages` from source `test`, with byte offsets as if they were
        consecutive lines of one file and timestamps 0, 1, 2, ...: for unit tests."""
        from .builder import BatchBuilder

        b = BatchBuilder()
        offset = 0
        for i, m in enumerate(messages):
            b.push(m, "test", offset, i)
            offset += len(m.encode()) + 1
        return b.build()

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator["Event"]:
        for i in range(self._n):
            yield Event(self, i)

    def __getitem__(self, index: int) -> "Event":
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(f"event {index} of a batch of {self._n}")
        return Event(self, index)

    def get(self, index: int) -> Optional["Event"]:
        """The event at `index`, or None."""
        return Event(self, index) if 0 <= index < self._n else None

    @property
    def has_attrs(self) -> bool:
        """True when some event of the batch has an attribute."""
        return len(self._w.attr_key_id) > 0

    def attr_key(self, name: str) -> Optional[int]:
        """Looks an attribute key up once for the whole batch (None when no event has it),
        for fast per-event reads with `event.attr_by(key)`."""
        try:
            return self._w.attr_keys.index(name)
        except ValueError:
            return None

    def messages(self) -> list:
        """Every event's message, in order (faster than reading `.message` one by one)."""
        w = self._w
        t = self._text
        if t is not None:
            return [t[o : o + n] for o, n in zip(w.msg_off, w.msg_len)]
        a = self._arena
        return [a[o : o + n].decode() for o, n in zip(w.msg_off, w.msg_len)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return [e._view() for e in self] == [e._view() for e in other]

    def __repr__(self) -> str:
        return f"Batch({[e for e in self]!r})"

    # Internals shared with Event and BatchBuilder.

    def _span(self, off: int, length: int) -> str:
        t = self._text
        if t is not None:
            return t[off : off + length]
        return self._arena[off : off + length].decode()

    def _value(self, a: int) -> AttrValue:
        w = self._w
        raw = w.attr_val[a]
        kind = w.attr_kind[a]
        if kind == KIND_TEXT:
            return self._span(raw >> 32, raw & 0xFFFF_FFFF)
        if kind == KIND_INT:
            return _int_from_bits(raw)
        if kind == KIND_FLOAT:
            return _float_from_bits(raw)
        if kind == KIND_BOOL:
            return raw != 0
        raise ValueError(f"logcatch sent a malformed batch: attribute {a}: unknown kind {kind}")

    def _attr_range(self, index: int) -> range:
        ends = self._w.attr_end
        return range(ends[index - 1] if index else 0, ends[index])


class Event:
    """One event (log line) of a `Batch`, read through properties."""

    __slots__ = ("_b", "index")

    def __init__(self, batch: Batch, index: int) -> None:
        self._b = batch
        #: The event's position in its batch (what `Verdict.keep` lists).
        self.index = index

    @property
    def message(self) -> str:
        """The log line, without its newline."""
        b = self._b
        w = b._w
        i = self.index
        off = w.msg_off[i]
        t = b._text
        if t is not None:
            return t[off : off + w.msg_len[i]]
        return b._arena[off : off + w.msg_len[i]].decode()

    @property
    def source(self) -> str:
        """Where the event came from: a file path, `stdin`, ..."""
        w = self._b._w
        return w.sources[w.source_id[self.index]]

    @property
    def offset(self) -> int:
        """Byte offset of the line in its source; with the source, the event's stable id."""
        return self._b._w.offset[self.index]

    @property
    def timestamp_ns(self) -> int:
        """Ingest time, in nanoseconds since the Unix epoch."""
        return self._b._w.timestamp_ns[self.index]

    @property
    def attrs(self) -> Dict[str, AttrValue]:
        """The attributes as a new dict `{key: value}`, in the order they were added; values
        are `str`, `int`, `float` or `bool`. Should the wire repeat a key, the first wins."""
        b = self._b
        r = b._attr_range(self.index)
        if not r:
            return {}
        w = b._w
        keys = w.attr_keys
        ids = w.attr_key_id
        out: Dict[str, AttrValue] = {}
        for a in r:
            k = keys[ids[a]]
            if k not in out:
                out[k] = b._value(a)
        return out

    def attr(self, key: str, default: Any = None) -> Any:
        """The value of attribute `key`, or `default` when the event does not have it."""
        b = self._b
        w = b._w
        keys = w.attr_keys
        ids = w.attr_key_id
        for a in b._attr_range(self.index):
            if keys[ids[a]] == key:
                return b._value(a)
        return default

    def attr_by(self, key: Optional[int], default: Any = None) -> Any:
        """`attr` with a key from `batch.attr_key(name)`: no string comparisons."""
        if key is None:
            return default
        b = self._b
        ids = b._w.attr_key_id
        for a in b._attr_range(self.index):
            if ids[a] == key:
                return b._value(a)
        return default

    def _view(self) -> tuple:
        return (self.message, self.source, self.offset, self.timestamp_ns, list(self._raw_attrs()))

    def _raw_attrs(self) -> Iterator[tuple]:
        b = self._b
        w = b._w
        for a in b._attr_range(self.index):
            yield (w.attr_keys[w.attr_key_id[a]], b._value(a))

    def __repr__(self) -> str:
        return (
            f"Event(index={self.index}, message={self.message!r}, source={self.source!r}, "
            f"offset={self.offset}, timestamp_ns={self.timestamp_ns}, attrs={self.attrs!r})"
        )
