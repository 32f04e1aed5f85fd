/* C tests of keel_clock_*: the time page read from C.
 *
 * tests/tests/ffi_c.rs writes a page with keel-core's writer (as `keel sync`
 * does), a void one and a vmclock page, then calls keel_ctest_clock(): the
 * interval read through libkeel must be centred on CLOCK_REALTIME at the
 * read and as wide as the page's bound (grown since its snapshot), a
 * changed vmclock marker must read as disrupted, a void page as unknown,
 * and the usual NULL, use-before-init and not-a-page errors must hold.
 * Also times keel_clock_now() (printed, not asserted). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keel.h"

int keel_ctest_clock(const char *page, const char *void_page, const char *not_a_page,
                     const char *vmclock, int64_t bound_ns, int64_t growth_ppb);

static int failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_ST(call, want)                                                     \
    do {                                                                         \
        keel_status st_ = (call);                                                \
        if (st_ != (want)) {                                                     \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %s\n", __FILE__,   \
                    __LINE__, #call, (int)st_, keel_status_str(st_), #want);     \
        }                                                                        \
    } while (0)

static int64_t realtime_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Writes the vmclock page's disruption marker (little endian, at 0x10). */
static int set_marker(const char *path, uint64_t marker) {
    unsigned char b[8];
    int i;
    FILE *f = fopen(path, "r+b");
    if (f == NULL) return -1;
    for (i = 0; i < 8; i++) b[i] = (unsigned char)(marker >> (8 * i));
    if (fseek(f, 0x10, SEEK_SET) != 0 || fwrite(b, 1, 8, f) != 8) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

int keel_ctest_clock(const char *page, const char *void_page, const char *not_a_page,
                     const char *vmclock, int64_t bound_ns, int64_t growth_ppb) {
    keel_clock c, zero;
    keel_clock_interval now, untouched;
    int64_t r0, r1, half, centre;
    const int n = 1000000;
    int i;
    struct timespec t0, t1;
    double ns;

    failures = 0;
    memset(&zero, 0, sizeof zero);
    memset(&untouched, 0x5a, sizeof untouched);
    now = untouched;

    /* NULL pointers and use before init; outputs untouched on error. */
    CHECK_ST(keel_clock_init(NULL, page, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_clock_now(NULL, &now), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_clock_now(&zero, &now), KEEL_STATUS_NOT_INITIALIZED);
    CHECK(memcmp(&now, &untouched, sizeof now) == 0);
    CHECK_ST(keel_clock_deinit(NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_clock_deinit(&zero), KEEL_STATUS_OK);

    /* NULL: the default path, /run/keel/time (there only when keel runs). */
    {
        keel_status st = keel_clock_init(&c, NULL, NULL);
        CHECK(st == KEEL_STATUS_OK || st == KEEL_STATUS_TIME_PAGE_OPEN ||
              st == KEEL_STATUS_TIME_PAGE_NOT_A_PAGE);
        if (st == KEEL_STATUS_OK) CHECK_ST(keel_clock_deinit(&c), KEEL_STATUS_OK);
    }

    /* Files that are not pages. */
    CHECK_ST(keel_clock_init(&c, "/nonexistent/keel/time", NULL), KEEL_STATUS_TIME_PAGE_OPEN);
    CHECK_ST(keel_clock_init(&c, not_a_page, NULL), KEEL_STATUS_TIME_PAGE_NOT_A_PAGE);
    CHECK_ST(keel_clock_init(&c, page, "/nonexistent/vmclock0"), KEEL_STATUS_VMCLOCK_OPEN);
    CHECK_ST(keel_clock_init(&c, page, not_a_page), KEEL_STATUS_VMCLOCK_BAD_MAGIC);

    /* The page: the interval is centred on CLOCK_REALTIME at the read and
     * is the page's bound wide, grown by at most a second of growth. */
    CHECK_ST(keel_clock_init(&c, page, NULL), KEEL_STATUS_OK);
    CHECK_ST(keel_clock_now(&c, NULL), KEEL_STATUS_NULL_POINTER);
    r0 = realtime_ns();
    CHECK_ST(keel_clock_now(&c, &now), KEEL_STATUS_OK);
    r1 = realtime_ns();
    CHECK(now.status == KEEL_CLOCK_STATUS_SYNCHRONIZED);
    half = (now.latest_ns - now.earliest_ns) / 2;
    centre = now.earliest_ns + half;
    CHECK(r0 <= centre && centre <= r1);
    CHECK(half >= bound_ns && half <= bound_ns + growth_ppb);
    CHECK(now.earliest_ns <= r1 && now.latest_ns >= r0);

    /* Its cost: no syscall beyond clock_gettime (vDSO). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        if (keel_clock_now(&c, &now) != KEEL_STATUS_OK) failures++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n;
    printf("keel_clock_now(): %.1f ns a read (%d reads; this build's optimisation)\n", ns, n);
    CHECK_ST(keel_clock_deinit(&c), KEEL_STATUS_OK);
    CHECK_ST(keel_clock_now(&c, &now), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_clock_deinit(&c), KEEL_STATUS_OK);

    /* With the vmclock device: its marker matches, then changes (a live
     * migration before the daemon's next update): disrupted at once. */
    CHECK_ST(keel_clock_init(&c, page, vmclock), KEEL_STATUS_OK);
    CHECK_ST(keel_clock_now(&c, &now), KEEL_STATUS_OK);
    CHECK(now.status == KEEL_CLOCK_STATUS_SYNCHRONIZED);
    CHECK(set_marker(vmclock, 8) == 0);
    CHECK_ST(keel_clock_now(&c, &now), KEEL_STATUS_OK);
    CHECK(now.status == KEEL_CLOCK_STATUS_DISRUPTED);
    CHECK_ST(keel_clock_deinit(&c), KEEL_STATUS_OK);

    /* A void snapshot (a dead daemon): unknown. */
    CHECK_ST(keel_clock_init(&c, void_page, NULL), KEEL_STATUS_OK);
    CHECK_ST(keel_clock_now(&c, &now), KEEL_STATUS_OK);
    CHECK(now.status == KEEL_CLOCK_STATUS_UNKNOWN);
    CHECK_ST(keel_clock_deinit(&c), KEEL_STATUS_OK);

    printf("keel clock C tests: %d failed\n", failures);
    fflush(stdout);
    return failures;
}
