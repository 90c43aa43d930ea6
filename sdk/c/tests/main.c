/* Runs the SDK's native unit tests: exits non-zero when any fails. */
#include <stdio.h>

#include "check.h"
#include "tests.h"

int lc_test_failures;

int main(void) {
    test_batch();
    test_builder();
    test_verdict();
    test_json();
    test_config();
    if (lc_test_failures) {
        fprintf(stderr, "%d check(s) failed\n", lc_test_failures);
        return 1;
    }
    printf("all SDK tests passed\n");
    return 0;
}
