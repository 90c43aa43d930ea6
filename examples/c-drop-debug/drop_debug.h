/* logcatch filter `drop_debug` in C: drops events by log level (DEBUG by default). */
#ifndef DROP_DEBUG_H
#define DROP_DEBUG_H

#include "logcatch.h"

/* init: reads `levels` from the config and builds the level table. */
bool drop_debug_init(lc_str config, lc_error *err);

/* process: drops the events whose level is one of the configured levels. */
bool drop_debug_process(const lc_batch *batch, lc_verdict *verdict, lc_error *err);

/* Whether `message` (`len` bytes) goes, by its first level word (for tests). */
bool drop_debug_message_drops(const char *message, size_t len);

#endif
