// The parse-json filter's logic, natively: `node --test` (sdk/js/test runs it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { Batch, BatchBuilder, exportFilter } from '../../sdk/js/src/index.js';
import { parseJson } from './parse_json.js';

const data = new URL('../../tests/data/parse_json/', import.meta.url);
const read = (name) => readFileSync(new URL(name, data), 'utf8');

/** Runs the filter with `config` over a batch; returns the events logcatch would pass on. */
function run(config, batch) {
  const filter = Object.create(parseJson);
  filter.init(config);
  return [...filter.process(batch).apply(batch)];
}

test('tests/data/parse_json: the output the end-to-end test expects too', () => {
  const input = read('input.log').split('\n').filter((l) => l !== '');
  const expected = read('expected.log')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
  const got = run(read('config.json'), Batch.fromMessages(input)).map((e) => ({
    message: e.message,
    offset: e.offset,
    attributes: e.attrs,
  }));
  assert.deepEqual(got, expected);
});

test('nested values are JSON text by default, and message/msg name the message', () => {
  const [e, f] = run(
    '{}',
    Batch.fromMessages([
      '{"message":"m","msg":"not this one","a":{"b":[1,{"c":null}]},"n":-0.5}',
      '{"msg":"from msg","x":true}',
    ]),
  );
  assert.equal(e.message, 'm');
  assert.deepEqual(e.attrs, { msg: 'not this one', a: '{"b":[1,{"c":null}]}', n: -0.5 });
  assert.equal(e.attrKind('n'), 'float');
  assert.equal(f.message, 'from msg');
  assert.deepEqual(f.attrs, { x: true });
});

test('numbers: safe integers are ints, others floats', () => {
  const [e] = run('{}', Batch.fromMessages(['{"i":9007199254740991,"big":12345678901234567890,"f":1.5,"w":2.0}']));
  assert.equal(e.attrKind('i'), 'int');
  assert.equal(e.attr('i'), 9007199254740991);
  assert.equal(e.attrKind('big'), 'float', 'beyond 2^53 JSON.parse cannot keep it exact');
  assert.equal(e.attrKind('f'), 'float');
  assert.equal(e.attrKind('w'), 'int', 'JSON.parse reads 2.0 as the number 2');
});

test('attributes of earlier filters are kept, and a parsed field of the same name wins', () => {
  const input = new BatchBuilder()
    .push('{"level":"warn","k":1}', { source: 'app.log', offset: 40 })
    .attr('level', 'info')
    .attr('host', 'web1')
    .build();
  const [e] = run('{}', input);
  assert.deepEqual(e.attrs, { level: 'warn', host: 'web1', k: 1 });
  assert.equal(e.message, '{"level":"warn","k":1}', 'no message field: the line stays');
  assert.deepEqual([e.source, e.offset], ['app.log', 40]);
});

test('the config is checked', () => {
  const init = (config) => () => Object.create(parseJson).init(config);
  assert.throws(init('{"nested":"deep"}'), /nested: "json" or "flatten", not "deep"/);
  assert.throws(init('{"message_keys":[""]}'), /message_keys: give field names/);
  assert.throws(init('{"message_key":"m"}'), /unknown key `message_key`, expected one of `message_keys`, `nested`/);
  assert.throws(init('{"message_keys":"m"}'), /`message_keys` must be an array, got a string/);
  const [e] = run('{"message_keys":["text"]}', Batch.fromMessages(['{"text":"t","message":"m"}']));
  assert.deepEqual([e.message, e.attrs], ['t', { message: 'm' }]);
});

test('the export turns a config error into the message logcatch shows', () => {
  const filter = exportFilter(Object.create(parseJson));
  assert.throws(() => filter.init('{"nested":1}'), (e) => e === 'invalid config: `nested` must be a string, got a number');
});
