import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Batch, BatchBuilder } from '../src/index.js';

test('the builder deduplicates sources and keys', () => {
  const b = new BatchBuilder();
  assert.equal(b.length, 0);
  b.push('one', { source: 'a.log', offset: 0, timestampNs: 1n }).attr('k', 'v1').attr('n', 1);
  b.push('two', { source: 'b.log', offset: 0, timestampNs: 2 }).attr('n', 2);
  b.push('three', { source: 'a.log', offset: 4, timestampNs: 3n }).attr('k', 'v3');
  assert.equal(b.length, 3);
  const w = b.toWire();
  assert.deepEqual(w.sources, ['a.log', 'b.log']);
  assert.deepEqual([...w.sourceId], [0, 1, 0]);
  assert.deepEqual(w.attrKeys, ['k', 'n']);
  assert.deepEqual([...w.attrKeyId], [0, 1, 1, 0]);
  assert.deepEqual([...w.attrEnd], [2, 3, 4]);
  assert.deepEqual([...w.timestampNs], [1n, 2n, 3n]);
  assert.deepEqual([...w.offset], [0n, 0n, 4n]);
});

test('each attribute kind has its wire encoding', () => {
  const b = new BatchBuilder();
  b.push('msg', { source: 'src', offset: 7, timestampNs: 9n })
    .attr('t', 'héllo')
    .attr('i', -1)
    .attr('f', -2.5)
    .attr('b', true)
    .attr('b2', false)
    .attrFloat('whole', 2)
    .attrInt('big', -(2n ** 63n));
  const w = b.toWire();
  assert.ok(w.arena instanceof Uint8Array);
  assert.ok(w.attrVal instanceof BigUint64Array);
  assert.deepEqual([...w.attrKind], [0, 1, 2, 3, 3, 2, 1]);
  assert.equal(w.attrVal[0], (3n << 32n) | 6n, 'text: offset << 32 | length, in bytes');
  assert.equal(w.attrVal[1], 2n ** 64n - 1n, "int: the i64's bits");
  assert.equal(w.attrVal[2], new BigUint64Array(new Float64Array([-2.5]).buffer)[0]);
  assert.equal(w.attrVal[3], 1n);
  assert.equal(w.attrVal[4], 0n);
  assert.equal(w.attrVal[6], 2n ** 63n);
  assert.equal(new TextDecoder().decode(w.arena), 'msghéllo');
  const e = new Batch(w).at(0);
  assert.deepEqual(e.attrs, { t: 'héllo', i: -1, f: -2.5, b: true, b2: false, whole: 2, big: -(2n ** 63n) });
  assert.equal(e.attrKind('whole'), 'float');
  assert.deepEqual([e.message, e.source, e.offset, e.timestampNs], ['msg', 'src', 7, 9n]);
});

test('setting an attribute twice replaces it on that event only', () => {
  const b = new BatchBuilder();
  b.push('a', { source: 's' }).attr('x', 1);
  b.push('b', { source: 's', offset: 2 }).attr('x', 2).attr('x', 'two');
  const out = b.build();
  assert.equal(out.at(0).attr('x'), 1);
  assert.deepEqual(out.at(1).attrs, { x: 'two' });
});

test('pushEvent copies everything across dictionaries, and can change the message', () => {
  const input = new BatchBuilder()
    .push('first é', { source: 'stdin', offset: 5, timestampNs: 2n ** 60n })
    .attr('a', 'x')
    .attr('n', 2n ** 60n)
    .push('second', { source: '/var/log/a.log', offset: 9 })
    .attr('f', 0.5)
    .build();
  const b = new BatchBuilder();
  b.push('new', { source: 'other', offset: 99 }).attr('status', 1);
  for (const e of [...input].reverse()) b.pushEvent(e);
  b.pushEvent(input.at(0), 'REWRITTEN');
  b.pushEvent(input.at(1)).setMessage('set').attr('f', 'text now');
  const out = b.build();
  const view = (e) => [e.message, e.source, e.offset, e.timestampNs, e.attrs];
  assert.deepEqual(out.events().slice(1, 3).map(view), [...input].reverse().map(view));
  assert.deepEqual(view(out.at(3)), ['REWRITTEN', 'stdin', 5, 2n ** 60n, { a: 'x', n: 2n ** 60n }]);
  assert.deepEqual(view(out.at(4)), ['set', '/var/log/a.log', 9, 0n, { f: 'text now' }]);
  assert.deepEqual(b.toWire().sources, ['other', '/var/log/a.log', 'stdin']);
});

test('mistakes are errors that say what to do', () => {
  assert.throws(() => new BatchBuilder().attr('k', 1), /attr before any event: push one first/);
  assert.throws(() => new BatchBuilder().setMessage('m'), /setMessage before any event/);
  assert.throws(() => new BatchBuilder().push('m'), /give the event a source/);
  assert.throws(() => new BatchBuilder().push('m', { source: 's', offset: -1 }), /offset must be a non-negative integer/);
  assert.throws(() => new BatchBuilder().push(42, { source: 's' }), /text must be a string, not 42/);
  const b = new BatchBuilder().push('m', { source: 's' });
  assert.throws(() => b.attr('k', null), /not null/);
  assert.throws(() => b.attr('k', { a: 1 }), /not an Object/);
  assert.throws(() => b.attrInt('k', 1.5), /not an integer/);
  assert.throws(() => b.attrInt('k', 2n ** 63n), /not an integer in the i64 range/);
  assert.throws(() => b.attrFloat('k', '1'), /is not a number/);
  assert.throws(() => b.attr(3, 'v'), /a key is a string/);
});

test('non-ASCII and lone surrogates encode as valid UTF-8', () => {
  const b = new BatchBuilder();
  b.push('a\u{1F600}b', { source: 'ü' }).attr('k', 'x\uD800y');
  const w = b.toWire();
  assert.equal(w.msgLen[0], 6);
  const e = new Batch(w).at(0);
  assert.equal(e.message, 'a\u{1F600}b');
  assert.equal(e.attr('k'), 'x\uFFFDy');
  assert.equal(e.source, 'ü');
});
