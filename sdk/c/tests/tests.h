/* The SDK's test groups, run by main.c. */
#ifndef LC_TESTS_H
#define LC_TESTS_H

#include "../logcatch.h"

/* A batch of three events with every attribute kind, as logcatch would send it. */
lc_batch test_wire_batch(void);

void test_batch(void);
void test_builder(void);
void test_verdict(void);
void test_json(void);
void test_config(void);

#endif
