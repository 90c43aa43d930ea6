// Reading a batch: `Batch` (array-like: `length`, `at(i)`, iteration) and `Event` over the
// columnar wire record of wit/logcatch.wit.

import { BatchBuilder } from './builder.js';
import {
  KIND_BOOL,
  KIND_FLOAT,
  KIND_INT,
  KIND_NAMES,
  KIND_TEXT,
  f64FromWords,
  i64Value,
  u64Number,
  words,
} from './wire.js';

const decoder = new TextDecoder('utf-8');

/** The columns every wire batch has, with one entry per event. */
const EVENT_COLUMNS = ['msgLen', 'timestampNs', 'sourceId', 'offset', 'attrEnd'];

/**
 * The batch of events logcatch hands to a filter's `process`: array-like and iterable.
 *
 * ```js
 * for (const event of batch) { event.message; event.attr('status'); }
 * batch.length; batch.at(0); batch.at(-1);
 * ```
 */
export class Batch {
  /**
   * Takes a batch from the wire (the `event-batch` record, with typed arrays), checking its
   * shape so that no accessor reads outside it. Filters get a `Batch` from `exportFilter`;
   * tests make one with `Batch.fromMessages` or `new BatchBuilder()...build()`.
   * @param {object} wire
   */
  constructor(wire) {
    const n = wire.msgOff.length;
    for (const col of EVENT_COLUMNS) {
      if (wire[col].length !== n) {
        throw new Error(
          `logcatch sent a malformed batch: ${col} has ${wire[col].length} entries for ${n} events`,
        );
      }
    }
    const attrs = wire.attrKeyId.length;
    if (wire.attrKind.length !== attrs || wire.attrVal.length !== attrs) {
      throw new Error(
        `logcatch sent a malformed batch: ${attrs} attribute keys, ${wire.attrKind.length} kinds, ${wire.attrVal.length} values`,
      );
    }
    if (n > 0 && wire.attrEnd[n - 1] !== attrs) {
      throw new Error(
        `logcatch sent a malformed batch: ${attrs} attributes but attr-end covers ${wire.attrEnd[n - 1]}`,
      );
    }
    /** @internal */ this.w = wire;
    /** @internal */ this.ts = words(wire.timestampNs);
    /** @internal */ this.off = words(wire.offset);
    /** @internal */ this.val = words(wire.attrVal);
    // The arena decoded once: when it has as many characters as bytes, it is all ASCII (a
    // replaced invalid byte is one character too), byte offsets are string offsets, and every
    // message is a cheap substring. Otherwise each span is decoded on its own.
    const text = decoder.decode(wire.arena);
    /** @internal */ this.text = text.length === wire.arena.length ? text : null;
    /** @internal */ this.keyIds = null;
  }

  /**
   * A batch of `messages` from source `test`, with byte offsets as if they were consecutive
   * lines of one file and timestamps 0, 1, 2, ... (ns): for unit tests.
   * @param {Iterable<string>} messages
   * @returns {Batch}
   */
  static fromMessages(messages) {
    return BatchBuilder.fromMessages(messages);
  }

  /** Number of events. */
  get length() {
    return this.w.msgOff.length;
  }

  /**
   * The event at `index` (negative counts from the end, like `Array.prototype.at`), or
   * `undefined`.
   * @param {number} index
   * @returns {Event | undefined}
   */
  at(index) {
    const n = this.length;
    const t = Math.trunc(Number(index)) || 0;
    const i = t < 0 ? n + t : t;
    return i >= 0 && i < n ? new Event(this, i) : undefined;
  }

  /** The events, in order. */
  [Symbol.iterator]() {
    // A plain iterator object: interpreted, it is cheaper than a generator.
    const batch = this;
    const n = this.length;
    let i = 0;
    return {
      next() {
        return i < n ? { value: new Event(batch, i++), done: false } : { value: undefined, done: true };
      },
      [Symbol.iterator]() {
        return this;
      },
    };
  }

  /** The events as an array. */
  events() {
    return Array.from(this);
  }

  /** @internal The text at `off`, `len` bytes long, of the arena. */
  span(off, len) {
    if (this.text !== null) return this.text.substring(off, off + len);
    const arena = this.w.arena;
    if (off + len > arena.length) {
      throw new Error(`logcatch sent a malformed batch: span ${off}+${len} outside the arena`);
    }
    return decoder.decode(arena.subarray(off, off + len));
  }

  /** @internal The dictionary id of attribute key `key`, or -1 when no event has it. */
  keyId(key) {
    if (this.keyIds === null) {
      this.keyIds = new Map();
      const keys = this.w.attrKeys;
      for (let k = keys.length - 1; k >= 0; k--) this.keyIds.set(keys[k], k);
    }
    const id = this.keyIds.get(key);
    return id === undefined ? -1 : id;
  }

