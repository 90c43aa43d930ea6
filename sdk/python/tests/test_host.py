"""The config parser and the log."""

import contextlib
import io
import unittest
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import logcatch_plugin
from logcatch_plugin import Level, PluginError


@dataclass
class Inner:
    depth: int = 1


@dataclass
class Config:
    names: List[str] = field(default_factory=list)
    ratio: float = 0.5
    on: bool = True
    limit: Optional[int] = None
    tags: Dict[str, str] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


@dataclass
class Needs:
    path: str


class ConfigTest(unittest.TestCase):
    def parse(self, text, schema=Config):
        return logcatch_plugin.config(text, schema)

    def error(self, text, schema=Config):
        with self.assertRaises(PluginError) as e:
            self.parse(text, schema)
        return str(e.exception)

    def test_defaults_fill_what_is_left_out(self):
        for empty in ("", "  ", "null", "{}"):
            self.assertEqual(self.parse(empty), Config())
        c = self.parse('{"names": ["a"], "ratio": 2, "limit": 3, "tags": {"k": "v"}, "inner": {"depth": 4}}')
        self.assertEqual(c, Config(names=["a"], ratio=2.0, limit=3, tags={"k": "v"}, inner=Inner(4)))
        self.assertIsInstance(c.ratio, float)
        self.assertEqual(logcatch_plugin.config('{"any": [1]}'), {"any": [1]})

    def test_mistakes_are_named_with_where_they_are(self):
        self.assertEqual(
            self.error('{"name": []}'),
            "invalid config: unknown field `name`, expected one of `names`, `ratio`, `on`, "
            "`limit`, `tags`, `inner`",
        )
        self.assertEqual(self.error('{"on": 1}'), "invalid config: on: expected a boolean, got integer 1")
        self.assertEqual(
            self.error('{"names": ["a", 2]}'), "invalid config: names[1]: expected a string, got integer 2"
        )
        self.assertEqual(
            self.error('{"inner": {"depth": true}}'),
            "invalid config: inner.depth: expected an integer, got boolean true",
        )
        self.assertEqual(self.error('{"limit": "3"}'), 'invalid config: limit: expected an integer, got string "3"')
        self.assertEqual(self.error("{}", Needs), "invalid config: missing field `path`")
        self.assertEqual(self.error("[]"), "invalid config: expected an object, got list []")
        self.assertEqual(self.error('{"on": true, "on": false}'), "invalid config: duplicate field `on`")
        self.assertTrue(self.error("{oops").startswith("invalid config: Expecting property name"))
        self.assertEqual(
            logcatch_plugin.config("{}", Config).limit, None, "Optional fields default to None"
        )
        with self.assertRaises(PluginError):
            logcatch_plugin.config("3")

    def test_log_prints_to_stderr_outside_a_component(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            logcatch_plugin.log(Level.WARN, "careful")
        self.assertEqual(err.getvalue(), "[plugin WARN] careful\n")


if __name__ == "__main__":
    unittest.main()
