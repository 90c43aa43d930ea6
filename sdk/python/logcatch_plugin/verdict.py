"""What a filter decides for a batch: `Verdict`."""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional

from . import _wire
from .batch import Batch, Event
from .builder import BatchBuilder


class Verdict:
    """What a filter decides for a batch: keep it all, keep some events, or replace it.

    Make one with `Verdict.keep_all()` (or the constant `Verdict.KEEP_ALL`),
    `Verdict.keep(indices)`, `Verdict.keep_where(batch, predicate)`, `Verdict.drop_all()`
    or `Verdict.replace(builder)`. `kind` is `"keep_all"`, `"keep"` or `"replace"`;
    `indices` and `builder` hold the payload. Verdicts compare equal by content.
    """

    __slots__ = ("kind", "indices", "builder")

    KEEP_ALL: "Verdict"

    def __init__(
        self,
        kind: str,
        indices: Optional[List[int]] = None,
        builder: Optional[BatchBuilder] = None,
    ) -> None:
        if kind not in ("keep_all", "keep", "replace"):
            raise ValueError(f"unknown verdict kind {kind!r}")
        self.kind = kind
        self.indices = indices
        self.builder = builder

    @staticmethod
    def keep_all() -> "Verdict":
        """Keep every event unchanged: nothing crosses back, the cheapest answer."""
        return Verdict.KEEP_ALL

    @staticmethod
    def keep(indices: Iterable[int]) -> "Verdict":
        """Keep only the events at these indices (strictly ascending), unchanged."""
        return Verdict("keep", indices=list(indices))

    @staticmethod
    def drop_all() -> "Verdict":
        """Drop every event of the batch."""
        return Verdict("keep", indices=[])

    @staticmethod
    def keep_where(batch: Batch, predicate: Callable[[Event], bool]) -> "Verdict":
        """Keep the events for which `predicate(event)` is true: `KEEP_ALL` when that is
        every event, else `keep` with their indices. Builds no list until the first event
        is dropped."""
        kept: Optional[List[int]] = None
        for event in batch:
            if predicate(event):
                if kept is not None:
                    kept.append(event.index)
            elif kept is None:
                kept = list(range(event.index))
        return Verdict.KEEP_ALL if kept is None else Verdict("keep", indices=kept)

    @staticmethod
    def replace(builder: BatchBuilder) -> "Verdict":
        """Replace the batch with what `builder` holds: a transform's output."""
        if not isinstance(builder, BatchBuilder):
            raise TypeError(f"Verdict.replace takes a BatchBuilder, not {type(builder).__name__}")
        return Verdict("replace", builder=builder)

    def apply(self, batch: Batch) -> Batch:
        """The batch logcatch would pass on after this verdict on `batch`: for tests.

        Raises ValueError if `keep` indices are out of range or not strictly ascending
        (logcatch refuses such a verdict too)."""
        if self.kind == "keep_all":
            return batch
        if self.kind == "replace":
            assert self.builder is not None
            return self.builder.build()
        indices = self.indices or []
        _check_indices(indices, len(batch))
        out = BatchBuilder()
        for i in indices:
            out.push_event(batch[i])
        return out.build()

    def to_wire(self) -> _wire.WireVerdict:
        """The wire `verdict`."""
        if self.kind == "keep_all":
            return _wire.Verdict_KeepAll()
        if self.kind == "keep":
            return _wire.Verdict_Keep(list(self.indices or []))
        assert self.builder is not None
        return _wire.Verdict_Replace(self.builder.to_wire())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return (self.kind, self.indices, self.builder) == (
            other.kind,
            other.indices,
            other.builder,
        )

    def __repr__(self) -> str:
        if self.kind == "keep_all":
            return "Verdict.KEEP_ALL"
        if self.kind == "keep":
            return f"Verdict.keep({self.indices!r})"
        return f"Verdict.replace({self.builder!r})"


Verdict.KEEP_ALL = Verdict("keep_all")


def _check_indices(indices: List[int], n: int) -> None:
    prev = -1
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool) or i <= prev or i >= n:
            raise ValueError(
                f"Verdict.keep indices must be strictly ascending and below {n}: {indices!r}"
            )
        prev = i
