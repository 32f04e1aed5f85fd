/* The keel_engine_* C API: the conventions (NULL checks, use before init,
 * struct_size, out-pointers untouched on error, answers that do not fit the
 * command) and a short closed loop on an integer clock model that steps,
 * slews and reports. Run by tests/tests/ffi_c.rs (keel_ctest_engine). */
#include <stdio.h>
#include <string.h>

#include "keel.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "engine_test.c:%d: CHECK failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static void conventions(void) {
    keel_engine e;
    keel_engine_config cfg;
    keel_engine_command cmd;
    keel_engine_snapshot s;
    keel_engine_notice n;
    keel_engine_reading r = {0, 0, 0, 0, 0};
    keel_engine_clock_check chk;
    uint8_t id = 0xAA;

    CHECK(keel_engine_storage_size() == sizeof(keel_engine));
    CHECK(sizeof(keel_engine) == KEEL_ENGINE_STORAGE_SIZE);
    CHECK(keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, NULL) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_config_default(7, &cfg) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, &cfg) == KEEL_STATUS_OK);
    CHECK(cfg.struct_size == sizeof cfg && cfg.interval_ns == 1000000000 && cfg.samples == 5);

    /* Use before init. */
    memset(&e, 0, sizeof e);
    memset(&cmd, 0x5A, sizeof cmd);
    CHECK(keel_engine_poll(&e, 0, &cmd) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(((const unsigned char *)&cmd)[0] == 0x5A); /* untouched on error */
    CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(keel_engine_on_stepped(&e, true) == KEEL_STATUS_NOT_INITIALIZED);

    /* NULLs and bad configurations. */
    CHECK(keel_engine_init(NULL, &cfg, 0) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_init(&e, NULL, 0) == KEEL_STATUS_NULL_POINTER);
    cfg.struct_size--;
    CHECK(keel_engine_init(&e, &cfg, 0) == KEEL_STATUS_STRUCT_SIZE);
    cfg.struct_size++;
    cfg.samples = 26;
    CHECK(keel_engine_init(&e, &cfg, 0) == KEEL_STATUS_INVALID_ARGUMENT);
    cfg.samples = 5;
    cfg.interval_ns = 0;
    CHECK(keel_engine_init(&e, &cfg, 0) == KEEL_STATUS_INVALID_ARGUMENT);
    cfg.interval_ns = 1000000000;
    CHECK(keel_engine_init(&e, &cfg, 1000) == KEEL_STATUS_OK);
    CHECK(keel_engine_poll(NULL, 0, &cmd) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_poll(&e, 0, NULL) == KEEL_STATUS_NULL_POINTER);

    /* Sources: eight fit, a ninth does not; unknown kinds are refused, and
     * so is a second PPS source (one pulse labeller). */
    CHECK(keel_engine_add_source(&e, 9, 0, false, &id) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, NULL) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &id) == KEEL_STATUS_OK && id == 0);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_NTP, 0, false, &id) == KEEL_STATUS_OK && id == 1);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PPS, 0, false, &id) == KEEL_STATUS_OK && id == 2);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_NTP, 37000000000LL, true, &id) == KEEL_STATUS_OK && id == 3);
    id = 0xAA;
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PPS, 0, false, &id) == KEEL_STATUS_NO_CAPACITY && id == 0xAA);
    for (uint8_t k = 4; k < KEEL_ENGINE_MAX_SOURCES; k++) {
        CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &id) == KEEL_STATUS_OK && id == k);
    }
    id = 0xAA;
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &id) == KEEL_STATUS_NO_CAPACITY);
    CHECK(id == 0xAA);
    CHECK(keel_engine_set_frequency_prior(&e, 0, -1) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_set_frequency_prior(&e, (int64_t)1000 << 32, (int64_t)10 << 32) == KEEL_STATUS_OK);
    CHECK(keel_engine_on_disruption(&e, 0, 42) == KEEL_STATUS_INVALID_ARGUMENT);

    /* Before the first update: wait; answers without a question are refused. */
    CHECK(keel_engine_poll(&e, 0, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_WAIT && cmd.wait_until_ns == 1000);
    CHECK(keel_engine_on_reading(&e, 0, &r) == KEEL_STATUS_UNEXPECTED_ANSWER);
    CHECK(keel_engine_on_adjusted(&e, true, 0, 0) == KEEL_STATUS_UNEXPECTED_ANSWER);
    CHECK(keel_engine_on_stepped(&e, true) == KEEL_STATUS_UNEXPECTED_ANSWER);
    CHECK(keel_engine_on_read_error(&e, 0, KEEL_READ_ERROR_BUSY, 0) == KEEL_STATUS_UNEXPECTED_ANSWER);
    memset(&chk, 0, sizeof chk);
    CHECK(keel_engine_on_clock_check(&e, &chk) == KEEL_STATUS_UNEXPECTED_ANSWER);
    CHECK(keel_engine_on_clock_check(&e, NULL) == KEEL_STATUS_NULL_POINTER);

    /* The NTP sources are asked first (no answer needed before the next
     * poll), with the default poll exponent, 6. */
    CHECK(keel_engine_poll(&e, 1000, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_SEND_NTP && cmd.read_source == 1 && cmd.ntp_poll == 6);
    CHECK(keel_engine_poll(&e, 1000, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_SEND_NTP && cmd.read_source == 3);

    /* The first update: a clock check first (bad leap values refused). */
    CHECK(keel_engine_poll(&e, 1000, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK);
    chk.leap = 2;
    CHECK(keel_engine_on_clock_check(&e, &chk) == KEEL_STATUS_INVALID_ARGUMENT);
    chk.leap = 0;
    CHECK(keel_engine_on_clock_check(&e, &chk) == KEEL_STATUS_OK);
    CHECK(keel_engine_poll(&e, 1000, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_READ && cmd.read_source == 0 && cmd.read_samples == 5);
    CHECK(keel_engine_on_reading(&e, 1, &r) == KEEL_STATUS_UNEXPECTED_ANSWER); /* wrong source */
    r.delay_ns = -1;
    CHECK(keel_engine_on_reading(&e, 0, &r) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_read_error(&e, 0, 9, 0) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_read_error(&e, 0, KEEL_READ_ERROR_FAILED, 5) == KEEL_STATUS_OK);
    CHECK(keel_engine_take_notice(NULL, &n) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_take_notice(&e, &n) == KEEL_STATUS_OK);
    CHECK(n.kind == KEEL_ENGINE_NOTICE_KIND_HOLDOVER_STARTED);
    CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_OK);
    CHECK(s.read_errors == 1 && s.updates == 1 && s.has_holdover_since);
    CHECK(keel_engine_deinit(&e) == KEEL_STATUS_OK);
    CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(keel_engine_deinit(NULL) == KEEL_STATUS_NULL_POINTER);
}

/* A clock 1 ms ahead and 20 ppm fast against a perfect PHC, steered by the
 * engine once a second with no clock checks (as firmware without a second
 * clock): it steps once, then slews and locks. Integer model, ns. */
static void closed_loop(void) {
    keel_engine e;
    keel_engine_config cfg;
    keel_engine_command cmd;
    keel_engine_snapshot s;
    keel_engine_notice n;
    uint8_t phc;
    uint64_t t = 1000000000; /* loop time = reference time, ns */
    int64_t offset = 1000000, osc_ppb = 20000, freq_q32 = 0, k;
    int steps = 0, stepped_notices = 0, polls = 0;
    CHECK(keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, &cfg) == KEEL_STATUS_OK);
    cfg.clock_checks = false;
    cfg.sink_kernel_status = false;
    cfg.sink_max_frequency_ppb = 500000;
    cfg.samples = 1;
    CHECK(keel_engine_init(&e, &cfg, t) == KEEL_STATUS_OK);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &phc) == KEEL_STATUS_OK);
    while (polls++ < 2000) {
        CHECK(keel_engine_poll(&e, t, &cmd) == KEEL_STATUS_OK);
        if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_WAIT) {
            uint64_t dt = cmd.wait_until_ns - t;
            CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_OK);
            if (s.updates >= 120) break;
            /* offset grows by (oscillator + correction) x elapsed. */
            offset += (int64_t)((osc_ppb + (freq_q32 >> 32)) * (int64_t)dt / 1000000000);
            t = cmd.wait_until_ns;
        } else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_READ) {
            keel_engine_reading r;
            r.offset_ns = offset;
            r.local_ts_ns = t + (uint64_t)offset;
            r.delay_ns = 100;
            r.uncertainty_ns = 50;
            r.noise_limited = 0;
            CHECK(keel_engine_on_reading(&e, cmd.read_source, &r) == KEEL_STATUS_OK);
        } else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_ADJUST) {
            CHECK(cmd.adjust_has_freq && !cmd.adjust_has_status);
            freq_q32 = cmd.adjust_freq_ppb_q32;
            CHECK(keel_engine_on_adjusted(&e, true, freq_q32, t + (uint64_t)offset) == KEEL_STATUS_OK);
        } else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_STEP) {
            offset += cmd.step_ns;
            steps++;
            CHECK(keel_engine_on_stepped(&e, true) == KEEL_STATUS_OK);
        } else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_HALT) {
            CHECK(0);
            break;
        }
        while (keel_engine_take_notice(&e, &n) == KEEL_STATUS_OK)
            stepped_notices += n.kind == KEEL_ENGINE_NOTICE_KIND_STEPPED;
    }
    k = offset < 0 ? -offset : offset;
    CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_OK);
    CHECK(steps == 1 && stepped_notices == 1 && s.steps == 1);
    CHECK(k < 1000);
    CHECK(s.state == KEEL_ENGINE_STATE_LOCKED || s.state == KEEL_ENGINE_STATE_LOCKED_STABLE);
    CHECK(s.has_bound && s.bound_ns > 0);
    if (failures)
        fprintf(stderr, "engine closed loop: offset %lld ns, steps %d, state %d, updates %llu\n",
                (long long)offset, steps, (int)s.state, (unsigned long long)s.updates);
}

int keel_ctest_engine(void) {
    failures = 0;
    conventions();
    closed_loop();
    return failures;
}
