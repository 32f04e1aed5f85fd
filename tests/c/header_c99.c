/* The header alone, compiled with -std=c99 -Wall -Wextra -Wpedantic -Werror. */
#include "keel.h"

int keel_ctest_header_c99(void);
int keel_ctest_header_c99(void) { return (int)sizeof(keel_servo); }
