// Types of logcatch-plugin, for editors and TypeScript checking (`// @ts-check`); the
// modules beside this file are the implementation.

/** An attribute's value: text, int (a BigInt beyond ±2^53), float or bool. */
export type AttrValue = string | number | bigint | boolean;

/** An attribute's kind on the wire. */
export type AttrKind = 'text' | 'int' | 'float' | 'bool';

/** Severity of a message to logcatch's log. */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** The `event-batch` record of wit/logcatch.wit, as the component bindings carry it. */
export interface WireBatch {
  arena: Uint8Array;
  msgOff: Uint32Array;
  msgLen: Uint32Array;
  timestampNs: BigUint64Array;
  sourceId: Uint32Array;
  sources: string[];
  offset: BigUint64Array;
  attrEnd: Uint32Array;
  attrKeyId: Uint32Array;
  attrKeys: string[];
  attrKind: Uint8Array;
  attrVal: BigUint64Array;
}

/** The `verdict` variant of wit/logcatch.wit. */
export type WireVerdict =
  | { tag: 'keep-all' }
  | { tag: 'keep'; val: Uint32Array }
  | { tag: 'replace'; val: WireBatch };

/** One event (log line) of a `Batch`. */
export class Event {
  private constructor();
  /** The event's position in its batch (what `Verdict.keep` lists). */
  readonly index: number;
  /** The log line, without its newline. */
  readonly message: string;
  /** Where the event came from: a file path, `stdin`, ... */
  readonly source: string;
  /** Byte offset of the line in its source; with the source, the event's id. */
  readonly offset: number;
  /** Ingest time in nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint;
  /** Ingest time (millisecond precision). */
  readonly timestamp: Date;
  /** Every attribute, as a fresh plain object. */
  readonly attrs: Record<string, AttrValue>;
  /** The value of attribute `key`, or `undefined`. */
  attr(key: string): AttrValue | undefined;
  /** The kind of attribute `key`, or `undefined` when the event does not have it. */
  attrKind(key: string): AttrKind | undefined;
  /** True when the event has attribute `key`. */
  hasAttr(key: string): boolean;
  /** A plain object of the event, for logs and test failures. */
  toJSON(): object;
}

/** The batch of events a filter's `process` gets: array-like and iterable. */
export class Batch implements Iterable<Event> {
  /** Takes a batch from the wire, checking its shape. */
  constructor(wire: WireBatch);
  /** A batch of `messages` from source `test`, offsets as consecutive lines: for tests. */
  static fromMessages(messages: Iterable<string>): Batch;
  /** Number of events. */
  readonly length: number;
  /** The event at `index` (negative counts from the end), or `undefined`. */
  at(index: number): Event | undefined;
  /** The events as an array. */
  events(): Event[];
  [Symbol.iterator](): Iterator<Event>;
}

/** Where a new event comes from. */
export interface NewEvent {
  source: string;
  offset?: number | bigint;
  timestampNs?: number | bigint;
}

/** Builds the new batch of a transform; hand it to `Verdict.replace`. */
export class BatchBuilder {
  constructor();
  /** A batch of `messages` from source `test`: for tests. */
  static fromMessages(messages: Iterable<string>): Batch;
  /** Number of events added so far. */
  readonly length: number;
  /** Adds a new event. */
  push(message: string, where: NewEvent): this;
  /** Adds a copy of `event` (source, offset, timestamp, attributes), with `message` if given. */
  pushEvent(event: Event, message?: string): this;
  /** Replaces the message of the event added last. */
  setMessage(message: string): this;
  /** Sets attribute `key` of the event added last; the kind follows the value. */
  attr(key: string, value: AttrValue): this;
  /** Sets attribute `key` to an integer (a safe-integer number or an i64 BigInt). */
  attrInt(key: string, value: number | bigint): this;
  /** Sets attribute `key` to a float. */
  attrFloat(key: string, value: number): this;
  /** Finishes the builder as a `Batch` to read back. */
  build(): Batch;
  /** The wire record logcatch receives. */
  toWire(): WireBatch;
}

/** What a filter decides for a batch. */
export class Verdict {
  private constructor();
  readonly kind: 'keep-all' | 'keep' | 'replace';
  /** For `keep`: the kept events' indices, ascending. */
  readonly indices: number[] | null;
  /** For `replace`: the new batch's builder. */
  readonly builder: BatchBuilder | null;
  /** Keeps every event unchanged. */
  static keepAll(): Verdict;
  /** Keeps only the events at these indices (strictly ascending). */
  static keep(indices: Iterable<number>): Verdict;
  /** Drops every event. */
  static dropAll(): Verdict;
  /** Keeps the events for which `keep(event)` is truthy. */
  static keepWhere(batch: Batch, keep: (event: Event) => unknown): Verdict;
  /** Replaces the batch with what `builder` holds. */
  static replace(builder: BatchBuilder): Verdict;
  /** The batch logcatch would pass on after this verdict on `input`: for tests. */
  apply(input: Batch): Batch;
  /** The wire form for a verdict on `input`, checked. */
  toWire(input: Batch): WireVerdict;
}

/** A filter: `init` once per instance with the config as JSON, `process` once per batch. */
export interface Filter {
  init(config: string): void;
  process(batch: Batch): Verdict;
}

/** The component's `logcatch:plugin/filter` export, as the bindings call it. */
export interface FilterExport {
  init(config: string): void;
  process(wire: WireBatch): WireVerdict;
}

/** Makes `filter` the component's export: `export const filter = exportFilter({...})`. */
export function exportFilter(filter: Filter): FilterExport;

/** Writes `message` to logcatch's log at `level` (stderr outside WebAssembly). */
export function log(level: Level, message: string): void;

/** Parses the plugin's config over `defaults`; unknown keys and wrong types throw. */
export function parseConfig<T extends Record<string, unknown>>(json: string, defaults: T): T;
