// The component's `filter` export, made from a filter object.

import { Batch } from './batch.js';
import { describe } from './builder.js';
import { Verdict } from './verdict.js';

/**
 * Makes `filter` (an object with `init(config)` and `process(batch)`) the component's
 * `logcatch:plugin/filter` export: `export const filter = exportFilter({ ... });`.
 *
 * `init(config)` gets the pipeline's `config:` block as a JSON string; throwing refuses the
 * plugin with the error's message. `process(batch)` gets a `Batch` and returns a `Verdict`;
 * throwing fails that batch only (logcatch retries it on a fresh instance, then
 * dead-letters the events that keep failing). State kept on the object (`this`) lives
 * across batches of one instance; `process` before `init` is an error.
 * @param { { init(config: string): void, process(batch: Batch): Verdict } } filter
 * @returns { { init(config: string): void, process(wire: object): object } } the wire-level export
 */
export function exportFilter(filter) {
  if (filter === null || typeof filter !== 'object') {
    throw new TypeError(`exportFilter takes an object with init and process, not ${describe(filter)}`);
  }
  for (const method of ['init', 'process']) {
    if (typeof filter[method] !== 'function') {
      throw new TypeError(`exportFilter: the filter has no ${method}(...) method`);
    }
  }
  let ready = false;
  return {
    init(config) {
      ready = false;
      try {
        const result = filter.init(config);
        if (isThenable(result)) {
          throw new TypeError('init returned a Promise: filters are synchronous');
        }
      } catch (e) {
        // The component model carries a string; anything else thrown would trap.
        throw errorText(e);
      }
      ready = true;
    },
    process(wire) {
      if (!ready) throw 'process called before init';
      try {
        const batch = new Batch(wire);
        const verdict = filter.process(batch);
        if (!(verdict instanceof Verdict)) {
          throw new TypeError(
            isThenable(verdict)
              ? 'process returned a Promise: filters are synchronous'
              : `process must return a Verdict (Verdict.keepAll(), ...), not ${describe(verdict)}`,
          );
        }
        return verdict.toWire(batch);
      } catch (e) {
        throw errorText(e);
      }
    },
  };
}

function isThenable(v) {
  return v !== null && typeof v === 'object' && typeof v.then === 'function';
}

/** What a thrown value says: an Error's message (with its type unless plain `Error`). */
export function errorText(e) {
  if (e instanceof Error) {
    return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  }
  return typeof e === 'string' ? e : describe(e);
}
