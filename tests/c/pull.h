#ifndef KEEL_CTEST_PULL_H
#define KEEL_CTEST_PULL_H
/* keel behind a pull-style servo interface shaped like linuxptp's servo.h
 * (servo_create, servo_sample, servo_sync_interval, servo_reset,
 * servo_rate_ratio, servo_leap): sample in, frequency out, no feedback.
 * ffi/README.md walks through it; tests/tests/ffi_c.rs drives it as phc2sys
 * drives a servo. */
#include "keel.h"

/* linuxptp's enum servo_state, which numbers like keel_servo_state. */
enum keel_pull_state {
    KEEL_PULL_UNLOCKED = 0,
    KEEL_PULL_JUMP = 1,
    KEEL_PULL_LOCKED = 2,
    KEEL_PULL_LOCKED_STABLE = 3
};

typedef struct keel_pull_servo {
    keel_servo servo;
    double last_ppb;          /* the last adjustment returned (linuxptp sign) */
    int64_t next_update_ns;   /* an early re-read asked for; 0: none */
    int64_t error_bound_ns;   /* the last bound; -1: none */
} keel_pull_servo;

/* servo_create(cfg, type, fadj, max_ppb, sw_ts), then the thresholds that
 * linuxptp's servo.c sets after the constructor returns. fadj and every ppb
 * here are linuxptp's: the adjustment the daemon negates before
 * clockadj_set_freq(). Thresholds in ns, 0 disables. Returns 0 or a
 * keel_status. */
int keel_pull_create(keel_pull_servo *p, int32_t kind, double fadj, int max_ppb,
                     int64_t interval_ns, int64_t first_step_threshold_ns,
                     int64_t step_threshold_ns);
/* servo_sample(s, offset, local_ts, weight, &state): offset = local -
 * reference, ns; local_ts in ns; weight ignored (keel learns its own noise).
 * Returns the adjustment in ppb, linuxptp's sign: the daemon sets the clock's
 * frequency to -ppb; on KEEL_PULL_JUMP it steps the clock by -offset first. */
double keel_pull_sample(keel_pull_servo *p, int64_t offset, uint64_t local_ts, double weight,
                        enum keel_pull_state *state);
void keel_pull_sync_interval(keel_pull_servo *p, double interval_s);
void keel_pull_reset(keel_pull_servo *p);
double keel_pull_rate_ratio(keel_pull_servo *p);
void keel_pull_leap(keel_pull_servo *p, int leap);
#endif