  /** @internal The first attribute of event `index` with key id `id`, or -1. */
  findAttr(index, id) {
    const w = this.w;
    const end = w.attrEnd[index];
    for (let a = index === 0 ? 0 : w.attrEnd[index - 1]; a < end; a++) {
      if (w.attrKeyId[a] === id) return a;
    }
    return -1;
  }

  /** @internal The value of attribute `a`. */
  attrValue(a) {
    const v = this.val;
    const lo = v[2 * a];
    const hi = v[2 * a + 1];
    switch (this.w.attrKind[a]) {
      case KIND_TEXT:
        return this.span(hi, lo);
      case KIND_INT:
        return i64Value(lo, hi);
      case KIND_FLOAT:
        return f64FromWords(lo, hi);
      case KIND_BOOL:
        return lo !== 0 || hi !== 0;
      default:
        throw new Error(
          `logcatch sent a malformed batch: attribute ${a}: unknown kind ${this.w.attrKind[a]}`,
        );
    }
  }
}

/** One event (log line) of a `Batch`, read through its properties. */
export class Event {
  /** @internal */
  constructor(batch, index) {
    /** @internal */ this.b = batch;
    /** The event's position in its batch (what `Verdict.keep` lists). */
    this.index = index;
  }

  /** The log line, without its newline. */
  get message() {
    const w = this.b.w;
    return this.b.span(w.msgOff[this.index], w.msgLen[this.index]);
  }

  /** Where the event came from: a file path, `stdin`, ... */
  get source() {
    const w = this.b.w;
    const name = w.sources[w.sourceId[this.index]];
    if (name === undefined) {
      throw new Error(
        `logcatch sent a malformed batch: event ${this.index}: source id ${w.sourceId[this.index]}`,
      );
    }
    return name;
  }

  /** Byte offset of the line in its source (a number); with the source, the event's id. */
  get offset() {
    const o = this.b.off;
    return u64Number(o[2 * this.index], o[2 * this.index + 1]);
  }

  /** Ingest time in nanoseconds since the Unix epoch, as a BigInt (exact). */
  get timestampNs() {
    return this.b.w.timestampNs[this.index];
  }

  /** Ingest time as a `Date` (millisecond precision). */
  get timestamp() {
    const t = this.b.ts;
    return new Date(Math.floor(u64Number(t[2 * this.index], t[2 * this.index + 1]) / 1e6));
  }

  /**
   * The value of attribute `key` (the first, should the wire repeat it), or `undefined`:
   * text is a string, int a number (a BigInt beyond ±2^53), float a number, bool a boolean.
   * @param {string} key
   */
  attr(key) {
    const b = this.b;
    const id = b.keyId(key);
    if (id < 0) return undefined;
    const a = b.findAttr(this.index, id);
    return a < 0 ? undefined : b.attrValue(a);
  }

  /**
   * The kind of attribute `key`: `'text'`, `'int'`, `'float'`, `'bool'`, or `undefined`
   * when the event does not have it (a float `2.0` reads as the number 2, like an int 2).
   * @param {string} key
   */
  attrKind(key) {
    const b = this.b;
    const id = b.keyId(key);
    const a = id < 0 ? -1 : b.findAttr(this.index, id);
    return a < 0 ? undefined : KIND_NAMES[b.w.attrKind[a]];
  }

  /** True when the event has attribute `key`. */
  hasAttr(key) {
    return this.attrKind(key) !== undefined;
  }

  /** Every attribute, as a plain object `{ key: value }` (a fresh copy per read). */
  get attrs() {
    const b = this.b;
    const w = b.w;
    const out = {};
    const end = w.attrEnd[this.index];
    for (let a = this.index === 0 ? 0 : w.attrEnd[this.index - 1]; a < end; a++) {
      const key = w.attrKeys[w.attrKeyId[a]];
      if (key === undefined) {
        throw new Error(
          `logcatch sent a malformed batch: attribute ${a}: key id ${w.attrKeyId[a]}`,
        );
      }
      if (Object.prototype.hasOwnProperty.call(out, key)) continue;
      if (key === '__proto__') {
        // A plain assignment would set the object's prototype.
        Object.defineProperty(out, key, {
          value: b.attrValue(a),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = b.attrValue(a);
      }
    }
    return out;
  }

  /** A plain object of the event, for logs and test failures. */
  toJSON() {
    return {
      index: this.index,
      message: this.message,
      source: this.source,
      offset: this.offset,
      timestampNs: String(this.timestampNs),
      attrs: this.attrs,
    };
  }
}
