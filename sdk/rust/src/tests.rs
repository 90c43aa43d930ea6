//! Unit tests of the pure logic: they run natively with `cargo test`.

use crate::bindings::logcatch::plugin::types::{EventBatch, Verdict as WireVerdict};
use crate::{AttrValue, Batch, BatchBuilder, Event, Filter, Verdict};

/// A wire batch written by hand, as logcatch would send it: two sources, every attribute
/// kind, a non-ASCII message.
fn wire() -> EventBatch {
    // arena: "helloGET /xthréeinfo"
    //         0    5     11    17
    let arena = "helloGET /xthréeinfo".as_bytes().to_vec();
    EventBatch {
        arena,
        msg_off: vec![0, 5, 11],
        msg_len: vec![5, 6, 6],
        timestamp_ns: vec![10, 20, 30],
        source_id: vec![1, 0, 1],
        sources: vec!["/var/log/a.log".into(), "stdin".into()],
        offset: vec![0, 6, 13],
        attr_end: vec![2, 2, 5],
        attr_key_id: vec![0, 1, 2, 3, 0],
        attr_keys: vec!["level".into(), "status".into(), "ratio".into(), "ok".into()],
        attr_kind: vec![0, 1, 2, 3, 0],
        attr_val: vec![
            (17 << 32) | 4,
            (-404i64) as u64,
            0.25f64.to_bits(),
            1,
            (5 << 32) | 3,
        ],
    }
}

