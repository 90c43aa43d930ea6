"""logcatch filter `redact`, in Python: masks e-mail addresses, IPv4 addresses and text
matching configured regular expressions, in messages and text attributes. A batch with
nothing to mask is kept as it is (nothing copied); otherwise unchanged events are copied
whole. The same filter, config and output as examples/rust-redact; see README.md.
"""

import json
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import logcatch_plugin
from logcatch_plugin import Batch, BatchBuilder, Event, Level, PluginError, Verdict

# E-mail addresses: `local@domain.tld`.
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

# Dotted-quad IPv4 addresses (each part 0-255), not inside a longer word or number. With
# re.ASCII, `\b` is the ASCII word boundary (Rust's `(?-u:\b)`).
IPV4 = r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b"

# Compiled once, when componentize-py snapshots the module at build time.
EMAIL_RE = re.compile(EMAIL)
IPV4_RE = re.compile(IPV4, re.ASCII)


@dataclass
class Config:
    """The plugin's `config:`."""

    # Mask e-mail addresses.
    emails: bool = True
    # Mask IPv4 addresses.
    ipv4: bool = True
    # More regular expressions (Python `re` syntax) whose matches are masked.
    patterns: List[str] = field(default_factory=list)
    # What replaces each match.
    mask: str = "[REDACTED]"
    # Also mask text attribute values, not only messages.
    attributes: bool = True


class Pattern:
    """One thing to mask: a regex, and a C-speed test a text must pass before the regex is
    worth running, which spares most lines the regex: a substring every match contains
    (`@` for e-mails), or dots it needs (IPv4 needs three)."""

    __slots__ = ("re", "needle", "min_dots")

    def __init__(self, regex: "re.Pattern[str]", needle: Optional[str] = None, min_dots: int = 0):
        self.re = regex
        self.needle = needle
        self.min_dots = min_dots

    def worth(self, text: str) -> bool:
        """Whether `text` passes the cheap test."""
        return (self.needle is None or self.needle in text) and (
            self.min_dots == 0 or text.count(".") >= self.min_dots
        )

    def is_match(self, text: str) -> bool:
        """Whether the regex matches somewhere in `text`."""
        return self.worth(text) and self.re.search(text) is not None

    def hits(self, texts: List[str]) -> List[int]:
        """The indices of the texts it matches: one comprehension per batch, not a call per
        text."""
        search = self.re.search
        needle = self.needle
        dots = self.min_dots
        if needle is not None:
            return [i for i, t in enumerate(texts) if needle in t and search(t) is not None]
        if dots:
            return [i for i, t in enumerate(texts) if t.count(".") >= dots and search(t) is not None]
        return [i for i, t in enumerate(texts) if search(t) is not None]


def _add_spans(regex: "re.Pattern[str]", text: str, spans: List[Tuple[int, int]]) -> None:
    """Appends the spans of `regex`'s non-empty matches in `text`, as Rust's `find_iter`
    finds them: after an empty match the search resumes one character later. (`finditer`
    would retry at the same position for a non-empty match, which `|x` or `x*?` have.)"""
    pos = 0
    end = len(text)
    search = regex.search
    while pos <= end:
        m = search(text, pos)
        if m is None:
            return
        start, stop = m.span()
        if start == stop:
            pos = stop + 1
        else:
            spans.append((start, stop))
            pos = stop


class Redact:
    """The filter."""

    def __init__(self, config: str):
        cfg: Config = logcatch_plugin.config(config, Config)
        self.patterns: List[Pattern] = []
        if cfg.emails:
            self.patterns.append(Pattern(EMAIL_RE, needle="@"))
        if cfg.ipv4:
            self.patterns.append(Pattern(IPV4_RE, min_dots=3))
        for i, p in enumerate(cfg.patterns):
            try:
                self.patterns.append(Pattern(re.compile(p)))
            except re.error as e:
                shown = json.dumps(p, ensure_ascii=False)
                raise PluginError(f"patterns[{i}] {shown}: invalid regex: {e}") from None
        if not self.patterns:
            logcatch_plugin.log(
                Level.WARN,
                "emails and ipv4 are off and patterns is empty: this filter masks nothing",
            )
        self.mask = cfg.mask
        self.attributes = cfg.attributes

    def is_match(self, text: str) -> bool:
        """Whether `text` has anything to mask."""
        return any(p.is_match(text) for p in self.patterns)

    def find(self, text: str) -> List[Tuple[int, int]]:
        """What to mask in `text`: spans, sorted, overlaps merged (empty if nothing)."""
        spans: List[Tuple[int, int]] = []
        for p in self.patterns:
            if p.worth(text):
                _add_spans(p.re, text, spans)
        if len(spans) < 2:
            return spans
        spans.sort()
        merged = [spans[0]]
        for start, end in spans[1:]:
            last_start, last_end = merged[-1]
            if start < last_end:
                merged[-1] = (last_start, max(last_end, end))
            else:
                merged.append((start, end))
        return merged

    def masked(self, text: str) -> Optional[str]:
        """`text` with every match replaced by the mask, or None if nothing matched."""
        spans = self.find(text)
        if not spans:
            return None
        parts = []
        last = 0
        for start, end in spans:
            parts.append(text[last:start])
            parts.append(self.mask)
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def attrs_match(self, event: Event) -> bool:
        """Whether any text attribute of the event has something to mask."""
        return any(isinstance(v, str) and self.is_match(v) for v in event.attrs.values())

    def mask_event(self, out: BatchBuilder, event: Event, text: str) -> None:
        """Copies `event` (whose message is `text`) into `out`, with its message and text
        attributes masked."""
        message = self.masked(text)
        if message is None:
            out.push_event(event)
        else:
            out.push_event_with_message(event, message)
        if self.attributes:
            for key, value in event.attrs.items():
                if isinstance(value, str):
                    masked = self.masked(value)
                    if masked is not None:
                        out.attr(key, masked)

    def process(self, batch: Batch) -> Verdict:
        """`KEEP_ALL` when nothing in the batch needs masking; else the batch with the
        events that do masked and the others copied whole."""
        if not self.patterns:
            return Verdict.KEEP_ALL
        messages = batch.messages()
        # The events with something to mask, found pattern by pattern over the whole batch.
        dirty = set()
        for p in self.patterns:
            dirty.update(p.hits(messages))
        if self.attributes and batch.has_attrs:
            dirty.update(e.index for e in batch if self.attrs_match(e))
        if not dirty:
            # A clean batch is kept as it is: nothing copied.
            return Verdict.KEEP_ALL
        out = BatchBuilder.sized_for(batch)
        for event in batch:
            if event.index in dirty:
                self.mask_event(out, event, messages[event.index])
            else:
                out.push_event(event)
        return Verdict.replace(out)


Filter = logcatch_plugin.export_filter(Redact)
