// Writing a batch: `BatchBuilder`, for filters that transform events.

import { Batch } from './batch.js';
import {
  KIND_BOOL,
  KIND_FLOAT,
  KIND_INT,
  KIND_TEXT,
  f64Bits,
  hi32,
  lo32,
  setF64,
  u64Column,
} from './wire.js';

const encoder = new TextEncoder();
const MAX_I64 = 2n ** 63n - 1n;
const MIN_I64 = -(2n ** 63n);

/**
 * Builds the new batch of a transform, event by event; hand it to `Verdict.replace`.
 *
 * `pushEvent` copies an input event (message, source, offset, timestamp, attributes: the
 * source and offset are how logcatch acknowledges and deduplicates it), `push` adds a new
 * one, and `attr`, `setMessage` change the event added last. Calls chain:
 *
 * ```js
 * const out = new BatchBuilder();
 * for (const event of batch) out.pushEvent(event).attr('seen', true);
 * return Verdict.replace(out);
 * ```
 */
export class BatchBuilder {
  constructor() {
    /** @internal The arena's strings, in order (messages and text values). */
    this.texts = [];
    /** @internal Per event: index in `texts` of its message. */
    this.msgText = [];
    /** @internal Per event: source id. */
    this.sourceId = [];
    /** @internal Per event: offset, as two 32-bit words (low, high). */
    this.offsetWords = [];
    /** @internal Per event: timestamp, as two 32-bit words (low, high). */
    this.tsWords = [];
    /** @internal Per event: cumulative attribute count. */
    this.attrEnd = [];
    /** @internal Per attribute: key id, kind, and value words (text: index in `texts`). */
    this.attrKeyId = [];
    this.attrKind = [];
    this.attrLo = [];
    this.attrHi = [];
    /** @internal Dictionaries. */
    this.sources = new Dict();
    this.keys = new Dict();
    /**
     * @internal Per key id: the event count when the key was last set (on the event added
     * last if it equals `length`), and that attribute's index: replacing a key is O(1).
     */
    this.keyEvent = [];
    this.keyAttr = [];
  }

  /**
   * A batch of `messages` from source `test`, with byte offsets as if they were consecutive
   * lines of one file and timestamps 0, 1, 2, ... (ns): for unit tests.
   * @param {Iterable<string>} messages
   * @returns {Batch}
   */
  static fromMessages(messages) {
    const b = new BatchBuilder();
    let offset = 0;
    let i = 0;
    for (const m of messages) {
      b.push(m, { source: 'test', offset, timestampNs: BigInt(i++) });
      offset += encoder.encode(m).length + 1;
    }
    return b.build();
  }

  /** Number of events added so far. */
  get length() {
    return this.msgText.length;
  }

  /**
   * Adds a new event: `message` from `source`, at byte `offset` in it (default 0), ingested
   * at `timestampNs` (nanoseconds since the Unix epoch, a BigInt or a number; default 0).
   * @param {string} message
   * @param { { source: string, offset?: number | bigint, timestampNs?: number | bigint } } where
   * @returns {this}
   */
  push(message, { source, offset = 0, timestampNs = 0n } = {}) {
    if (typeof source !== 'string') {
      throw new TypeError('BatchBuilder.push: give the event a source (a string)');
    }
    checkU64('offset', offset);
    checkU64('timestampNs', timestampNs);
    this.pushFields(
      this.text(message),
      this.sources.intern(source),
      lo32(offset),
      hi32(offset),
      lo32(timestampNs),
      hi32(timestampNs),
    );
    return this;
  }

  /**
   * Adds a copy of `event` (an `Event` of an input batch): its source, offset, timestamp and
   * attributes, with its message or, if given, `message` instead.
   * @param {import('./batch.js').Event} event
   * @param {string} [message]
   * @returns {this}
   */
  pushEvent(event, message) {
    const b = event.b;
    const i = event.index;
    this.pushFields(
      this.text(message === undefined ? event.message : message),
      this.sources.intern(event.source),
      b.off[2 * i],
      b.off[2 * i + 1],
      b.ts[2 * i],
      b.ts[2 * i + 1],
    );
    const w = b.w;
    const end = w.attrEnd[i];
    const events = this.msgText.length;
    for (let a = i === 0 ? 0 : w.attrEnd[i - 1]; a < end; a++) {
      const kind = w.attrKind[a];
      const id = this.keys.intern(w.attrKeys[w.attrKeyId[a]]);
      if (this.keyEvent[id] !== events) {
        // The first of a repeated key is the one readers see, and `attr` replaces.
        this.keyEvent[id] = events;
        this.keyAttr[id] = this.attrKeyId.length;
      }
      this.attrKeyId.push(id);
      this.attrKind.push(kind);
      if (kind === KIND_TEXT) {
        this.attrLo.push(this.text(b.attrValue(a)));
        this.attrHi.push(0);
      } else {
        this.attrLo.push(b.val[2 * a]);
        this.attrHi.push(b.val[2 * a + 1]);
      }
    }
    this.attrEnd[this.attrEnd.length - 1] = this.attrKeyId.length;
    return this;
  }

