//! Supervision: a source that panics is restarted from its checkpoint and loses nothing,
//! while another pipeline in the same process keeps delivering.

mod common;

use std::time::{Duration, Instant};

use common::{Scratch, audit, lines, numbers, wait_until};

#[test]
fn a_panicking_source_is_restarted_and_loses_nothing() {
    let s = Scratch::new();
    let cfg = s.config(
        "\
data_dir: ./data
checkpoint: { interval: 50ms }
pipelines:
  faulty:
    batch: { max_events: 250 }
    sources:
      - { type: demo, rate: 4000, count: 4000, panic_every: 900 }
    sinks:
      - { type: file, path: faulty.log }
  steady:
    sources:
      - { type: demo, rate: 200 }
    sinks:
      - { type: file, path: steady.log }
",
    );
    let daemon = s.start(&cfg);
    let (faulty, steady) = (s.path("faulty.log"), s.path("steady.log"));

    // Watch the steady pipeline while the faulty one panics and restarts.
    let mut samples = vec![(Instant::now(), 0usize)];
    let done = wait_until(Duration::from_secs(60), || {
        samples.push((Instant::now(), lines(&steady).len()));
        audit(&numbers(&faulty), 4000).0.is_empty()
    });
    assert!(
        done,
        "faulty pipeline never delivered all 4000 lines\n{}",
        daemon.log()
    );

    let log = daemon.log();
    let panics = log.matches("panicked: demo source: injected fault").count();
    assert!(
        panics >= 3,
        "expected several restarts, saw {panics}\n{log}"
    );
    // Each panic is reported by the supervisor with its pipeline and component.
    assert!(
        log.lines()
            .any(|l| l.contains("panicked: demo source: injected fault")
                && l.contains("pipeline=faulty")
                && l.contains("component=sources[0]")),
        "panic not attributed\n{log}"
    );

    // The steady pipeline never stalled: it grew in every second of the run.
    let first = samples
        .iter()
        .find(|(_, n)| *n > 0)
        .expect("steady delivered nothing")
        .0;
    let mut last_growth = first;
    let mut prev = 0;
    for &(t, n) in samples.iter().filter(|(t, _)| *t >= first) {
        if n > prev {
            assert!(
                t - last_growth < Duration::from_secs(1),
                "steady pipeline stalled for {:?}",
                t - last_growth
            );
            last_growth = t;
            prev = n;
        }
    }
    let end = samples.last().unwrap().0;
    assert!(
        end - last_growth < Duration::from_secs(1),
        "steady pipeline stalled at the end"
    );

    assert!(daemon.terminate().success());
    let (missing, dups) = audit(&numbers(&faulty), 4000);
    assert!(missing.is_empty(), "lost {missing:?}");
    // Restarts resume from the last acknowledged checkpoint: duplicates are allowed (at least
    // once), but bounded by what one run sent before panicking.
    assert!(
        dups <= panics * 1200,
        "{dups} duplicates for {panics} restarts"
    );
    let steady_nums = numbers(&steady);
    assert_eq!(
        audit(&steady_nums, steady_nums.len() as u64),
        (vec![], 0),
        "steady pipeline lost or doubled lines"
    );
}
