// logcatch filter `parse-json`: parses JSON log lines into typed attributes.
//
// Each top-level field of a line that is a JSON object becomes an attribute: a string is
// text, a safe integer an int, any other number a float, a boolean a bool; null is left out;
// a nested object or array becomes its JSON text (`nested: "json"`) or, for objects, one
// attribute per leaf under a dotted key (`nested: "flatten"`). The first of `message_keys`
// that holds a string becomes the event's message. Other lines pass through unchanged with a
// `json_error` attribute saying why. See README.md.

import { BatchBuilder, Verdict, exportFilter, parseConfig } from '../../sdk/js/src/index.js';

/** The attribute that marks a line that is not a JSON object. */
export const ERROR_KEY = 'json_error';

/** The filter: `init` reads the config, `process` parses each event's message. */
export const parseJson = {
  init(json) {
    const config = parseConfig(json, { message_keys: ['message', 'msg'], nested: 'json' });
    if (!config.message_keys.every((k) => typeof k === 'string' && k !== '')) {
      throw new Error('message_keys: give field names (non-empty strings)');
    }
    if (config.nested !== 'json' && config.nested !== 'flatten') {
      throw new Error(`nested: "json" or "flatten", not ${JSON.stringify(config.nested)}`);
    }
    this.messageKeys = config.message_keys;
    this.flatten = config.nested === 'flatten';
  },

  process(batch) {
    const out = new BatchBuilder();
    for (const event of batch) {
      const parsed = parseLine(event.message);
      if (typeof parsed === 'string') {
        out.pushEvent(event).attr(ERROR_KEY, parsed);
        continue;
      }
      const messageKey = this.messageKeys.find((k) => typeof parsed[k] === 'string');
      out.pushEvent(event, messageKey === undefined ? undefined : parsed[messageKey]);
      for (const key of Object.keys(parsed)) {
        if (key !== messageKey) setField(out, key, parsed[key], this.flatten);
      }
    }
    return Verdict.replace(out);
  },
};

export const filter = exportFilter(parseJson);

/** The line's JSON object, or why it is not one (the same words in every JavaScript engine). */
export function parseLine(line) {
  let value;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `not a JSON object but ${kindOf(value)}`;
  }
  return value;
}

/** Sets attribute `key` of the event added last from a JSON value. */
function setField(out, key, value, flatten) {
  if (value === null) return;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      out.attr(key, value);
      return;
    case 'number':
      // Whole numbers within ±2^53 are ints; others (fractions, and integers too large for
      // JavaScript's JSON.parse to keep exactly) are floats.
      if (Number.isSafeInteger(value)) out.attrInt(key, value);
      else out.attrFloat(key, value);
      return;
    default: {
      const entries = flatten && !Array.isArray(value) ? Object.keys(value) : [];
      if (entries.length === 0) {
        out.attr(key, JSON.stringify(value));
        return;
      }
      for (const k of entries) setField(out, `${key}.${k}`, value[k], flatten);
    }
  }
}

function kindOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}
