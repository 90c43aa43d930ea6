// logcatch-plugin: write logcatch filters in JavaScript.
//
// A filter is a WebAssembly component that logcatch calls once per batch of log events; on
// the wire a batch is column-wise (wit/logcatch.wit). This package turns it into events
// (`Batch`, `Event`), makes verdicts (`Verdict`) and new batches (`BatchBuilder`), and makes
// a plain object the component's export (`exportFilter`). See README.md.

export { Batch, Event } from './batch.js';
export { BatchBuilder } from './builder.js';
export { Verdict } from './verdict.js';
export { exportFilter } from './export.js';
export { log, parseConfig } from './host.js';
