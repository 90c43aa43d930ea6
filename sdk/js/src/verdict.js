// What a filter decides for a batch: `Verdict`.

import { Batch } from './batch.js';
import { BatchBuilder, describe } from './builder.js';

/**
 * What a filter decides for a batch: keep it, keep some of its events, or replace it.
 * Make one with `Verdict.keepAll()`, `Verdict.keepWhere(batch, event => ...)`,
 * `Verdict.keep([0, 2])`, `Verdict.dropAll()` or `Verdict.replace(builder)`.
 */
export class Verdict {
  /** @internal Use the static constructors. */
  constructor(kind, indices, builder) {
    /** `'keep-all'`, `'keep'` or `'replace'`. */
    this.kind = kind;
    /** For `'keep'`: the kept events' indices, ascending. */
    this.indices = indices;
    /** For `'replace'`: the new batch's builder. */
    this.builder = builder;
  }

  /** Keeps every event unchanged (nothing crosses back: the cheapest answer). */
  static keepAll() {
    return new Verdict('keep-all', null, null);
  }

  /**
   * Keeps only the events at these indices (strictly ascending), unchanged.
   * @param {Iterable<number>} indices
   */
  static keep(indices) {
    return new Verdict('keep', Array.from(indices), null);
  }

  /** Drops every event of the batch. */
  static dropAll() {
    return new Verdict('keep', [], null);
  }

  /**
   * Keeps the events for which `keep(event)` is truthy: `keepAll` when that is every event,
   * else `keep` with their indices. Allocates nothing until the first event is dropped.
   * @param {Batch} batch
   * @param {(event: import('./batch.js').Event) => unknown} keep
   */
  static keepWhere(batch, keep) {
    let kept = null;
    let i = 0;
    for (const event of batch) {
      if (keep(event)) {
        if (kept !== null) kept.push(i);
      } else if (kept === null) {
        kept = [];
        for (let j = 0; j < i; j++) kept.push(j);
      }
      i++;
    }
    return kept === null ? Verdict.keepAll() : new Verdict('keep', kept, null);
  }

  /**
   * Replaces the batch with what `builder` holds: a transform's output.
   * @param {BatchBuilder} builder
   */
  static replace(builder) {
    if (!(builder instanceof BatchBuilder)) {
      throw new TypeError(`Verdict.replace takes a BatchBuilder, not ${describe(builder)}`);
    }
    return new Verdict('replace', null, builder);
  }

  /**
   * The batch logcatch would pass on after this verdict on `input`: for tests. Throws, as
   * logcatch refuses such a verdict, when `keep` indices are out of range or not ascending.
   * @param {Batch} input
   * @returns {Batch}
   */
  apply(input) {
    switch (this.kind) {
      case 'keep-all':
        return input;
      case 'keep': {
        this.checkIndices(input.length);
        const b = new BatchBuilder();
        for (const i of this.indices) b.pushEvent(input.at(i));
        return b.build();
      }
      default:
        return this.builder.build();
    }
  }

  /** The wire form (the `verdict` variant) for a verdict on `input`, checked. */
  toWire(input) {
    switch (this.kind) {
      case 'keep-all':
        return { tag: 'keep-all' };
      case 'keep':
        this.checkIndices(input.length);
        return { tag: 'keep', val: Uint32Array.from(this.indices) };
      default:
        return { tag: 'replace', val: this.builder.toWire() };
    }
  }

  /** @internal */
  checkIndices(n) {
    let last = -1;
    for (const i of this.indices) {
      if (!Number.isInteger(i) || i <= last || i >= n) {
        throw new RangeError(
          `Verdict.keep: indices must be strictly ascending integers below the batch's length ${n}; got ${describe(i)} after ${last}`,
        );
      }
      last = i;
    }
  }
}
