// What the host offers a plugin: its log, and the plugin's config.

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

/** The host's `log` import once the component's entry module hands it over (see setHostLog). */
let hostLog = null;

/**
 * Writes `message` to logcatch's log at `level` (`'trace'`, `'debug'`, `'info'`, `'warn'`,
 * `'error'`), tagged with the plugin's name. Use it for rare events (a config note in
 * `init`, a surprising input), not per event. Outside WebAssembly (in `node --test`), it
 * prints to stderr.
 * @param {'trace' | 'debug' | 'info' | 'warn' | 'error'} level
 * @param {string} message
 */
export function log(level, message) {
  if (!LEVELS.includes(level)) {
    throw new RangeError(`log: level is one of ${LEVELS.join(', ')}, not ${String(level)}`);
  }
  const text = String(message);
  if (hostLog !== null) {
    hostLog(level, text);
  } else {
    console.error(`[plugin ${level.toUpperCase()}] ${text}`);
  }
}

/**
 * Routes `log` to the host's `logcatch:plugin/host` import. The build's entry module calls
 * it; a filter never needs to.
 * @param {(level: string, message: string) => void} fn
 */
export function setHostLog(fn) {
  hostLog = fn;
}

/**
 * Parses the plugin's config (the pipeline's `config:` block, which logcatch passes to
 * `init` as JSON) over `defaults`: every key of the result comes from `defaults` or the
 * config. A key that `defaults` lacks, or a value whose type differs from its default's
 * (string, number, boolean, array, object), is an error that names it, ready to throw from
 * `init`. An empty or `null` config reads as `{}`.
 *
 * ```js
 * const { drop_containing } = parseConfig(json, { drop_containing: [] });
 * ```
 * @template {Record<string, unknown>} T
 * @param {string} json
 * @param {T} defaults
 * @returns {T}
 */
export function parseConfig(json, defaults) {
  const trimmed = String(json).trim();
  let given;
  try {
    given = trimmed === '' ? null : JSON.parse(trimmed);
  } catch (e) {
    throw new Error(`invalid config: ${e.message}`);
  }
  if (given === null) given = {};
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw new Error(`invalid config: expected an object, got ${typeName(given)}`);
  }
  const out = { ...defaults };
  const known = Object.keys(defaults);
  for (const [key, value] of Object.entries(given)) {
    if (!Object.prototype.hasOwnProperty.call(defaults, key)) {
      const hint = known.length ? `expected one of ${known.map((k) => `\`${k}\``).join(', ')}` : 'this plugin takes no keys';
      throw new Error(`invalid config: unknown key \`${key}\`, ${hint}`);
    }
    const want = typeName(defaults[key]);
    if (defaults[key] !== null && typeName(value) !== want) {
      throw new Error(`invalid config: \`${key}\` must be ${want}, got ${typeName(value)}`);
    }
    out[key] = value;
  }
  return out;
}

/** JSON type names for config errors. */
function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return 'an object';
  }
}
