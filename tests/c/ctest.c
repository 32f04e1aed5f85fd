/* C tests of libkeel: every exported function, NULL and invalid arguments,
 * too-small buffers, use before init, status strings.
 *
 * Built by tests/build.rs and run from tests/tests/ffi_c.rs (cargo test), and
 * built standalone with -DKEEL_CTEST_MAIN against libkeel.a by
 * ffi/check-c.sh under AddressSanitizer and UndefinedBehaviorSanitizer. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "keel.h"

int keel_ctest_run(void);

static int failures;
static int checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_ST(call, want)                                                     \
    do {                                                                         \
        keel_status st_ = (call);                                                \
        checks++;                                                                \
        if (st_ != (want)) {                                                     \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), want %s\n", __FILE__,   \
                    __LINE__, #call, (int)st_, keel_status_str(st_), #want);     \
        }                                                                        \
    } while (0)

static const uint64_t S = 1000000000u;

/* ---- version and status ------------------------------------------------- */

static void test_version(void) {
    char want[64];
    const char *v = keel_version();
    CHECK(v != NULL);
    snprintf(want, sizeof want, "keel/%d.%d.%d", KEEL_VERSION_MAJOR, KEEL_VERSION_MINOR,
             KEEL_VERSION_PATCH);
    CHECK(strcmp(v, want) == 0);
    CHECK(KEEL_VERSION_NUMBER ==
          KEEL_VERSION_MAJOR * 1000000 + KEEL_VERSION_MINOR * 1000 + KEEL_VERSION_PATCH);
}

static void test_status_str(void) {
    static const int32_t known[] = {
        KEEL_STATUS_OK, KEEL_STATUS_NULL_POINTER, KEEL_STATUS_INVALID_ARGUMENT,
        KEEL_STATUS_NOT_INITIALIZED, KEEL_STATUS_STRUCT_SIZE, KEEL_STATUS_BUFFER_TOO_SMALL,
        KEEL_STATUS_PANIC, KEEL_STATUS_NEED_MORE, KEEL_STATUS_NO_SAMPLE,
        KEEL_STATUS_UNAVAILABLE, KEEL_STATUS_UNKNOWN, KEEL_STATUS_NO_CAPACITY,
        KEEL_STATUS_UNEXPECTED_ANSWER, KEEL_STATUS_NTP_MALFORMED,
        KEEL_STATUS_NTP_NOT_SERVER_MODE, KEEL_STATUS_NTP_BAD_VERSION,
        KEEL_STATUS_NTP_ORIGIN_MISMATCH, KEEL_STATUS_NTP_KISS_RATE, KEEL_STATUS_NTP_KISS_DENY,
        KEEL_STATUS_NTP_KISS_OTHER, KEEL_STATUS_NTP_ZERO_TIMESTAMP,
        KEEL_STATUS_NTP_UNSYNCHRONIZED, KEEL_STATUS_NTP_INCONSISTENT,
        KEEL_STATUS_NTP_ROOT_DISTANCE, KEEL_STATUS_NTP_NOT_CLIENT_REQUEST,
        KEEL_STATUS_PTP_MALFORMED, KEEL_STATUS_PTP_BAD_TIMESTAMP, KEEL_STATUS_PTP_BAD_TLV,
        KEEL_STATUS_PTP_WRONG_MESSAGE_TYPE, KEEL_STATUS_PTP_SEQUENCE_MISMATCH,
        KEEL_STATUS_PTP_SOURCE_MISMATCH, KEEL_STATUS_PTP_NOT_FOR_US,
        KEEL_STATUS_PTP_STEP_MODE_MISMATCH, KEEL_STATUS_PTP_NOTHING_PENDING,
        KEEL_STATUS_VMCLOCK_TRUNCATED, KEEL_STATUS_VMCLOCK_BAD_MAGIC,
        KEEL_STATUS_VMCLOCK_UNSUPPORTED_VERSION, KEEL_STATUS_VMCLOCK_UPDATE_IN_PROGRESS,
        KEEL_STATUS_VMCLOCK_CHANGED, KEEL_STATUS_VMCLOCK_NO_CLOCK,
        KEEL_STATUS_VMCLOCK_UNSUPPORTED_TIME_TYPE, KEEL_STATUS_VMCLOCK_UNRELIABLE,
        KEEL_STATUS_VMCLOCK_OUT_OF_RANGE, KEEL_STATUS_VMCLOCK_OPEN,
        KEEL_STATUS_TIME_PAGE_OPEN, KEEL_STATUS_TIME_PAGE_NOT_A_PAGE,
        KEEL_STATUS_TIME_PAGE_NOT_WRITTEN, KEEL_STATUS_TIME_PAGE_BUSY,
        KEEL_STATUS_TIME_PAGE_CAUSALITY,
    };
    size_t i, j;
    /* Stable numbers: spot-check the documented values. */
    CHECK(KEEL_STATUS_OK == 0);
    CHECK(KEEL_STATUS_NULL_POINTER == 1);
    CHECK(KEEL_STATUS_NOT_INITIALIZED == 3);
    CHECK(KEEL_STATUS_NTP_MALFORMED == 100);
    CHECK(KEEL_STATUS_PTP_MALFORMED == 200);
    CHECK(KEEL_STATUS_VMCLOCK_TRUNCATED == 300);
    CHECK(KEEL_STATUS_TIME_PAGE_OPEN == 400);
    CHECK(strcmp(keel_status_str(KEEL_STATUS_OK), "OK") == 0);
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *s = keel_status_str(known[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, "unknown status code") != 0);
        for (j = 0; j < i; j++) CHECK(strcmp(s, keel_status_str(known[j])) != 0);
    }
    CHECK(strcmp(keel_status_str(-1), "unknown status code") == 0);
    CHECK(strcmp(keel_status_str(13), "unknown status code") == 0);
    CHECK(strcmp(keel_status_str(INT32_MAX), "unknown status code") == 0);
    CHECK(strcmp(keel_status_str(INT32_MIN), "unknown status code") == 0);
}

/* ---- servo --------------------------------------------------------------- */