#[test]
fn columns_decode_into_typed_events() {
    let batch = Batch::from_wire(wire()).unwrap();
    assert_eq!(batch.len(), 3);
    assert!(!batch.is_empty());
    let got: Vec<_> = batch
        .iter()
        .map(|e| {
            (
                e.index(),
                e.message(),
                e.source(),
                e.offset(),
                e.timestamp_ns(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, "hello", "stdin", 0, 10),
            (1, "GET /x", "/var/log/a.log", 6, 20),
            (2, "thrée", "stdin", 13, 30),
        ]
    );
    let e0 = batch.get(0).unwrap();
    assert_eq!(e0.attr("level"), Some(AttrValue::Text("info")));
    assert_eq!(e0.attr("status"), Some(AttrValue::Int(-404)));
    assert_eq!(e0.attr("missing"), None);
    assert_eq!(batch.get(1).unwrap().attrs().len(), 0);
    let e2: Vec<_> = batch.get(2).unwrap().attrs().collect();
    assert_eq!(
        e2,
        [
            ("ratio", AttrValue::Float(0.25)),
            ("ok", AttrValue::Bool(true)),
            ("level", AttrValue::Text("GET")),
        ]
    );
    assert!(batch.get(3).is_none());
    assert_eq!(batch.iter().next_back().unwrap().index(), 2);
    assert_eq!((&batch).into_iter().len(), 3);
}

#[test]
fn attr_key_reads_without_string_compares() {
    let batch = Batch::from_wire(wire()).unwrap();
    let level = batch.attr_key("level").unwrap();
    let values: Vec<_> = batch.iter().map(|e| e.attr_by(level)).collect();
    assert_eq!(
        values,
        [
            Some(AttrValue::Text("info")),
            None,
            Some(AttrValue::Text("GET"))
        ]
    );
    assert_eq!(batch.attr_key("nope"), None);
}

#[test]
fn attr_value_accessors() {
    assert_eq!(AttrValue::Text("a").as_text(), Some("a"));
    assert_eq!(AttrValue::Int(3).as_int(), Some(3));
    assert_eq!(AttrValue::Float(1.5).as_float(), Some(1.5));
    assert_eq!(AttrValue::Bool(true).as_bool(), Some(true));
    assert_eq!(AttrValue::Int(3).as_text(), None);
    assert_eq!(AttrValue::Text("3").as_int(), None);
    assert_eq!(AttrValue::from(7i32), AttrValue::Int(7));
    assert_eq!(AttrValue::from(7u32), AttrValue::Int(7));
    assert_eq!(AttrValue::from(&String::from("s")), AttrValue::Text("s"));
}

#[test]
fn malformed_wire_batches_are_refused() {
    type Breaker = fn(&mut EventBatch);
    let cases: [(Breaker, &str); 9] = [
        (
            |b| b.msg_len.pop().map(drop).unwrap(),
            "msg-len has 2 entries",
        ),
        (|b| b.msg_len[0] = 999, "event 0: message span"),
        (|b| b.msg_off[2] = 15, "event 2: message span"), // inside the é
        (|b| b.source_id[1] = 2, "event 1: source id 2"),
        (
            |b| b.attr_end = vec![2, 1, 5],
            "event 1: attr-end 1 out of order",
        ),
        (|b| b.attr_end[2] = 4, "5 attributes but attr-end covers 4"),
        (|b| b.attr_key_id[3] = 9, "attribute 3: key id"),
        (|b| b.attr_kind[1] = 7, "attribute 1: unknown kind 7"),
        (|b| b.attr_val[0] = (19 << 32) | 4, "attribute 0: text span"),
    ];
    for (breaker, expected) in cases {
        let mut w = wire();
        breaker(&mut w);
        let err = Batch::from_wire(w).unwrap_err();
        assert!(
            err.contains(expected),
            "{err:?} should mention {expected:?}"
        );
        assert!(err.starts_with("logcatch sent a malformed batch"), "{err}");
    }
    // Bytes outside every string may be anything: accepted, strings unchanged.
    let mut w = wire();
    let before = Batch::from_wire(wire())
        .unwrap()
        .get(0)
        .unwrap()
        .message()
        .to_owned();
    w.arena.push(0xff);
    assert_eq!(
        Batch::from_wire(w).unwrap().get(0).unwrap().message(),
        before
    );
}

#[test]
fn ascii_check_spots_a_high_byte_anywhere() {
    let mut w = wire();
    w.arena = vec![b'a'; 10_000];
    w.arena[9_999] = 0xc3; // a lone lead byte at the very end, outside every span
    let b = Batch::from_wire(w).unwrap();
    assert!(b.iter().all(|e| !e.message().contains('?')));
    let mut w = wire();
    w.arena = "é".repeat(5000).into_bytes();
    w.msg_off = vec![0, 2, 4];
    w.msg_len = vec![2, 2, 2];
    w.attr_val[0] = (6 << 32) | 2;
    w.attr_val[4] = (8 << 32) | 2;
    let b = Batch::from_wire(w).unwrap();
    assert_eq!(b.get(2).unwrap().message(), "é");
}

#[test]
fn keep_where_keeps_all_some_or_none() {
    let batch = Batch::from_messages(["a", "DEBUG b", "c", "DEBUG d"]);
    assert_eq!(Verdict::keep_where(&batch, |_| true), Verdict::KeepAll);
    assert_eq!(
        Verdict::keep_where(&batch, |e| !e.message().starts_with("DEBUG")),
        Verdict::Keep(vec![0, 2])
    );
    assert_eq!(
        Verdict::keep_where(&batch, |e| e.index() != 0),
        Verdict::Keep(vec![1, 2, 3])
    );
    assert_eq!(
        Verdict::keep_where(&batch, |_| false),
        Verdict::Keep(vec![])
    );
    assert_eq!(Verdict::drop_all(), Verdict::Keep(vec![]));
    let empty = Batch::from_messages(Vec::<String>::new());
    assert!(empty.is_empty());
    assert_eq!(Verdict::keep_where(&empty, |_| false), Verdict::KeepAll);
}

#[test]
fn from_messages_numbers_offsets_like_lines_of_a_file() {
    let b = Batch::from_messages(["ab", "", "cde"]);
    let got: Vec<_> = b
        .iter()
        .map(|e| (e.source(), e.offset(), e.timestamp_ns()))
        .collect();
    assert_eq!(got, [("test", 0, 0), ("test", 3, 1), ("test", 4, 2)]);
}

#[test]
fn builder_deduplicates_sources_and_keys() {
    let mut b = BatchBuilder::new();
    assert!(b.is_empty());
    b.push("one", "a.log", 0, 1).attr("k", "v1").attr("n", 1);
    b.push("two", "b.log", 0, 2).attr("n", 2);
    b.push("three", "a.log", 4, 3).attr("k", "v3");
    assert_eq!(b.len(), 3);
    let batch = b.build();
    let c = batch.columns();
    assert_eq!(c.sources, ["a.log", "b.log"]);
    assert_eq!(c.source_id, [0, 1, 0]);
    assert_eq!(c.attr_keys, ["k", "n"]);
    assert_eq!(c.attr_key_id, [0, 1, 1, 0]);
    assert_eq!(c.attr_end, [2, 3, 4]);
    assert_eq!(batch.check(), Ok(()));
}

#[test]
fn builder_dictionary_stays_right_past_its_scan_limit() {
    let mut b = BatchBuilder::new();
    b.push("m", "s", 0, 0);
    for round in 0..2 {
        for k in 0..40 {
            b.attr(&format!("key{k}"), k + round);
        }
    }
    let batch = b.build();
    assert_eq!(batch.columns().attr_keys.len(), 40);
    let e = batch.get(0).unwrap();
    assert_eq!(
        e.attrs().len(),
        40,
        "setting a key again replaces its value"
    );
    for k in 0..40 {
        assert_eq!(e.attr(&format!("key{k}")), Some(AttrValue::Int(k + 1)));
    }
}

#[test]
fn builder_encodes_each_attribute_kind() {
    let mut b = BatchBuilder::new();
    b.push("msg", "src", 7, 9)
        .attr("t", AttrValue::Text("héllo"))
        .attr("i", AttrValue::Int(-1))
        .attr("f", AttrValue::Float(-2.5))
        .attr("b", AttrValue::Bool(true))
        .attr("b2", false);
    let batch = b.build();
    let c = batch.columns();
    assert_eq!(c.attr_kind, [0, 1, 2, 3, 3]);
    assert_eq!(c.attr_val[0], (3 << 32) | 6, "text: offset << 32 | length");
    assert_eq!(c.attr_val[1], u64::MAX, "int: the i64's bits");
    assert_eq!(c.attr_val[2], (-2.5f64).to_bits());
    assert_eq!(c.attr_val[3], 1);
    assert_eq!(c.attr_val[4], 0);
    assert_eq!(batch.arena_len(), "msghéllo".len());
    let e = batch.get(0).unwrap();
    assert_eq!(e.attr("t"), Some(AttrValue::Text("héllo")));
    assert_eq!(e.attr("f"), Some(AttrValue::Float(-2.5)));
    assert_eq!(
        (e.message(), e.source(), e.offset(), e.timestamp_ns()),
        ("msg", "src", 7, 9)
    );
}

#[test]
fn builder_replaces_an_attribute_set_twice_on_the_same_event_only() {
    let mut b = BatchBuilder::new();
    b.push("a", "s", 0, 0).attr("x", 1);
    b.push("b", "s", 2, 0).attr("x", 2).attr("x", "two");
    let batch = b.build();
    assert_eq!(batch.get(0).unwrap().attr("x"), Some(AttrValue::Int(1)));
    let e1: Vec<_> = batch.get(1).unwrap().attrs().collect();
    assert_eq!(e1, [("x", AttrValue::Text("two"))]);
}

#[test]
fn push_event_copies_everything_across_dictionaries() {
    let input = Batch::from_wire(wire()).unwrap();
    let mut b = BatchBuilder::sized_for(&input);
    b.push("first", "other", 99, 1).attr("status", 1);
    for e in input.iter().rev() {
        b.push_event(&e);
    }
    let out = b.build();
    assert_eq!(out.check(), Ok(()));
    let view = |e: Event<'_>| {
        (
            e.message().to_owned(),
            e.source().to_owned(),
            e.offset(),
            e.timestamp_ns(),
            format!("{:?}", e.attrs().collect::<Vec<_>>()),
        )
    };
    let copied: Vec<_> = out.iter().skip(1).map(view).collect();
    let original: Vec<_> = input.iter().rev().map(view).collect();
    assert_eq!(copied, original);
    assert_eq!(out.columns().sources, ["other", "stdin", "/var/log/a.log"]);
}

