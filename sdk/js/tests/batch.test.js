import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Batch, BatchBuilder } from '../src/index.js';

/** A wire batch by hand: three events, two sources, attributes of every kind. */
function wire() {
  const enc = new TextEncoder();
  const arena = enc.encode('firstsecondthird é200');
  const val = new BigUint64Array(5);
  val[0] = (5n << 32n) | 6n; // text "second"
  val[1] = BigInt.asUintN(64, -3n); // int -3
  val[2] = new BigUint64Array(new Float64Array([2.5]).buffer)[0]; // float 2.5
  val[3] = 1n; // bool true
  val[4] = (11n << 32n) | 8n; // text "third é"
  return {
    arena,
    msgOff: Uint32Array.from([0, 5, 11]),
    msgLen: Uint32Array.from([5, 6, 8]),
    timestampNs: BigUint64Array.from([1700000000123456789n, 2n, 3n]),
    sourceId: Uint32Array.from([0, 1, 0]),
    sources: ['/var/log/a.log', 'stdin'],
    offset: BigUint64Array.from([0n, 2n ** 40n, 17n]),
    attrEnd: Uint32Array.from([2, 2, 5]),
    attrKeyId: Uint32Array.from([0, 1, 2, 3, 0]),
    attrKeys: ['name', 'n', 'ratio', 'ok'],
    attrKind: Uint8Array.from([0, 1, 2, 3, 0]),
    attrVal: val,
  };
}

test('a batch is array-like: length, at, iteration', () => {
  const b = new Batch(wire());
  assert.equal(b.length, 3);
  assert.deepEqual(
    [...b].map((e) => e.message),
    ['first', 'second', 'third é'],
  );
  assert.equal(b.at(0).message, 'first');
  assert.equal(b.at(-1).message, 'third é');
  assert.equal(b.at(3), undefined);
  assert.equal(b.at(-4), undefined);
  assert.equal(b.at(1.7).message, 'second', 'like Array.prototype.at, the index is truncated');
  assert.equal(b.at(NaN).message, 'first');
  assert.deepEqual(
    b.events().map((e) => e.index),
    [0, 1, 2],
  );
});

test('events read every field and attribute kind', () => {
  const b = new Batch(wire());
  const [e0, e1, e2] = b;
  assert.equal(e0.source, '/var/log/a.log');
  assert.equal(e1.source, 'stdin');
  assert.equal(e1.offset, 2 ** 40);
  assert.equal(e0.timestampNs, 1700000000123456789n);
  assert.equal(e0.timestamp.toISOString(), '2023-11-14T22:13:20.123Z');
  assert.equal(e0.attr('name'), 'second');
  assert.equal(e0.attr('n'), -3);
  assert.equal(e0.attrKind('n'), 'int');
  assert.equal(e0.attr('ratio'), undefined, 'attributes of other events are not visible');
  assert.deepEqual(e1.attrs, {});
  assert.equal(e1.attr('name'), undefined);
  assert.equal(e1.attrKind('name'), undefined);
  assert.equal(e2.attr('ratio'), 2.5);
  assert.equal(e2.attrKind('ratio'), 'float');
  assert.equal(e2.attr('ok'), true);
  assert.equal(e2.hasAttr('ok'), true);
  assert.equal(e2.hasAttr('nope'), false);
  assert.deepEqual(e2.attrs, { ratio: 2.5, ok: true, name: 'third é' });
  assert.equal(JSON.parse(JSON.stringify(e2)).timestampNs, '3');
});

test('the first of a repeated key wins', () => {
  const w = wire();
  w.attrKeyId[4] = 2; // event 2: ratio, ok, ratio again
  const e = new Batch(w).at(2);
  assert.equal(e.attr('ratio'), 2.5);
  assert.deepEqual(Object.keys(e.attrs), ['ratio', 'ok']);
});

test('integers beyond 2^53 read as BigInt, exactly', () => {
  const b = new BatchBuilder();
  b.push('m', { source: 's' }).attr('big', 2n ** 62n).attr('min', -(2n ** 63n)).attr('safe', -(2 ** 53) + 1);
  const e = b.build().at(0);
  assert.equal(e.attr('big'), 2n ** 62n);
  assert.equal(e.attr('min'), -(2n ** 63n));
  assert.equal(e.attr('safe'), -(2 ** 53) + 1);
});

test('malformed wire batches are refused with a message', () => {
  const cases = [
    [(w) => (w.msgLen = w.msgLen.subarray(0, 2)), 'msgLen has 2 entries for 3 events'],
    [(w) => (w.attrKind = w.attrKind.subarray(0, 4)), '5 attribute keys, 4 kinds'],
    [(w) => (w.attrEnd[2] = 4), '5 attributes but attr-end covers 4'],
  ];
  for (const [breaker, expected] of cases) {
    const w = wire();
    breaker(w);
    assert.throws(() => new Batch(w), (e) => e.message.includes(expected) && e.message.startsWith('logcatch sent a malformed batch'));
  }
  const w = wire();
  w.sourceId[1] = 9;
  assert.throws(() => new Batch(w).at(1).source, /event 1: source id 9/);
  const k = wire();
  k.attrKind[0] = 7;
  assert.throws(() => new Batch(k).at(0).attr('name'), /unknown kind 7/);
  const s = wire();
  s.msgLen[2] = 99;
  assert.throws(() => new Batch(s).at(2).message, /outside the arena/);
});

test('bytes outside every string may be anything', () => {
  const w = wire();
  const arena = new Uint8Array(w.arena.length + 1);
  arena.set(w.arena);
  arena[w.arena.length] = 0xff;
  w.arena = arena;
  assert.deepEqual(
    [...new Batch(w)].map((e) => e.message),
    ['first', 'second', 'third é'],
  );
  // An all-ASCII arena with a stray high byte outside the spans: still exact.
  const a = new TextEncoder().encode('abc?');
  a[3] = 0xc3;
  const b = new BatchBuilder().push('x', { source: 's' }).toWire();
  b.arena = a;
  b.msgLen[0] = 3;
  assert.equal(new Batch(b).at(0).message, 'abc');
});

test('fromMessages numbers offsets like lines of a file', () => {
  const b = Batch.fromMessages(['ab', '', 'é', 'cde']);
  assert.deepEqual(
    [...b].map((e) => [e.source, e.offset, e.timestampNs]),
    [
      ['test', 0, 0n],
      ['test', 3, 1n],
      ['test', 4, 2n],
      ['test', 7, 3n],
    ],
  );
  assert.equal(Batch.fromMessages([]).length, 0);
});
