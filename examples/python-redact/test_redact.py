"""The masking, natively on CPython: the Rust redact example's tests, ported.

Run from this directory: PYTHONPATH=../../sdk/python python3 -m unittest -v
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python"))

from logcatch_plugin import Batch, BatchBuilder, PluginError, Verdict  # noqa: E402
from redact import Filter, Redact  # noqa: E402


def run(config, lines):
    f = Redact(config)
    batch = Batch.from_messages(lines)
    verdict = f.process(batch)
    out = verdict.apply(batch)
    return verdict, [e.message for e in out]


class RedactTest(unittest.TestCase):
    def test_masks_emails_and_ipv4_by_default(self):
        _, out = run(
            "{}",
            [
                "login ok user=jane.doe+x@mail.example.org from 192.168.1.20:5543",
                "nothing here, version 1.2.3",
                "two: a@b.io and c@d.co.uk",
                "not an ip: 256.1.1.1 or 1.2.3 or v10.0.0.1, but ::ffff:10.0.0.1 is",
            ],
        )
        self.assertEqual(
            out,
            [
                "login ok user=[REDACTED] from [REDACTED]:5543",
                "nothing here, version 1.2.3",
                "two: [REDACTED] and [REDACTED]",
                "not an ip: 256.1.1.1 or 1.2.3 or v10.0.0.1, but ::ffff:[REDACTED] is",
            ],
        )

    def test_ipv4_boundaries(self):
        _, out = run(
            '{"emails": false}',
            ["1.2.3.4.5 x1.2.3.4 1.2.3.4x 01.2.3.4 é1.2.3.4é 255.255.255.255 1.2.3.456"],
        )
        self.assertEqual(
            out, ["[REDACTED].5 x1.2.3.4 1.2.3.4x 01.2.3.4 é[REDACTED]é [REDACTED] 1.2.3.456"]
        )

    def test_a_clean_batch_is_kept_without_a_copy(self):
        verdict, _ = run("{}", ["GET /cart 200", "GET /pay 500"])
        self.assertEqual(verdict, Verdict.KEEP_ALL)

    def test_unchanged_events_are_copied_whole_around_changed_ones(self):
        b = BatchBuilder()
        b.push("clean first", "app.log", 0, 1).attr("n", 1)
        b.push("mail bob@example.com", "app.log", 12, 2)
        b.push("clean last", "other.log", 33, 3).attr("ok", True)
        batch = b.build()
        out = Redact("{}").process(batch).apply(batch)
        view = [(e.message, e.source, e.offset, e.timestamp_ns, e.attrs) for e in out]
        self.assertEqual(
            view,
            [
                ("clean first", "app.log", 0, 1, {"n": 1}),
                ("mail [REDACTED]", "app.log", 12, 2, {}),
                ("clean last", "other.log", 33, 3, {"ok": True}),
            ],
        )

    def test_patterns_mask_and_choices_can_be_configured(self):
        config = r'{"emails": false, "ipv4": true, "patterns": ["secret=\\S+", "(?i)bearer [a-z0-9.]+"], "mask": "***"}'
        _, out = run(
            config,
            ["a@b.io secret=hunter2 Authorization: Bearer abc.DEF 10.0.0.1 secret=x10.0.0.1"],
        )
        self.assertEqual(out, ["a@b.io *** Authorization: *** *** ***"])

    def test_overlapping_matches_become_one_mask(self):
        _, out = run('{"patterns": ["token=[0-9.]+"], "mask": "#"}', ["token=10.0.0.1 and 10.0.0.2"])
        self.assertEqual(out, ["# and #"])

    def test_adjacent_matches_stay_two_masks(self):
        _, out = run(
            '{"emails": false, "ipv4": false, "patterns": ["ab", "cd"], "mask": "#"}', ["xabcdx"]
        )
        self.assertEqual(out, ["x##x"])

    def test_empty_matches_are_ignored(self):
        _, out = run('{"emails": false, "ipv4": false, "patterns": ["x*"]}', ["abc", "axxb"])
        self.assertEqual(out, ["abc", "a[REDACTED]b"])

    def test_empty_matches_resume_one_character_later_as_in_rust(self):
        # Rust's find_iter never retries a position for a longer match after an empty one;
        # Python's finditer would mask "secret" here. (Outputs checked against rust-redact.)
        _, out = run('{"emails": false, "ipv4": false, "patterns": ["|secret"]}', ["a secret"])
        self.assertEqual(out, ["a secret"])
        _, out = run('{"emails": false, "ipv4": false, "patterns": ["s*?e"]}', ["a secret sse"])
        self.assertEqual(out, ["a [REDACTED]cr[REDACTED]t [REDACTED]"])

    def test_an_event_dirty_only_in_an_attribute_is_masked_there(self):
        b = BatchBuilder()
        b.push("clean", "s", 0, 0).attr("user", "nobody")
        b.push("also clean", "s", 6, 1).attr("user", "bob@example.com").attr("n", 3)
        batch = b.build()
        out = Redact('{"mask": "#"}').process(batch).apply(batch)
        self.assertEqual(
            [(e.message, e.attrs) for e in out],
            [("clean", {"user": "nobody"}), ("also clean", {"user": "#", "n": 3})],
        )

    def test_text_attributes_are_masked_too_unless_turned_off(self):
        b = BatchBuilder()
        b.push("GET / 200", "s", 0, 0).attr("client", "10.1.2.3").attr("status", 200).attr("path", "/")
        batch = b.build()
        out = Redact("{}").process(batch).apply(batch)
        self.assertEqual(out[0].message, "GET / 200")
        self.assertEqual(out[0].attrs, {"client": "[REDACTED]", "status": 200, "path": "/"})
        self.assertEqual(Redact('{"attributes": false}').process(batch), Verdict.KEEP_ALL)

    def test_unicode_text_around_matches_survives(self):
        _, out = run("{}", ["é 1.2.3.4 ü — ß@exämple.de ok x@y.org"])
        self.assertEqual(out, ["é [REDACTED] ü — ß@exämple.de ok [REDACTED]"])

    def test_bad_configs_are_refused_naming_the_pattern(self):
        with self.assertRaises(PluginError) as e:
            Redact(r'{"patterns": ["ok", "secret=(\\S+"]}')
        self.assertEqual(
            str(e.exception),
            r'patterns[1] "secret=(\\S+": invalid regex: missing ), unterminated subpattern at position 7',
        )
        with self.assertRaises(PluginError) as e:
            Redact('{"mask": 3}')
        self.assertTrue(str(e.exception).startswith("invalid config"))
        with self.assertRaises(PluginError) as e:
            Redact('{"email": true}')
        self.assertIn("unknown field `email`", str(e.exception))

    def test_nothing_to_mask_keeps_all(self):
        verdict, _ = run('{"emails": false, "ipv4": false}', ["a@b.io 1.2.3.4"])
        self.assertEqual(verdict, Verdict.KEEP_ALL)

    def test_the_export_refuses_and_answers_on_the_wire(self):
        f = Filter()
        with self.assertRaises(Exception) as e:
            f.init('{"patterns": ["("]}')
        self.assertEqual(
            e.exception.value, 'patterns[0] "(": invalid regex: missing ), unterminated subpattern at position 0'
        )
        f.init('{"mask": "#"}')
        wire = BatchBuilder().push("ip 10.0.0.1", "s", 0, 0).to_wire()
        replaced = f.process(wire)
        self.assertEqual([e.message for e in Batch(replaced.value)], ["ip #"])


if __name__ == "__main__":
    unittest.main()