#[test]
fn messages_can_be_rewritten() {
    let input = Batch::from_messages(["alpha", "beta", "gamma"]);
    let mut b = BatchBuilder::new();
    let mut it = input.iter();
    b.push_event_with_message(&it.next().unwrap(), "ALPHA");
    b.push_event_with(&it.next().unwrap(), |w| {
        use std::fmt::Write;
        w.push_str("be");
        w.push('-');
        write!(w, "{}", 7).unwrap();
    });
    b.push_event(&it.next().unwrap()).set_message("G");
    let out = b.build();
    let got: Vec<_> = out.iter().map(|e| (e.message(), e.offset())).collect();
    assert_eq!(got, [("ALPHA", 0), ("be-7", 6), ("G", 11)]);
}

#[test]
#[should_panic(expected = "attr before any event")]
fn attr_needs_an_event() {
    BatchBuilder::new().attr("k", 1);
}

#[test]
fn verdict_wire_forms_and_apply() {
    let input = Batch::from_messages(["a", "b", "c"]);
    assert!(matches!(Verdict::KeepAll.into_wire(), WireVerdict::KeepAll));
    match Verdict::Keep(vec![0, 2]).into_wire() {
        WireVerdict::Keep(k) => assert_eq!(k, [0, 2]),
        other => panic!("{other:?}"),
    }
    let mut b = BatchBuilder::new();
    b.push("x", "s", 1, 2).attr("k", "v");
    match Verdict::replace(b.clone()).into_wire() {
        WireVerdict::Replace(w) => {
            assert_eq!(w.arena, b"xv");
            let round = Batch::from_wire(w).unwrap();
            assert_eq!(round.get(0).unwrap().attr("k"), Some(AttrValue::Text("v")));
        }
        other => panic!("{other:?}"),
    }
    let msgs = |b: Batch| b.iter().map(|e| e.message().to_owned()).collect::<Vec<_>>();
    assert_eq!(msgs(Verdict::KeepAll.apply(&input)), ["a", "b", "c"]);
    assert_eq!(msgs(Verdict::Keep(vec![1]).apply(&input)), ["b"]);
    assert_eq!(msgs(Verdict::replace(b).apply(&input)), ["x"]);
}

