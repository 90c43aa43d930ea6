"""Verdicts and the export: what crosses back to logcatch."""

import unittest

import logcatch_plugin
from logcatch_plugin import Batch, BatchBuilder, PluginError, Verdict
from logcatch_plugin._wire import Err, Verdict_Keep, Verdict_KeepAll, Verdict_Replace


class VerdictTest(unittest.TestCase):
    def test_keep_where_builds_no_list_until_an_event_is_dropped(self):
        batch = Batch.from_messages(["a", "DEBUG b", "c", "DEBUG d"])
        self.assertIs(Verdict.keep_where(batch, lambda e: True), Verdict.KEEP_ALL)
        verdict = Verdict.keep_where(batch, lambda e: "DEBUG" not in e.message)
        self.assertEqual(verdict, Verdict.keep([0, 2]))
        self.assertEqual(verdict.apply(batch).messages(), ["a", "c"])
        self.assertEqual(Verdict.keep_where(batch, lambda e: False), Verdict.drop_all())

    def test_apply_shows_what_logcatch_passes_on(self):
        batch = Batch.from_messages(["a", "b"])
        self.assertIs(Verdict.keep_all().apply(batch), batch)
        self.assertEqual(len(Verdict.drop_all().apply(batch)), 0)
        out = BatchBuilder().push_event_with_message(batch[1], "B")
        self.assertEqual(Verdict.replace(out).apply(batch).messages(), ["B"])
        for bad in ([1, 0], [0, 0], [2], [-1]):
            with self.assertRaisesRegex(ValueError, "strictly ascending"):
                Verdict.keep(bad).apply(batch)

    def test_wire_forms(self):
        self.assertEqual(Verdict.KEEP_ALL.to_wire(), Verdict_KeepAll())
        self.assertEqual(Verdict.keep([1, 3]).to_wire(), Verdict_Keep([1, 3]))
        wire = Verdict.replace(BatchBuilder().push("x", "s", 1, 2)).to_wire()
        self.assertIsInstance(wire, Verdict_Replace)
        self.assertEqual(wire.value.arena, b"x")
        self.assertEqual(wire.value.sources, ["s"])
        with self.assertRaisesRegex(TypeError, "takes a BatchBuilder"):
            Verdict.replace([])

    def test_verdicts_compare_by_content(self):
        self.assertEqual(Verdict.keep([1]), Verdict.keep((1,)))
        self.assertNotEqual(Verdict.keep([1]), Verdict.KEEP_ALL)
        self.assertEqual(repr(Verdict.keep([2])), "Verdict.keep([2])")


class Upper:
    """Upper-cases messages containing `word` (from the config)."""

    def __init__(self, config):
        self.word = logcatch_plugin.config(config).get("word")
        if not self.word:
            raise PluginError("word: give a word")

    def process(self, batch):
        if any("boom" in e.message for e in batch):
            raise RuntimeError("exploded")
        out = BatchBuilder()
        for e in batch:
            out.push_event_with_message(e, e.message.upper() if self.word in e.message else e.message)
        return Verdict.replace(out)


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.Filter = logcatch_plugin.export_filter(Upper)
        self.f = self.Filter()

    def test_init_then_process_on_the_wire(self):
        self.f.init('{"word": "x"}')
        self.assertIsInstance(self.Filter.instance(), Upper)
        wire = Batch.from_messages(["x marks", "plain"])._w
        got = self.f.process(wire)
        self.assertEqual(Batch(got.value).messages(), ["X MARKS", "plain"])

    def test_errors_cross_as_err_with_a_message(self):
        with self.assertRaises(Err) as e:
            self.f.process(Batch.from_messages(["a"])._w)
        self.assertEqual(e.exception.value, "process called before init")
        with self.assertRaises(Err) as e:
            self.f.init("{}")
        self.assertEqual(e.exception.value, "word: give a word")
        self.assertIsNone(self.Filter.instance())
        with self.assertRaises(Err) as e:
            self.f.init("{nope")
        self.assertTrue(e.exception.value.startswith("invalid config: "), e.exception.value)
        self.f.init('{"word": "x"}')
        with self.assertRaises(Err) as e:
            self.f.process(Batch.from_messages(["boom"])._w)
        self.assertRegex(e.exception.value, r"^RuntimeError: exploded \(at test_verdict\.py:\d+\)$")

    def test_a_process_that_returns_no_verdict_fails_the_batch(self):
        class NoVerdict:
            def __init__(self, config):
                pass

            def process(self, batch):
                return [0]

        f = logcatch_plugin.export_filter(NoVerdict)()
        f.init("{}")
        with self.assertRaises(Err) as e:
            f.process(Batch.from_messages(["a"])._w)
        self.assertIn("NoVerdict.process returned list, expected a Verdict", e.exception.value)

    def test_a_class_without_process_is_refused_at_build_time(self):
        with self.assertRaisesRegex(TypeError, "has no process"):
            logcatch_plugin.export_filter(object)


if __name__ == "__main__":
    unittest.main()
