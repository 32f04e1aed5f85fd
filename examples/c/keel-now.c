/* keel-now: what an application sees of keel's clock. Reads keel's time page
 * with keel_clock_now() and prints the interval that holds true time and
 * the status; with -b N, times N reads instead.
 *
 *   keel-now                       # /run/keel/time
 *   keel-now -p PATH -v /dev/vmclock0
 *   keel-now -b 10000000           # ns a read
 *
 * Exit status: 0 when the clock is synchronised (or free-running within its
 * bound), 1 when its status is unknown or disrupted, 2 on an error. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "keel.h"

static const char *status_name(keel_clock_status s) {
    switch (s) {
    case KEEL_CLOCK_STATUS_SYNCHRONIZED: return "synchronized";
    case KEEL_CLOCK_STATUS_FREE_RUNNING: return "free-running";
    case KEEL_CLOCK_STATUS_DISRUPTED: return "disrupted";
    default: return "unknown";
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *page = NULL, *vmclock = NULL;
    long bench = 0, i;
    int opt;
    keel_clock clock;
    keel_clock_interval now;
    keel_status st;

    while ((opt = getopt(argc, argv, "p:v:b:h")) != -1) {
        switch (opt) {
        case 'p': page = optarg; break;
        case 'v': vmclock = optarg; break;
        case 'b': bench = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [-p PAGE] [-v VMCLOCK] [-b READS]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    st = keel_clock_init(&clock, page, vmclock);
    if (st != KEEL_STATUS_OK) {
        fprintf(stderr, "keel-now: %s: %s\n", page ? page : "/run/keel/time", keel_status_str(st));
        return 2;
    }
    if (bench > 0) {
        double t0 = now_s(), t1;
        for (i = 0; i < bench; i++) {
            st = keel_clock_now(&clock, &now);
            if (st != KEEL_STATUS_OK) break;
        }
        t1 = now_s();
        if (st == KEEL_STATUS_OK)
            printf("keel_clock_now(): %.1f ns a read (%ld reads)\n", (t1 - t0) * 1e9 / (double)bench,
                   bench);
    } else {
        st = keel_clock_now(&clock, &now);
    }
    if (st != KEEL_STATUS_OK) {
        fprintf(stderr, "keel-now: %s\n", keel_status_str(st));
        keel_clock_deinit(&clock);
        return 2;
    }
    if (bench == 0) {
        long long half = (long long)((now.latest_ns - now.earliest_ns) / 2);
        long long mid = (long long)(now.earliest_ns + half);
        printf("%lld.%09lld ± %lld ns, %s\n", mid / 1000000000, mid % 1000000000, half,
               status_name(now.status));
    }
    keel_clock_deinit(&clock);
    return now.status == KEEL_CLOCK_STATUS_SYNCHRONIZED ||
                   now.status == KEEL_CLOCK_STATUS_FREE_RUNNING
               ? 0
               : 1;
}