  /**
   * Replaces the message of the event added last.
   * @param {string} message
   * @returns {this}
   */
  setMessage(message) {
    this.needEvent('setMessage');
    this.msgText[this.msgText.length - 1] = this.text(message);
    return this;
  }

  /**
   * Sets attribute `key` of the event added last, replacing its value if it has one. The
   * kind follows the value: a string is text, a boolean is bool, a BigInt is int, a number
   * is int when it is a safe integer and float otherwise. Use `attrFloat` for a float
   * that happens to be whole, `attrInt` to insist on an integer.
   * @param {string} key
   * @param {string | number | bigint | boolean} value
   * @returns {this}
   */
  attr(key, value) {
    this.needEvent('attr');
    switch (typeof value) {
      case 'string':
        return this.setAttr('attr', key, KIND_TEXT, this.text(value), 0);
      case 'boolean':
        return this.setAttr('attr', key, KIND_BOOL, value ? 1 : 0, 0);
      case 'bigint':
        return this.attrInt(key, value);
      case 'number':
        if (Number.isSafeInteger(value)) {
          return this.setAttr('attr', key, KIND_INT, lo32(value), hi32(value));
        }
        setF64(value);
        return this.setAttr('attr', key, KIND_FLOAT, f64Bits[0], f64Bits[1]);
      default:
        throw new TypeError(
          `BatchBuilder.attr(${JSON.stringify(key)}): a value is a string, number, BigInt or boolean, not ${describe(value)}`,
        );
    }
  }

  /**
   * Sets attribute `key` to the integer `value` (a safe-integer number, or a BigInt in the
   * i64 range).
   * @param {string} key
   * @param {number | bigint} value
   * @returns {this}
   */
  attrInt(key, value) {
    const ok =
      typeof value === 'bigint'
        ? value >= MIN_I64 && value <= MAX_I64
        : Number.isSafeInteger(value);
    if (!ok) {
      throw new RangeError(
        `BatchBuilder.attrInt(${JSON.stringify(key)}): ${describe(value)} is not an integer in the i64 range (numbers: within ±2^53)`,
      );
    }
    return this.setAttr('attrInt', key, KIND_INT, lo32(value), hi32(value));
  }

  /**
   * Sets attribute `key` to the float `value`.
   * @param {string} key
   * @param {number} value
   * @returns {this}
   */
  attrFloat(key, value) {
    if (typeof value !== 'number') {
      throw new TypeError(
        `BatchBuilder.attrFloat(${JSON.stringify(key)}): ${describe(value)} is not a number`,
      );
    }
    setF64(value);
    return this.setAttr('attrFloat', key, KIND_FLOAT, f64Bits[0], f64Bits[1]);
  }

  /** Finishes the builder as a `Batch` to read back: for tests, or to chain steps. */
  build() {
    return new Batch(this.toWire());
  }

