import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Batch, BatchBuilder, Verdict, exportFilter, log, parseConfig } from '../src/index.js';
import { setHostLog } from '../src/host.js';

/** The wire record of a batch of `messages`. */
const wireOf = (messages) => {
  const b = new BatchBuilder();
  let offset = 0;
  for (const m of messages) {
    b.push(m, { source: 'test', offset });
    offset += m.length + 1;
  }
  return b.toWire();
};

test('the export keeps one instance, and refuses process before init', () => {
  const counter = {
    init(config) {
      if (config === 'bad') throw new Error('bad config');
      this.seen = 0;
    },
    process(batch) {
      this.seen += 1;
      return Verdict.keep(batch.length ? [this.seen - 1] : []);
    },
  };
  const filter = exportFilter(counter);
  assert.throws(() => filter.process(wireOf(['a', 'b', 'c'])), (e) => e === 'process called before init');
  assert.throws(() => filter.init('bad'), (e) => e === 'bad config', 'errors cross as strings');
  filter.init('{}');
  for (const expect of [0, 1, 2]) {
    const v = filter.process(wireOf(['a', 'b', 'c']));
    assert.equal(v.tag, 'keep');
    assert.deepEqual([...v.val], [expect], 'state lives across batches');
  }
  // A fourth batch keeps index 3 of 3 events: the verdict is checked before it crosses.
  assert.throws(() => filter.process(wireOf(['a', 'b', 'c'])), (e) => typeof e === 'string' && e.startsWith('RangeError: Verdict.keep'));
  const broken = wireOf(['a']);
  broken.offset = new BigUint64Array(0);
  assert.throws(() => filter.process(broken), (e) => typeof e === 'string' && e.includes('malformed'));
  filter.init('{}');
  assert.deepEqual([...filter.process(wireOf(['a'])).val], [0]);
});

test('what process returns is checked', () => {
  const returns = (value) => exportFilter({ init() {}, process: () => value });
  const run = (value) => {
    const f = returns(value);
    f.init('{}');
    return () => f.process(wireOf(['a']));
  };
  assert.throws(run(undefined), (e) => e.includes('process must return a Verdict (Verdict.keepAll(), ...), not undefined'));
  assert.throws(run(Promise.resolve(Verdict.keepAll())), (e) => e.includes('filters are synchronous'));
  assert.deepEqual(run(Verdict.keepAll())(), { tag: 'keep-all' });
  assert.throws(() => exportFilter({ init() {} }), /no process\(\.\.\.\) method/);
  assert.throws(() => exportFilter(null), /takes an object with init and process/);
  const thrower = exportFilter({ init() { throw 42; }, process() {} });
  assert.throws(() => thrower.init('{}'), (e) => e === '42');
});

test('parseConfig fills defaults and names what is wrong', () => {
  const defaults = { levels: ['DEBUG'], mask: '***', max: 3 };
  assert.deepEqual(parseConfig('{"mask": "#"}', defaults), { levels: ['DEBUG'], mask: '#', max: 3 });
  assert.deepEqual(parseConfig('{}', defaults), defaults);
  assert.deepEqual(parseConfig('', defaults), defaults);
  assert.deepEqual(parseConfig(' null ', defaults), defaults);
  assert.throws(() => parseConfig('{"levles": []}', defaults), /^Error: invalid config: unknown key `levles`, expected one of `levels`, `mask`, `max`$/);
  assert.throws(() => parseConfig('{"max": "3"}', defaults), /invalid config: `max` must be a number, got a string/);
  assert.throws(() => parseConfig('{"levels": "DEBUG"}', defaults), /`levels` must be an array, got a string/);
  assert.throws(() => parseConfig('[1]', defaults), /expected an object, got an array/);
  assert.throws(() => parseConfig('{', defaults), /^Error: invalid config: /);
  assert.throws(() => parseConfig('{"a": 1}', {}), /this plugin takes no keys/);
});

test('log goes to stderr natively, and to the host once the entry hands it over', (t) => {
  const lines = [];
  t.mock.method(console, 'error', (line) => lines.push(line));
  log('info', 'hello from a test');
  assert.deepEqual(lines, ['[plugin INFO] hello from a test']);
  const host = [];
  setHostLog((level, message) => host.push([level, message]));
  try {
    log('warn', 'to the host');
  } finally {
    setHostLog(null);
  }
  assert.deepEqual(host, [['warn', 'to the host']]);
  assert.throws(() => log('fatal', 'x'), /level is one of trace, debug, info, warn, error/);
});

test('Batch.fromMessages and a filter object are all a unit test needs', () => {
  const dropDebug = {
    init() {},
    process: (batch) => Verdict.keepWhere(batch, (e) => !e.message.includes('DEBUG')),
  };
  const batch = Batch.fromMessages(['INFO a', 'DEBUG b']);
  assert.deepEqual([...dropDebug.process(batch).apply(batch)].map((e) => e.message), ['INFO a']);
});