static void test_servo_config(void) {
    keel_servo_config c;
    keel_servo s;
    memset(&s, 0, sizeof s);
    CHECK(keel_servo_storage_size() == sizeof(keel_servo));
    CHECK(sizeof(keel_servo) == KEEL_SERVO_STORAGE_SIZE);
    CHECK_ST(keel_servo_config_default(KEEL_SERVO_KIND_KALMAN, NULL), KEEL_STATUS_NULL_POINTER);
    memset(&c, 0xAB, sizeof c);
    CHECK_ST(keel_servo_config_default(7, &c), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(c.struct_size != sizeof c); /* untouched on error */
    CHECK_ST(keel_servo_config_default(-1, &c), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_config_default(KEEL_SERVO_KIND_KALMAN, &c), KEEL_STATUS_OK);
    CHECK(c.struct_size == sizeof c);
    CHECK(c.kind == KEEL_SERVO_KIND_KALMAN);
    CHECK(c.interval_ns == 1000000000);
    CHECK(c.first_step_threshold_ns == 20000);
    CHECK(c.max_frequency_ppb == 100500000);
    CHECK(c.stable_count == 10);

    CHECK_ST(keel_servo_init(NULL, &c), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_init(&s, NULL), KEEL_STATUS_NULL_POINTER);
    c.struct_size = sizeof c - 1;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_STRUCT_SIZE);
    c.struct_size = sizeof c;
    c.interval_ns = 0;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    c.interval_ns = S;
    c.kind = 3; /* no such kind */
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    c.kind = KEEL_SERVO_KIND_KALMAN;
    c.stable_count = 70000;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    c.stable_count = 10;
    c.kalman_gate = 0;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    c.kalman_gate = 5;
    c.max_frequency_ppb = -1;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    c.max_frequency_ppb = 100500000;
    c.first_step_threshold_ns = -1;
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
    /* Failed inits left the storage uninitialised. */
    CHECK_ST(keel_servo_reset(&s), KEEL_STATUS_NOT_INITIALIZED);

    CHECK_ST(keel_servo_config_default(KEEL_SERVO_KIND_PI, &c), KEEL_STATUS_OK);
    CHECK(c.pi_kp_scale == 0.7 && c.pi_ki_scale == 0.3);
    {
        volatile double zero = 0.0;
        c.pi_kp_scale = zero / zero; /* NaN */
        CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_INVALID_ARGUMENT);
        c.pi_kp_scale = 0.7;
    }
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
}

