import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Batch, BatchBuilder, Verdict } from '../src/index.js';

const messages = (b) => [...b].map((e) => e.message);

test('keepWhere keeps all, some or none', () => {
  const batch = Batch.fromMessages(['a', 'DEBUG b', 'c', 'DEBUG d']);
  assert.equal(Verdict.keepWhere(batch, () => true).kind, 'keep-all');
  assert.deepEqual(Verdict.keepWhere(batch, (e) => !e.message.startsWith('DEBUG')).indices, [0, 2]);
  assert.deepEqual(Verdict.keepWhere(batch, (e) => e.index !== 0).indices, [1, 2, 3]);
  assert.deepEqual(Verdict.keepWhere(batch, () => false).indices, []);
  assert.deepEqual(Verdict.dropAll().indices, []);
  assert.equal(Verdict.keepWhere(Batch.fromMessages([]), () => false).kind, 'keep-all');
});

test('wire forms and apply', () => {
  const input = Batch.fromMessages(['a', 'b', 'c']);
  assert.deepEqual(Verdict.keepAll().toWire(input), { tag: 'keep-all' });
  const keep = Verdict.keep([0, 2]).toWire(input);
  assert.equal(keep.tag, 'keep');
  assert.deepEqual([...keep.val], [0, 2]);
  assert.ok(keep.val instanceof Uint32Array);
  const b = new BatchBuilder().push('x', { source: 's', offset: 1 }).attr('k', 'v');
  const replace = Verdict.replace(b).toWire(input);
  assert.equal(replace.tag, 'replace');
  assert.equal(new TextDecoder().decode(replace.val.arena), 'xv');
  assert.deepEqual(messages(Verdict.keepAll().apply(input)), ['a', 'b', 'c']);
  assert.deepEqual(messages(Verdict.keep([1]).apply(input)), ['b']);
  assert.deepEqual(messages(Verdict.replace(b).apply(input)), ['x']);
  assert.equal(Verdict.keep([1]).apply(input).at(0).offset, 2, 'kept events keep their offset');
});

test('bad keep indices and replace arguments are refused', () => {
  const input = Batch.fromMessages(['a', 'b']);
  assert.throws(() => Verdict.keep([1, 0]).apply(input), /strictly ascending/);
  assert.throws(() => Verdict.keep([0, 0]).toWire(input), /strictly ascending/);
  assert.throws(() => Verdict.keep([2]).toWire(input), /below the batch's length 2; got 2/);
  assert.throws(() => Verdict.keep([0.5]).toWire(input), /got 0.5/);
  assert.throws(() => Verdict.replace([]), /takes a BatchBuilder, not an Array/);
});