  /** The `event-batch` record logcatch receives (typed arrays, as the bindings want). */
  toWire() {
    const { arena, off, len } = encodeTexts(this.texts);
    const n = this.msgText.length;
    const msgOff = new Uint32Array(n);
    const msgLen = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      msgOff[i] = off[this.msgText[i]];
      msgLen[i] = len[this.msgText[i]];
    }
    const attrs = this.attrKeyId.length;
    const val = new Uint32Array(attrs * 2);
    for (let a = 0; a < attrs; a++) {
      if (this.attrKind[a] === KIND_TEXT) {
        const t = this.attrLo[a];
        val[2 * a] = len[t];
        val[2 * a + 1] = off[t];
      } else {
        val[2 * a] = this.attrLo[a];
        val[2 * a + 1] = this.attrHi[a];
      }
    }
    return {
      arena,
      msgOff,
      msgLen,
      timestampNs: u64Column(this.tsWords),
      sourceId: Uint32Array.from(this.sourceId),
      sources: this.sources.names.slice(),
      offset: u64Column(this.offsetWords),
      attrEnd: Uint32Array.from(this.attrEnd),
      attrKeyId: Uint32Array.from(this.attrKeyId),
      attrKeys: this.keys.names.slice(),
      attrKind: Uint8Array.from(this.attrKind),
      attrVal: new BigUint64Array(val.buffer, 0, attrs),
    };
  }

  /** @internal Adds `s` to the arena; returns its index in `texts`. */
  text(s) {
    if (typeof s !== 'string') {
      throw new TypeError(`BatchBuilder: text must be a string, not ${describe(s)}`);
    }
    this.texts.push(s);
    return this.texts.length - 1;
  }

  /** @internal */
  pushFields(msg, source, offLo, offHi, tsLo, tsHi) {
    this.msgText.push(msg);
    this.sourceId.push(source);
    this.offsetWords.push(offLo, offHi);
    this.tsWords.push(tsLo, tsHi);
    this.attrEnd.push(this.attrKeyId.length);
  }

  /** @internal */
  needEvent(what) {
    if (this.msgText.length === 0) {
      throw new Error(`BatchBuilder.${what} before any event: push one first`);
    }
  }

  /** @internal Sets (or replaces) an attribute of the last event. */
  setAttr(what, key, kind, lo, hi) {
    this.needEvent(what);
    if (typeof key !== 'string') {
      throw new TypeError(`BatchBuilder.${what}: a key is a string, not ${describe(key)}`);
    }
    const id = this.keys.intern(key);
    const events = this.msgText.length;
    if (this.keyEvent[id] === events) {
      const a = this.keyAttr[id];
      this.attrKind[a] = kind;
      this.attrLo[a] = lo;
      this.attrHi[a] = hi;
      return this;
    }
    this.keyEvent[id] = events;
    this.keyAttr[id] = this.attrKeyId.length;
    this.attrKeyId.push(id);
    this.attrKind.push(kind);
    this.attrLo.push(lo);
    this.attrHi.push(hi);
    this.attrEnd[events - 1] += 1;
    return this;
  }
}

/** A per-batch dictionary (sources, attribute keys): each name once. */
class Dict {
  constructor() {
    this.names = [];
    this.ids = new Map();
  }

  intern(name) {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }
}

/**
 * The arena: every text as UTF-8, one after the other, with each one's byte offset and
 * length. One encode for the common all-ASCII case; text by text otherwise.
 */
function encodeTexts(texts) {
  const joined = texts.join('');
  const n = texts.length;
  const off = new Uint32Array(n);
  const len = new Uint32Array(n);
  let arena = encoder.encode(joined);
  if (arena.length === joined.length) {
    let pos = 0;
    for (let t = 0; t < n; t++) {
      off[t] = pos;
      len[t] = texts[t].length;
      pos += texts[t].length;
    }
  } else {
    // Each UTF-16 unit takes at most 3 bytes (a surrogate pair, 2 units, takes 4).
    const buf = new Uint8Array(joined.length * 3);
    let pos = 0;
    for (let t = 0; t < n; t++) {
      const { written } = encoder.encodeInto(texts[t], buf.subarray(pos));
      off[t] = pos;
      len[t] = written;
      pos += written;
    }
    arena = buf.slice(0, pos);
  }
  if (arena.length > 0xffffffff) {
    throw new RangeError("BatchBuilder: a batch's text exceeds 4 GiB");
  }
  return { arena, off, len };
}

/** Checks an unsigned 64-bit field (`offset`, `timestampNs`). */
function checkU64(what, v) {
  const ok =
    typeof v === 'bigint'
      ? v >= 0n && v < 2n ** 64n
      : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (!ok) {
    throw new RangeError(
      `BatchBuilder.push: ${what} must be a non-negative integer (number or BigInt), not ${describe(v)}`,
    );
  }
}

/** A value, briefly, for error messages. */
export function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || v === undefined || typeof v !== 'object') return String(v);
  const name = v.constructor && v.constructor.name;
  if (!name) return 'an object';
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}