static void test_servo_uninit(void) {
    keel_servo s;
    keel_servo_output o;
    keel_servo_state st;
    keel_servo_kind k;
    keel_servo_stats stats;
    int64_t b;
    memset(&s, 0, sizeof s);
    CHECK_ST(keel_servo_sample(&s, 0, S, 0, &o), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_applied(&s, false, 0, 0), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_applied_at(&s, 0), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_set_interval(&s, S), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_reset(&s), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_disruption(&s), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_no_sample(&s, S, &o), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_get_state(&s, &st), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_get_kind(&s, &k), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_error_bound(&s, S, &b), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_get_stats(&s, &stats), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_set_step_thresholds(&s, 0, 0), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_set_max_frequency(&s, 1000), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_set_stable(&s, 0, 10), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_leap(&s, KEEL_LEAP_NONE), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_servo_get_frequency(&s, &b), KEEL_STATUS_NOT_INITIALIZED);
    /* NULL servo */
    CHECK_ST(keel_servo_sample(NULL, 0, S, 0, &o), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_applied(NULL, false, 0, 0), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_applied_at(NULL, 0), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_interval(NULL, S), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_reset(NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_disruption(NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_no_sample(NULL, S, &o), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_state(NULL, &st), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_kind(NULL, &k), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_error_bound(NULL, S, &b), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_stats(NULL, &stats), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_step_thresholds(NULL, 0, 0), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_max_frequency(NULL, 1000), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_stable(NULL, 0, 10), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_leap(NULL, KEEL_LEAP_NONE), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_frequency(NULL, &b), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_deinit(NULL), KEEL_STATUS_NULL_POINTER);
    CHECK(keel_servo_storage_used() > 0 &&
          keel_servo_storage_used() <= keel_servo_storage_size());
}

/* The setters after init: thresholds, the frequency limit, the stable rule,
 * and their argument checks. Pull mode: no keel_servo_applied calls. */
static void test_servo_setters(void) {
    keel_servo_config c;
    keel_servo s;
    keel_servo_output o;
    keel_servo_state st;
    int64_t f = 12345;
    uint64_t t = 1700000000u * S;
    int i;
    CHECK_ST(keel_servo_config_default(KEEL_SERVO_KIND_KALMAN, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_get_frequency(&s, &f), KEEL_STATUS_UNAVAILABLE);
    CHECK(f == 12345); /* untouched */
    CHECK_ST(keel_servo_get_frequency(&s, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_step_thresholds(&s, -1, 0), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_step_thresholds(&s, 0, -1), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_max_frequency(&s, 0), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_max_frequency(&s, (int64_t)INT32_MAX + 1), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_stable(&s, -1, 10), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_stable(&s, 100, 65536), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_leap(&s, 2), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_leap(&s, KEEL_LEAP_INSERT), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_leap(&s, KEEL_LEAP_DELETE), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_leap(&s, KEEL_LEAP_NONE), KEEL_STATUS_OK);
    /* No first step (0 disables it) and at most 1 ppm: a clock 1 ms ahead
     * is slewed at the limit, never stepped; stable once within 1 µs x 3. */
    CHECK_ST(keel_servo_set_step_thresholds(&s, 0, 0), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_set_max_frequency(&s, 1000), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_set_stable(&s, 1000, 3), KEEL_STATUS_OK);
    for (i = 0; i < 10; i++) {
        CHECK_ST(keel_servo_sample(&s, 1000000, t, 0, &o), KEEL_STATUS_OK);
        CHECK(o.action != KEEL_SERVO_ACTION_STEP);
        CHECK(o.freq_ppb_q32 >= -1000 * 4294967296LL && o.freq_ppb_q32 <= 1000 * 4294967296LL);
        t += S;
    }
    CHECK_ST(keel_servo_get_frequency(&s, &f), KEEL_STATUS_OK);
    /* Afresh, on a clock 5 ppm fast, in pull mode: it locks, turns stable
     * under the rule set after init, and its frequency estimate is the
     * correction that keeps time. */
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_set_stable(&s, 1000, 3), KEEL_STATUS_OK);
    {
        double offset = 0.0, corr = 0.0;
        for (i = 0; i < 30; i++) {
            CHECK_ST(keel_servo_sample(&s, (int64_t)offset, t, 0, &o), KEEL_STATUS_OK);
            if (o.action == KEEL_SERVO_ACTION_STEP) offset += (double)o.step_ns;
            if (o.action != KEEL_SERVO_ACTION_NONE) corr = (double)o.freq_ppb_q32 / 4294967296.0;
            offset += 5000.0 + corr; /* 5 ppm fast */
            t += S;
        }
        CHECK_ST(keel_servo_get_state(&s, &st), KEEL_STATUS_OK);
        CHECK(st == KEEL_SERVO_STATE_LOCKED_STABLE);
        CHECK_ST(keel_servo_get_frequency(&s, &f), KEEL_STATUS_OK);
        CHECK(f > -5010 * 4294967296LL && f < -4990 * 4294967296LL);
    }
    keel_servo_deinit(&s);
    /* PI and linreg take no leap input. */
    CHECK_ST(keel_servo_config_default(KEEL_SERVO_KIND_PI, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_leap(&s, KEEL_LEAP_INSERT), KEEL_STATUS_UNAVAILABLE);
    CHECK_ST(keel_servo_set_step_thresholds(&s, 0, 1000), KEEL_STATUS_OK);
}

/* Runs a servo on a clock 30 µs ahead running 20 ppm fast, applying its
 * corrections, and checks it locks. */
static void run_servo(int32_t kind) {
    keel_servo_config c;
    keel_servo s;
    keel_servo_output o;
    keel_servo_state st;
    keel_servo_kind k;
    keel_servo_stats stats;
    int64_t bound = -1;
    double offset = 30000.0, osc_ppb = 20000.0, corr_ppb = 0.0;
    uint64_t t = 1700000000u * S;
    int i, stepped = 0;

    CHECK_ST(keel_servo_config_default(kind, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_get_kind(&s, &k), KEEL_STATUS_OK);
    CHECK(k == kind);
    CHECK_ST(keel_servo_get_state(&s, &st), KEEL_STATUS_OK);
    CHECK(st == KEEL_SERVO_STATE_UNLOCKED);
    CHECK_ST(keel_servo_get_state(&s, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_kind(&s, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_sample(&s, 0, t, 0, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_sample(&s, 0, t, -1, &o), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_no_sample(&s, t, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_set_interval(&s, 0), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_servo_set_interval(&s, S), KEEL_STATUS_OK);

    for (i = 0; i < 200; i++) {
        bool step = false;
        CHECK_ST(keel_servo_sample(&s, (int64_t)offset, t, 5, &o), KEEL_STATUS_OK);
        CHECK(o.action >= KEEL_SERVO_ACTION_NONE && o.action <= KEEL_SERVO_ACTION_STEP);
        if (o.action == KEEL_SERVO_ACTION_STEP) {
            offset += (double)o.step_ns;
            step = true;
            stepped++;
        } else {
            CHECK(o.step_ns == 0);
        }
        if (o.action != KEEL_SERVO_ACTION_NONE) corr_ppb = (double)o.freq_ppb_q32 / 4294967296.0;
        CHECK_ST(keel_servo_applied(&s, step, o.step_ns, o.freq_ppb_q32), KEEL_STATUS_OK);
        CHECK_ST(keel_servo_applied_at(&s, 0), KEEL_STATUS_OK);
        offset += (osc_ppb + corr_ppb); /* 1 s at (osc + corr) ppb, in ns */
        t += S;
    }
    CHECK(stepped == 1); /* 30 µs > the 20 µs first step threshold */
    CHECK(offset < 100.0 && offset > -100.0);
    CHECK(corr_ppb > -20100.0 && corr_ppb < -19900.0);
    CHECK_ST(keel_servo_get_state(&s, &st), KEEL_STATUS_OK);
    CHECK(st == KEEL_SERVO_STATE_LOCKED);

    CHECK_ST(keel_servo_error_bound(&s, t, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_servo_get_stats(&s, NULL), KEEL_STATUS_NULL_POINTER);
    if (kind == KEEL_SERVO_KIND_KALMAN) {
        CHECK(o.has_error_bound && o.error_bound_ns >= 0);
        CHECK_ST(keel_servo_error_bound(&s, t, &bound), KEEL_STATUS_OK);
        CHECK(bound >= 0 && bound < 100000);
        {
            /* The bound grows in holdover. */
            int64_t later = -1;
            CHECK_ST(keel_servo_error_bound(&s, t + 1000 * S, &later), KEEL_STATUS_OK);
            CHECK(later >= bound);
        }
        CHECK_ST(keel_servo_get_stats(&s, &stats), KEEL_STATUS_OK);
        CHECK(stats.reading_var_ns2_q16 >= 0 && stats.wander_var_q32 >= 0);
    } else {
        CHECK(!o.has_error_bound);
        CHECK_ST(keel_servo_error_bound(&s, t, &bound), KEEL_STATUS_UNAVAILABLE);
        CHECK(bound == -1); /* untouched */
        CHECK_ST(keel_servo_get_stats(&s, &stats), KEEL_STATUS_UNAVAILABLE);
    }

    CHECK_ST(keel_servo_no_sample(&s, t, &o), KEEL_STATUS_OK);
    CHECK(o.action != KEEL_SERVO_ACTION_STEP); /* holdover never steps */
    CHECK_ST(keel_servo_reset(&s), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_disruption(&s), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_get_state(&s, &st), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_sample(&s, 10, t, 0, &o), KEEL_STATUS_OK);
    /* Re-init starts afresh; deinit makes it unusable; deinit twice is fine. */
    CHECK_ST(keel_servo_init(&s, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_deinit(&s), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_deinit(&s), KEEL_STATUS_OK);
    CHECK_ST(keel_servo_sample(&s, 0, t, 0, &o), KEEL_STATUS_NOT_INITIALIZED);
}

static void test_freq_kernel(void) {
    keel_kernel_freq k;
    int64_t back = 0;
    const int64_t q32 = (int64_t)1 << 32;
    CHECK_ST(keel_freq_to_kernel(0, 100, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_freq_to_kernel(0, 0, &k), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_freq_to_kernel(1000 * q32, 100, &k), KEEL_STATUS_OK);
    CHECK(k.tick_us == 10000);
    CHECK(k.freq_scaled_ppm == 65536); /* 1 ppm */
    CHECK_ST(keel_freq_from_kernel(&k, 100, &back), KEEL_STATUS_OK);
    CHECK(back == 1000 * q32);
    CHECK_ST(keel_freq_from_kernel(NULL, 100, &back), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_freq_from_kernel(&k, 100, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_freq_from_kernel(&k, 0, &back), KEEL_STATUS_INVALID_ARGUMENT);
    /* Beyond ±500 ppm the tick carries the bulk. */
    CHECK_ST(keel_freq_to_kernel(-2000000 * q32, 100, &k), KEEL_STATUS_OK);
    CHECK(k.tick_us < 10000);
}

/* ---- PHC ----------------------------------------------------------------- */

static void test_phc(void) {
    keel_phc_triple tr[KEEL_PHC_MAX_SAMPLES + 1];
    keel_phc_sample smp;
    size_t i;
    uint64_t base = 1700000000u * S;
    memset(tr, 0, sizeof tr);
    /* System clock 1000 ns ahead of the PHC; read delays 300, 100, 200 ns. */
    for (i = 0; i < 3; i++) {
        uint64_t d = (i == 0) ? 300 : (i == 1) ? 100 : 200;
        uint64_t sys = base + i * 10000;
        tr[i].sys_before_ns = sys;
        tr[i].sys_after_ns = sys + d;
        tr[i].phc_ns = sys + d / 2 - 1000;
    }
    CHECK_ST(keel_phc_best_sample(tr, 3, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 1000);
    CHECK(smp.delay_ns == 100);
    CHECK(smp.local_ts_ns == base + 10000 + 50);
    CHECK_ST(keel_phc_best_sample(NULL, 3, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_phc_best_sample(tr, 3, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_phc_best_sample(tr, 0, &smp), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_phc_best_sample(tr, KEEL_PHC_MAX_SAMPLES + 1, &smp),
             KEEL_STATUS_INVALID_ARGUMENT);
    /* A triple with a negative interval (clock stepped during the read). */
    tr[0].sys_after_ns = tr[0].sys_before_ns - 1;
    memset(&smp, 0x5A, sizeof smp);
    CHECK_ST(keel_phc_best_sample(tr, 1, &smp), KEEL_STATUS_NO_SAMPLE);
    CHECK(smp.delay_ns == 0x5A5A5A5A5A5A5A5ALL); /* untouched */
    CHECK_ST(keel_phc_precise_sample(base + 500, base, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 500 && smp.delay_ns == 0 && smp.local_ts_ns == base + 500);
    CHECK_ST(keel_phc_precise_sample(base, base, NULL), KEEL_STATUS_NULL_POINTER);
}

/* ---- NTP ----------------------------------------------------------------- */

static void test_ntp(void) {
    keel_ntp_request req;
    keel_ntp_client_config cc;
    keel_ntp_server_clock clk;
    keel_ntp_sample smp;
    uint8_t q[KEEL_NTP_PACKET_LEN + 8], r[KEEL_NTP_PACKET_LEN + 8];
    size_t qn = 0, rn = 0, sentinel = 12345;
    uint64_t t1 = 1700000000u * S, t4 = t1 + 2000000; /* 2 ms round trip */
    /* Server 0.5 ms behind the client, 0.1 ms hold. */
    uint64_t t2 = t1 + 950000 - 500000, t3 = t2 + 100000;

    CHECK_ST(keel_ntp_request_new(0x0123456789abcdefULL, 6, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_request_new(0, 6, &req), KEEL_STATUS_OK);
    CHECK(req.cookie == 1);
    CHECK_ST(keel_ntp_request_new(0x0123456789abcdefULL, 6, &req), KEEL_STATUS_OK);
    CHECK(req.cookie == 0x0123456789abcdefULL && req.poll == 6);

    CHECK_ST(keel_ntp_request_emit(NULL, q, sizeof q, &qn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_request_emit(&req, NULL, sizeof q, &qn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_request_emit(&req, q, sizeof q, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_request_emit(&req, q, KEEL_NTP_PACKET_LEN - 1, &sentinel),
             KEEL_STATUS_BUFFER_TOO_SMALL);
    CHECK(sentinel == 12345);
    CHECK_ST(keel_ntp_request_emit(&req, q, sizeof q, &qn), KEEL_STATUS_OK);
    CHECK(qn == KEEL_NTP_PACKET_LEN);
    CHECK((q[0] & 7) == 3); /* client mode */

    memset(&clk, 0, sizeof clk);
    clk.struct_size = sizeof clk;
    clk.synchronized = true;
    clk.stratum = 1;
    clk.precision = -20;
    memcpy(clk.reference_id, "GPS", 4);
    clk.reference_time_ns = t2 - S;
    clk.root_delay_ns = 0;
    clk.error_bound_ns = 1000;
    CHECK_ST(keel_ntp_server_reply(NULL, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_server_reply(&clk, NULL, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, NULL, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, KEEL_NTP_PACKET_LEN - 1, &sentinel),
             KEEL_STATUS_BUFFER_TOO_SMALL);
    CHECK(sentinel == 12345);
    CHECK_ST(keel_ntp_server_reply(&clk, q, 10, t2, t3, r, sizeof r, &rn), KEEL_STATUS_NTP_MALFORMED);
    clk.struct_size = 1;
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_STRUCT_SIZE);
    clk.struct_size = sizeof clk;
    clk.leap = 3;
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_INVALID_ARGUMENT);
    clk.leap = 0;
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK(rn == KEEL_NTP_PACKET_LEN);
    /* A server reply is not a client request. */
    CHECK_ST(keel_ntp_server_reply(&clk, r, rn, t2, t3, q, sizeof q, &qn),
             KEEL_STATUS_NTP_NOT_CLIENT_REQUEST);

    CHECK_ST(keel_ntp_client_config_default(NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_client_config_default(&cc), KEEL_STATUS_OK);
    CHECK(cc.struct_size == sizeof cc && cc.max_root_distance_ns == 1500000000 &&
          cc.local_precision == -20);

    CHECK_ST(keel_ntp_process_reply(NULL, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_process_reply(&req, NULL, rn, t1, t4, NULL, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_process_reply(&req, r, 47, t1, t4, NULL, &smp), KEEL_STATUS_NTP_MALFORMED);
    CHECK_ST(keel_ntp_process_reply(&req, q, KEEL_NTP_PACKET_LEN, t1, t4, NULL, &smp),
             KEEL_STATUS_NTP_NOT_SERVER_MODE);
    cc.struct_size = 3;
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, &cc, &smp), KEEL_STATUS_STRUCT_SIZE);
    cc.struct_size = sizeof cc;
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, &cc, &smp), KEEL_STATUS_OK);
    /* offset = ((t1 - t2) + (t4 - t3)) / 2 = local - server: +0.5 ms. */
    CHECK(smp.offset_ns >= 499999 && smp.offset_ns <= 500001);
    CHECK(smp.delay_ns >= 1899999 && smp.delay_ns <= 1900001);
    CHECK(smp.stratum == 1 && smp.leap == 0 && memcmp(smp.reference_id, "GPS", 4) == 0);
    CHECK(smp.local_receive_ns == t4);
    CHECK(smp.root_distance_ns > 0);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_OK);
    cc.max_root_distance_ns = 1000;
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, &cc, &smp), KEEL_STATUS_NTP_ROOT_DISTANCE);
    cc.max_root_distance_ns = 0;
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, &cc, &smp), KEEL_STATUS_INVALID_ARGUMENT);

    /* A reply to another request: origin mismatch. */
    {
        keel_ntp_request other;
        CHECK_ST(keel_ntp_request_new(42, 6, &other), KEEL_STATUS_OK);
        CHECK_ST(keel_ntp_process_reply(&other, r, rn, t1, t4, NULL, &smp),
                 KEEL_STATUS_NTP_ORIGIN_MISMATCH);
    }
    /* Unsynchronised server. */
    clk.synchronized = false;
    CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NTP_UNSYNCHRONIZED);
    /* Bad version. */
    {
        uint8_t bad[KEEL_NTP_PACKET_LEN];
        clk.synchronized = true;
        CHECK_ST(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn), KEEL_STATUS_OK);
        memcpy(bad, r, sizeof bad);
        bad[0] = (uint8_t)((bad[0] & 0xC7) | (2 << 3));
        CHECK_ST(keel_ntp_process_reply(&req, bad, sizeof bad, t1, t4, NULL, &smp),
                 KEEL_STATUS_NTP_BAD_VERSION);
    }

    /* Kiss-o'-Death. */
    CHECK_ST(keel_ntp_kiss_reply(NULL, qn, (const uint8_t *)"RATE", r, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, NULL, r, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"RATE", NULL, sizeof r, &rn), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"RATE", r, sizeof r, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"RATE", r, 10, &rn), KEEL_STATUS_BUFFER_TOO_SMALL);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"RATE", r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NTP_KISS_RATE);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"DENY", r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NTP_KISS_DENY);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"RSTR", r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NTP_KISS_DENY);
    CHECK_ST(keel_ntp_kiss_reply(q, qn, (const uint8_t *)"INIT", r, sizeof r, &rn), KEEL_STATUS_OK);
    CHECK_ST(keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, &smp), KEEL_STATUS_NTP_KISS_OTHER);
    CHECK(keel_ntp_backoff_poll(6, 8, 10) == 8);
    CHECK(keel_ntp_backoff_poll(6, 4, 10) == 7);
    CHECK(keel_ntp_backoff_poll(10, 4, 10) == 10);
}

/* ---- PTP ----------------------------------------------------------------- */

static const uint8_t MASTER_ID[8] = {0x00, 0x1b, 0x21, 0xff, 0xfe, 0x00, 0x00, 0x01};
static const uint8_t SLAVE_ID[8] = {0x00, 0x1b, 0x21, 0xff, 0xfe, 0x00, 0x00, 0x02};

static void put_be(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* Builds a PTP message: header, a timestamp body and, for responses, the
 * requesting port identity. Returns its length. */
static size_t ptp_msg(uint8_t *b, uint8_t type, uint16_t flags, int64_t correction_q16,
                      const uint8_t src[8], uint16_t seq, uint64_t sec, uint32_t ns,
                      const uint8_t req[8]) {
    size_t len = 44;
    if (type == KEEL_PTP_DELAY_RESP || type == KEEL_PTP_PDELAY_RESP ||
        type == KEEL_PTP_PDELAY_RESP_FOLLOW_UP || type == KEEL_PTP_PDELAY_REQ)
        len = 54;
    memset(b, 0, 64);
    b[0] = type;
    b[1] = 2;
    put_be(b + 2, len, 2);
    put_be(b + 6, flags, 2);
    put_be(b + 8, (uint64_t)correction_q16, 8);
    memcpy(b + 20, src, 8);
    put_be(b + 28, 1, 2);
    put_be(b + 30, seq, 2);
    put_be(b + 34, sec, 6);
    put_be(b + 40, ns, 4);
    if (req) {
        memcpy(b + 44, req, 8);
        put_be(b + 52, 1, 2);
    }
    return len;
}

static void test_ptp_parse(void) {
    uint8_t b[64];
    keel_ptp_message m;
    size_t n = ptp_msg(b, KEEL_PTP_DELAY_RESP, 0, 3 << 16, MASTER_ID, 7, 1000, 10500, SLAVE_ID);
    CHECK_ST(keel_ptp_parse(NULL, n, &m), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_parse(b, n, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_parse(b, 20, &m), KEEL_STATUS_PTP_MALFORMED);
    CHECK_ST(keel_ptp_parse(b, n - 1, &m), KEEL_STATUS_PTP_MALFORMED);
    CHECK_ST(keel_ptp_parse(b, n, &m), KEEL_STATUS_OK);
    CHECK(m.message_type == KEEL_PTP_DELAY_RESP && m.version == 2);
    CHECK(m.correction_q16 == 3 << 16 && m.sequence_id == 7);
    CHECK(memcmp(m.source_port_identity.clock_identity, MASTER_ID, 8) == 0);
    CHECK(m.source_port_identity.port_number == 1);
    CHECK(m.timestamp.seconds == 1000 && m.timestamp.nanoseconds == 10500);
    CHECK(memcmp(m.port_identity.clock_identity, SLAVE_ID, 8) == 0);
    CHECK(m.tlv_len == 0);
    /* Nanoseconds >= 1e9. */
    n = ptp_msg(b, KEEL_PTP_SYNC, 0, 0, MASTER_ID, 1, 1000, 1000000000u, NULL);
    CHECK_ST(keel_ptp_parse(b, n, &m), KEEL_STATUS_PTP_BAD_TIMESTAMP);
    /* A TLV running past messageLength. */
    n = ptp_msg(b, KEEL_PTP_SYNC, 0, 0, MASTER_ID, 1, 1000, 0, NULL);
    put_be(b + 2, 48, 2);
    put_be(b + 44, 3, 2);
    put_be(b + 46, 40, 2);
    CHECK_ST(keel_ptp_parse(b, 48, &m), KEEL_STATUS_PTP_BAD_TLV);
    /* A well-formed empty TLV. */
    put_be(b + 46, 0, 2);
    CHECK_ST(keel_ptp_parse(b, 48, &m), KEEL_STATUS_OK);
    CHECK(m.tlv_offset == 44 && m.tlv_len == 4);
}

/* Master→slave delay 1000 ns, local clock 500 ns ahead of the master. */
static void test_ptp_e2e(void) {
    uint8_t sync[64], fup[64], resp[64], one[64];
    size_t ns_, nf, nr, no;
    keel_ptp_port_identity own, master;
    keel_ptp_e2e e;
    keel_ptp_sample smp;
    keel_ptp_sync_times st;
    keel_ptp_delay_times dt;
    int64_t mpd = -1;
    uint64_t t2 = 1000 * S + 1500, t3 = 1000 * S + 10000;

    memcpy(own.clock_identity, SLAVE_ID, 8);
    own.port_number = 1;
    memcpy(master.clock_identity, MASTER_ID, 8);
    master.port_number = 1;
    ns_ = ptp_msg(sync, KEEL_PTP_SYNC, KEEL_PTP_FLAG_TWO_STEP, 0, MASTER_ID, 1, 1000, 0, NULL);
    nf = ptp_msg(fup, KEEL_PTP_FOLLOW_UP, 0, 0, MASTER_ID, 1, 1000, 0, NULL);
    nr = ptp_msg(resp, KEEL_PTP_DELAY_RESP, 0, 0, MASTER_ID, 7, 1000, 10500, SLAVE_ID);
    no = ptp_msg(one, KEEL_PTP_SYNC, 0, 0, MASTER_ID, 2, 1001, 0, NULL);

    CHECK(keel_ptp_e2e_storage_size() == sizeof(keel_ptp_e2e));
    memset(&e, 0, sizeof e);
    CHECK_ST(keel_ptp_e2e_sync(&e, sync, ns_, t2, &smp), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_ptp_e2e_follow_up(&e, fup, nf, &smp), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_ptp_e2e_delay_req_sent(&e, 7, t3), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_ptp_e2e_delay_resp(&e, resp, nr, &smp), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_ptp_e2e_mean_path_delay(&e, &mpd), KEEL_STATUS_NOT_INITIALIZED);
    CHECK_ST(keel_ptp_e2e_init(NULL, &own, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_init(&e, NULL, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_init(&e, &own, &master), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_e2e_sync(NULL, sync, ns_, t2, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_sync(&e, NULL, ns_, t2, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_sync(&e, sync, ns_, t2, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_follow_up(NULL, fup, nf, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_delay_req_sent(NULL, 7, t3), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_delay_resp(NULL, resp, nr, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_mean_path_delay(NULL, &mpd), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_mean_path_delay(&e, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_mean_path_delay(&e, &mpd), KEEL_STATUS_UNAVAILABLE);
    CHECK_ST(keel_ptp_e2e_follow_up(&e, fup, nf, &smp), KEEL_STATUS_PTP_NOTHING_PENDING);
    CHECK_ST(keel_ptp_e2e_sync(&e, fup, nf, t2, &smp), KEEL_STATUS_PTP_WRONG_MESSAGE_TYPE);
    {
        uint8_t other[64];
        size_t n = ptp_msg(other, KEEL_PTP_SYNC, 0, 0, SLAVE_ID, 1, 1000, 0, NULL);
        CHECK_ST(keel_ptp_e2e_sync(&e, other, n, t2, &smp), KEEL_STATUS_PTP_SOURCE_MISMATCH);
    }
    CHECK_ST(keel_ptp_e2e_sync(&e, sync, ns_, t2, &smp), KEEL_STATUS_NEED_MORE);
    CHECK_ST(keel_ptp_e2e_follow_up(&e, fup, nf, &smp), KEEL_STATUS_NEED_MORE);
    CHECK_ST(keel_ptp_e2e_delay_resp(&e, resp, nr, &smp), KEEL_STATUS_PTP_NOTHING_PENDING);
    CHECK_ST(keel_ptp_e2e_delay_req_sent(&e, 7, t3), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_e2e_delay_resp(&e, resp, nr, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 500 && smp.delay_ns == 1000 && smp.local_time_ns == t2);
    CHECK_ST(keel_ptp_e2e_mean_path_delay(&e, &mpd), KEEL_STATUS_OK);
    CHECK(mpd == 1000);
    /* A one-step Sync now gives a sample at once. */
    CHECK_ST(keel_ptp_e2e_sync(&e, one, no, 1001 * S + 1500, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 500 && smp.delay_ns == 1000);

    /* The same measurement, stateless. */
    CHECK_ST(keel_ptp_sync_times_two_step(NULL, ns_, t2, fup, nf, &st), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_sync_times_two_step(sync, ns_, t2, NULL, nf, &st), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_sync_times_two_step(sync, ns_, t2, fup, nf, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_sync_times_two_step(sync, ns_, t2, sync, ns_, &st),
             KEEL_STATUS_PTP_WRONG_MESSAGE_TYPE);
    CHECK_ST(keel_ptp_sync_times_two_step(sync, ns_, t2, fup, nf, &st), KEEL_STATUS_OK);
    CHECK(st.t1.seconds == 1000 && st.t1.nanoseconds == 0 && st.t2_ns == t2);
    CHECK_ST(keel_ptp_sync_times_one_step(sync, ns_, t2, &st), KEEL_STATUS_PTP_STEP_MODE_MISMATCH);
    CHECK_ST(keel_ptp_sync_times_one_step(NULL, no, t2, &st), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_sync_times_one_step(one, no, t2, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_sync_times_two_step(sync, ns_, t2, fup, nf, &st), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_delay_times_from_resp(NULL, 7, t3, resp, nr, &dt), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_delay_times_from_resp(&own, 7, t3, NULL, nr, &dt), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_delay_times_from_resp(&own, 7, t3, resp, nr, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_delay_times_from_resp(&own, 8, t3, resp, nr, &dt), KEEL_STATUS_PTP_SEQUENCE_MISMATCH);
    CHECK_ST(keel_ptp_delay_times_from_resp(&master, 7, t3, resp, nr, &dt), KEEL_STATUS_PTP_NOT_FOR_US);
    CHECK_ST(keel_ptp_delay_times_from_resp(&own, 7, t3, resp, nr, &dt), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_e2e_sample(NULL, &dt, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_sample(&st, NULL, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_sample(&st, &dt, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_e2e_sample(&st, &dt, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 500 && smp.delay_ns == 1000);
    CHECK_ST(keel_ptp_p2p_sample(NULL, 1000, &smp), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_p2p_sample(&st, 1000, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_p2p_sample(&st, 1000, &smp), KEEL_STATUS_OK);
    CHECK(smp.offset_ns == 500 && smp.delay_ns == 1000);
    st.t1.nanoseconds = 1000000000u;
    CHECK_ST(keel_ptp_p2p_sample(&st, 1000, &smp), KEEL_STATUS_INVALID_ARGUMENT);
    CHECK_ST(keel_ptp_e2e_sample(&st, &dt, &smp), KEEL_STATUS_INVALID_ARGUMENT);
}

/* Peer delay: link delay 800 ns, peer turnaround 5000 ns, no offset. */
static void test_ptp_p2p(void) {
    uint8_t resp[64], fup[64], resp2[64], fup2[64], one[64];
    size_t nr, nf, nr2, nf2, no;
    keel_ptp_port_identity own;
    keel_ptp_pdelay_times a, b, c;
    int64_t d = -1, nrr = -1;
    memcpy(own.clock_identity, SLAVE_ID, 8);
    own.port_number = 1;
    nr = ptp_msg(resp, KEEL_PTP_PDELAY_RESP, KEEL_PTP_FLAG_TWO_STEP, 0, MASTER_ID, 3, 2000, 800, SLAVE_ID);
    nf = ptp_msg(fup, KEEL_PTP_PDELAY_RESP_FOLLOW_UP, 0, 0, MASTER_ID, 3, 2000, 5800, SLAVE_ID);
    nr2 = ptp_msg(resp2, KEEL_PTP_PDELAY_RESP, KEEL_PTP_FLAG_TWO_STEP, 0, MASTER_ID, 4, 2001, 800, SLAVE_ID);
    nf2 = ptp_msg(fup2, KEEL_PTP_PDELAY_RESP_FOLLOW_UP, 0, 0, MASTER_ID, 4, 2001, 5800, SLAVE_ID);
    no = ptp_msg(one, KEEL_PTP_PDELAY_RESP, 0, (int64_t)5000 << 16, MASTER_ID, 5, 0, 0, SLAVE_ID);

    CHECK_ST(keel_ptp_pdelay_two_step(NULL, 3, 2000 * S, resp, nr, 2000 * S + 6600, fup, nf, &a), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 3, 2000 * S, NULL, nr, 2000 * S + 6600, fup, nf, &a), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 3, 2000 * S, resp, nr, 2000 * S + 6600, NULL, nf, &a), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 3, 2000 * S, resp, nr, 2000 * S + 6600, fup, nf, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 4, 2000 * S, resp, nr, 2000 * S + 6600, fup, nf, &a), KEEL_STATUS_PTP_SEQUENCE_MISMATCH);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 3, 2000 * S, resp, nr, 2000 * S + 6600, fup, nf, &a), KEEL_STATUS_OK);
    CHECK(a.t2.seconds == 2000 && a.t2.nanoseconds == 800 && a.t3.nanoseconds == 5800);
    CHECK_ST(keel_ptp_mean_link_delay(NULL, 0, &d), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_mean_link_delay(&a, 0, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_mean_link_delay(&a, 0, &d), KEEL_STATUS_OK);
    CHECK(d == 800);
    CHECK_ST(keel_ptp_pdelay_two_step(&own, 4, 2001 * S, resp2, nr2, 2001 * S + 6600, fup2, nf2, &b), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(NULL, &b, &nrr), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(&a, NULL, &nrr), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(&a, &b, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(&a, &b, &nrr), KEEL_STATUS_OK);
    CHECK(nrr == 0);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(&b, &a, &nrr), KEEL_STATUS_UNAVAILABLE);

    CHECK_ST(keel_ptp_pdelay_one_step(NULL, 5, 3000 * S, one, no, 3000 * S + 6600, &c), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_one_step(&own, 5, 3000 * S, NULL, no, 3000 * S + 6600, &c), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_one_step(&own, 5, 3000 * S, one, no, 3000 * S + 6600, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_ptp_pdelay_one_step(&own, 3, 3000 * S, resp, nr, 3000 * S + 6600, &c), KEEL_STATUS_PTP_STEP_MODE_MISMATCH);
    CHECK_ST(keel_ptp_pdelay_one_step(&own, 5, 3000 * S, one, no, 3000 * S + 6600, &c), KEEL_STATUS_OK);
    CHECK_ST(keel_ptp_mean_link_delay(&c, 0, &d), KEEL_STATUS_OK);
    CHECK(d == 800);
    CHECK_ST(keel_ptp_neighbor_rate_ratio(&a, &c, &nrr), KEEL_STATUS_UNAVAILABLE);
    c.t2.nanoseconds = 2000000000u;
    CHECK_ST(keel_ptp_mean_link_delay(&c, 0, &d), KEEL_STATUS_INVALID_ARGUMENT);
}

/* ---- vmclock ------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n) {
    int i;
    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static void vmclock_page(uint8_t *p, uint32_t seq) {
    memset(p, 0, KEEL_VMCLOCK_FULL_LEN);
    put_le(p + 0x00, 0x4b4c4356u, 4);
    put_le(p + 0x04, 4096, 4);
    put_le(p + 0x08, 1, 2);
    p[0x0a] = 1; /* x86 TSC */
    p[0x0b] = 0; /* UTC */
    put_le(p + 0x0c, seq, 4);
    put_le(p + 0x10, 5, 8);
    put_le(p + 0x18, (1u << 0) | (1u << 4) | (1u << 6) | (1u << 8), 8);
    p[0x22] = 2; /* synchronized */
    put_le(p + 0x24, 37, 2);
    put_le(p + 0x28, 1000, 8);                  /* C1 */
    put_le(p + 0x30, 18446744074ULL, 8);        /* 1 ns per tick in 2^-64 s */
    put_le(p + 0x40, 0, 8);
    put_le(p + 0x48, 1700000000ULL, 8);
    put_le(p + 0x60, 100, 8); /* time max error */
    put_le(p + 0x68, 9, 8);   /* vm generation */
}

static void test_vmclock(void) {
    uint8_t page[KEEL_VMCLOCK_FULL_LEN];
    keel_vmclock_snapshot s;
    keel_vmclock_reading r;
    vmclock_page(page, 2);
    CHECK_ST(keel_vmclock_parse(NULL, sizeof page, &s), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_parse(page, sizeof page, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_parse(page, KEEL_VMCLOCK_BASE_LEN - 1, &s), KEEL_STATUS_VMCLOCK_TRUNCATED);
    CHECK_ST(keel_vmclock_parse(page, KEEL_VMCLOCK_BASE_LEN, &s), KEEL_STATUS_OK);
    CHECK(!s.has_vm_generation_counter);
    CHECK_ST(keel_vmclock_parse(page, sizeof page, &s), KEEL_STATUS_OK);
    CHECK(s.has_vm_generation_counter && s.vm_generation_counter == 9);
    CHECK(s.disruption_marker == 5 && s.tai_offset_sec == 37 && s.counter_id == 1);
    CHECK_ST(keel_vmclock_read_consistent(NULL, sizeof page, 2, &s), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_read_consistent(page, sizeof page, 2, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_read_consistent(page, sizeof page, 4, &s), KEEL_STATUS_VMCLOCK_CHANGED);
    CHECK_ST(keel_vmclock_read_consistent(page, sizeof page, 2, &s), KEEL_STATUS_OK);
    CHECK_ST(keel_vmclock_time_at(NULL, 1000, &r), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_time_at(&s, 1000, NULL), KEEL_STATUS_NULL_POINTER);
    CHECK_ST(keel_vmclock_time_at(&s, 1000 + 1000000, &r), KEEL_STATUS_OK);
    CHECK(r.time_ns >= 1700000000ULL * S + 1000000 && r.time_ns <= 1700000000ULL * S + 1000001);
    CHECK(r.has_utc && r.utc_ns == r.time_ns);
    CHECK(r.has_tai_offset && r.tai_offset_sec == 37);
    CHECK(r.has_max_error && r.max_error_ns >= 100 && r.max_error_ns <= 102);
    CHECK(r.disruption_marker == 5 && r.clock_status == 2);
    s.clock_status = 4;
    CHECK_ST(keel_vmclock_time_at(&s, 1000, &r), KEEL_STATUS_VMCLOCK_UNRELIABLE);
    s.clock_status = 2;
    s.counter_id = 0xff;
    CHECK_ST(keel_vmclock_time_at(&s, 1000, &r), KEEL_STATUS_VMCLOCK_NO_CLOCK);
    s.counter_id = 1;
    s.time_type = 3;
    CHECK_ST(keel_vmclock_time_at(&s, 1000, &r), KEEL_STATUS_VMCLOCK_UNSUPPORTED_TIME_TYPE);
    vmclock_page(page, 3);
    CHECK_ST(keel_vmclock_read_consistent(page, sizeof page, 3, &s), KEEL_STATUS_VMCLOCK_UPDATE_IN_PROGRESS);
    page[0] ^= 1;
    CHECK_ST(keel_vmclock_parse(page, sizeof page, &s), KEEL_STATUS_VMCLOCK_BAD_MAGIC);
    page[0] ^= 1;
    page[0x08] = 2;
    CHECK_ST(keel_vmclock_parse(page, sizeof page, &s), KEEL_STATUS_VMCLOCK_UNSUPPORTED_VERSION);
}

int keel_ctest_run(void) {
    failures = 0;
    checks = 0;
    test_version();
    test_status_str();
    test_servo_config();
    test_servo_uninit();
    test_servo_setters();
    run_servo(KEEL_SERVO_KIND_KALMAN);
    run_servo(KEEL_SERVO_KIND_PI);
    run_servo(KEEL_SERVO_KIND_LINREG);
    test_freq_kernel();
    test_phc();
    test_ntp();
    test_ptp_parse();
    test_ptp_e2e();
    test_ptp_p2p();
    test_vmclock();
    printf("keel C tests: %d checks, %d failed\n", checks, failures);
    fflush(stdout);
    return failures;
}

#ifdef KEEL_CTEST_MAIN
int main(void) { return keel_ctest_run() == 0 ? 0 : 1; }
#endif
