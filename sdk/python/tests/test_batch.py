"""Reading batches and building them: `Batch`, `Event`, `BatchBuilder`."""

import unittest

from logcatch_plugin import Batch, BatchBuilder
from logcatch_plugin._wire import EventBatch


def wire(**fields):
    """A wire batch of one event with `fields` changed."""
    base = dict(
        arena=b"hello",
        msg_off=[0],
        msg_len=[5],
        timestamp_ns=[7],
        source_id=[0],
        sources=["a.log"],
        offset=[3],
        attr_end=[0],
        attr_key_id=[],
        attr_keys=[],
        attr_kind=b"",
        attr_val=[],
    )
    base.update(fields)
    return EventBatch(**base)


class BatchTest(unittest.TestCase):
    def test_from_messages_numbers_offsets_like_lines_of_a_file(self):
        batch = Batch.from_messages(["one", "zwei ü", ""])
        self.assertEqual(len(batch), 3)
        self.assertEqual([e.message for e in batch], ["one", "zwei ü", ""])
        self.assertEqual([e.offset for e in batch], [0, 4, 12])
        self.assertEqual([e.timestamp_ns for e in batch], [0, 1, 2])
        self.assertEqual({e.source for e in batch}, {"test"})
        self.assertEqual([e.index for e in batch], [0, 1, 2])
        self.assertEqual(batch.messages(), ["one", "zwei ü", ""])

    def test_events_read_their_columns(self):
        b = BatchBuilder()
        b.push("GET /a", "x.log", 10, 100).attr("status", 200).attr("ok", True)
        b.push("naïve café", "y.log", 20, 200).attr("client", "10.0.0.1").attr("ms", 1.5)
        b.push("neg", "x.log", 30, 300).attr("n", -(1 << 63)).attr("max", (1 << 63) - 1)
        batch = b.build()
        first, second, third = batch
        self.assertEqual((first.message, first.source, first.offset), ("GET /a", "x.log", 10))
        self.assertEqual(first.attrs, {"status": 200, "ok": True})
        self.assertIs(first.attr("ok"), True)
        self.assertEqual(second.message, "naïve café")
        self.assertEqual(second.attr("client"), "10.0.0.1")
        self.assertEqual(second.attr("ms"), 1.5)
        self.assertIsNone(second.attr("status"))
        self.assertEqual(second.attr("status", "none"), "none")
        self.assertEqual(third.attrs, {"n": -(1 << 63), "max": (1 << 63) - 1})
        self.assertEqual(batch[-1].message, "neg")
        self.assertIsNone(batch.get(3))
        with self.assertRaises(IndexError):
            batch[3]

    def test_attr_key_looks_a_key_up_once(self):
        b = BatchBuilder()
        b.push("a").attr("status", 500)
        b.push("b").attr("other", 1)
        batch = b.build()
        key = batch.attr_key("status")
        self.assertEqual([e.attr_by(key) for e in batch], [500, None])
        self.assertIsNone(batch.attr_key("missing"))
        self.assertEqual(batch[0].attr_by(None, 0), 0)
        self.assertTrue(batch.has_attrs)
        self.assertFalse(Batch.from_messages(["x"]).has_attrs)

    def test_a_repeated_key_on_the_wire_reads_as_the_first(self):
        batch = Batch(
            wire(
                arena=b"msgAB",
                msg_len=[3],
                attr_end=[2],
                attr_key_id=[0, 0],
                attr_keys=["k"],
                attr_kind=bytes([0, 0]),
                attr_val=[(3 << 32) | 1, (4 << 32) | 1],
            )
        )
        self.assertEqual(batch[0].attr("k"), "A")
        self.assertEqual(batch[0].attrs, {"k": "A"})

    def test_malformed_wire_batches_are_refused_with_a_reason(self):
        with self.assertRaisesRegex(ValueError, "msg-len has 2 entries for 1 events"):
            Batch(wire(msg_len=[5, 1]))
        with self.assertRaisesRegex(ValueError, "attr-end covers 0"):
            Batch(wire(attr_key_id=[0], attr_keys=["k"], attr_kind=b"\x01", attr_val=[1]))
        bad_kind = Batch(
            wire(attr_end=[1], attr_key_id=[0], attr_keys=["k"], attr_kind=b"\x09", attr_val=[1])
        )
        with self.assertRaisesRegex(ValueError, "unknown kind 9"):
            bad_kind[0].attrs

    def test_wire_lists_from_the_bindings_are_accepted(self):
        # componentize-py may hand `list<u8>` over as bytes or as a bytearray.
        batch = Batch(wire(arena=bytearray(b"hello")))
        self.assertEqual(batch[0].message, "hello")


class BuilderTest(unittest.TestCase):
    def test_push_event_copies_everything_and_keeps_the_id(self):
        b = BatchBuilder()
        b.push("é first", "s.log", 5, 9).attr("k", "v").attr("n", 1)
        src = b.build()
        out = BatchBuilder().push_event(src[0]).build()
        self.assertEqual(out, src)
        e = out[0]
        self.assertEqual((e.message, e.source, e.offset, e.timestamp_ns), ("é first", "s.log", 5, 9))
        self.assertEqual(e.attrs, {"k": "v", "n": 1})

    def test_new_messages_and_attrs_change_the_event_added_last(self):
        src = Batch.from_messages(["one", "two"])
        out = BatchBuilder()
        out.push_event_with_message(src[0], "ONE").attr("upper", True)
        out.push_event(src[1]).set_message("deux").attr("lang", "fr").attr("lang", "français")
        got = out.build()
        self.assertEqual(got.messages(), ["ONE", "deux"])
        self.assertEqual(got[0].offset, 0)
        self.assertEqual(got[1].offset, 4)
        self.assertEqual(got[0].attrs, {"upper": True})
        # Setting a key again replaces its value.
        self.assertEqual(got[1].attrs, {"lang": "français"})
        self.assertEqual(len(out), 2)

    def test_dictionaries_hold_each_name_once(self):
        b = BatchBuilder()
        for i in range(40):
            b.push(f"m{i}", f"s{i % 3}", i, i).attr(f"k{i % 20}", i)
        w = b.to_wire()
        self.assertEqual(w.sources, ["s0", "s1", "s2"])
        self.assertEqual(len(w.attr_keys), 20)
        batch = Batch(w)
        self.assertEqual(batch[39].source, "s0")
        self.assertEqual(batch[39].attrs, {"k19": 39})

    def test_values_that_do_not_fit_are_refused(self):
        b = BatchBuilder().push("x")
        with self.assertRaisesRegex(OverflowError, "does not fit in 64 bits"):
            b.attr("big", 1 << 63)
        with self.assertRaisesRegex(TypeError, "not list"):
            b.attr("l", [1])
        with self.assertRaisesRegex(IndexError, "no event was added yet"):
            BatchBuilder().attr("k", 1)
        with self.assertRaisesRegex(IndexError, "no event was added yet"):
            BatchBuilder().set_message("m")

    def test_floats_and_bools_round_trip_bit_exactly(self):
        b = BatchBuilder().push("x").attr("f", -0.0).attr("inf", float("inf")).attr("b", False)
        e = b.build()[0]
        self.assertEqual(str(e.attr("f")), "-0.0")
        self.assertEqual(e.attr("inf"), float("inf"))
        self.assertIs(e.attr("b"), False)


if __name__ == "__main__":
    unittest.main()