#[test]
#[should_panic(expected = "ascending")]
fn apply_refuses_unordered_keep() {
    Verdict::Keep(vec![1, 0]).apply(&Batch::from_messages(["a", "b"]));
}

#[cfg(feature = "json")]
#[test]
fn config_parses_json_and_treats_empty_as_defaults() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct C {
        #[serde(default)]
        levels: Vec<String>,
    }
    assert_eq!(
        crate::config::<C>(r#"{"levels": ["DEBUG"]}"#)
            .unwrap()
            .levels,
        ["DEBUG"]
    );
    assert_eq!(crate::config::<C>("{}").unwrap(), C { levels: vec![] });
    assert_eq!(crate::config::<C>("").unwrap(), C { levels: vec![] });
    assert_eq!(crate::config::<C>(" null ").unwrap(), C { levels: vec![] });
    let err = crate::config::<C>(r#"{"levles": []}"#).unwrap_err();
    assert!(
        err.starts_with("invalid config: unknown field `levles`"),
        "{err}"
    );
}

#[test]
fn log_prints_natively() {
    crate::log(crate::Level::Info, "hello from a test");
    assert_eq!(crate::Level::Warn.to_string(), "WARN");
}

/// A filter that counts batches, for the export glue.
struct Counter {
    seen: usize,
}

impl Filter for Counter {
    fn init(config: &str) -> Result<Self, String> {
        if config == "bad" {
            return Err("bad config".into());
        }
        Ok(Counter { seen: 0 })
    }

    fn process(&mut self, batch: &Batch) -> Result<Verdict, String> {
        self.seen += 1;
        Ok(Verdict::Keep(vec![
            self.seen as u32 - 1;
            batch.len().min(1)
        ]))
    }
}

std::thread_local! {
    static SLOT: std::cell::RefCell<Option<Counter>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn export_glue_keeps_one_instance_and_refuses_process_before_init() {
    use crate::__private::{init, process};
    let err = process::<Counter>(&SLOT, wire()).unwrap_err();
    assert_eq!(err, "process called before init");
    assert_eq!(init::<Counter>(&SLOT, "bad"), Err("bad config".into()));
    init::<Counter>(&SLOT, "{}").unwrap();
    for expect in 0..3u32 {
        match process::<Counter>(&SLOT, wire()).unwrap() {
            WireVerdict::Keep(k) => assert_eq!(k, [expect], "state lives across batches"),
            other => panic!("{other:?}"),
        }
    }
    let mut broken = wire();
    broken.offset.clear();
    assert!(
        process::<Counter>(&SLOT, broken)
            .unwrap_err()
            .contains("malformed")
    );
    init::<Counter>(&SLOT, "{}").unwrap();
    assert!(matches!(process::<Counter>(&SLOT, wire()).unwrap(), WireVerdict::Keep(k) if k == [0]));
}
