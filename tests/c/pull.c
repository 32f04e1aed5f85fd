/* keel behind a linuxptp-style pull interface (pull.h): what a servo.h
 * wrapper around libkeel looks like. No keel_servo_applied calls for the
 * frequency (pull mode: keel takes its output as applied exactly); the one
 * report is the step, because phc2sys steps by -offset (the reading) where
 * keel asked for -estimate. */
#include "pull.h"

#define Q32 4294967296.0

int keel_pull_create(keel_pull_servo *p, int32_t kind, double fadj, int max_ppb,
                     int64_t interval_ns, int64_t first_step_threshold_ns,
                     int64_t step_threshold_ns) {
    keel_servo_config c;
    int st = keel_servo_config_default(kind, &c);
    if (st != KEEL_STATUS_OK) return st;
    c.interval_ns = interval_ns;
    /* linuxptp's fadj is the adjustment in force, negated: keel's frequency. */
    c.initial_freq_ppb_q32 = (int64_t)(-fadj * Q32);
    st = keel_servo_init(&p->servo, &c);
    if (st != KEEL_STATUS_OK) return st;
    p->last_ppb = fadj;
    p->next_update_ns = 0;
    p->error_bound_ns = -1;
    /* Set after the constructor, as linuxptp's servo_create() does. */
    st = keel_servo_set_step_thresholds(&p->servo, first_step_threshold_ns, step_threshold_ns);
    if (st != KEEL_STATUS_OK) return st;
    return keel_servo_set_max_frequency(&p->servo, max_ppb);
}

double keel_pull_sample(keel_pull_servo *p, int64_t offset, uint64_t local_ts, double weight,
                        enum keel_pull_state *state) {
    keel_servo_output o;
    (void)weight;
    if (keel_servo_sample(&p->servo, offset, local_ts, 0, &o) != KEEL_STATUS_OK) {
        *state = KEEL_PULL_UNLOCKED;
        return p->last_ppb;
    }
    p->next_update_ns = o.has_next_update ? o.next_update_ns : 0;
    p->error_bound_ns = o.has_error_bound ? o.error_bound_ns : -1;
    *state = (enum keel_pull_state)o.state;
    if (o.action == KEEL_SERVO_ACTION_NONE) {
        /* Nothing to do: the daemon leaves the clock alone when unlocked;
         * keep returning the adjustment in force for callers that set it
         * anyway. */
        *state = KEEL_PULL_UNLOCKED;
        return p->last_ppb;
    }
    if (o.action == KEEL_SERVO_ACTION_STEP) {
        /* The daemon will step by -offset (the reading), not by o.step_ns. */
        *state = KEEL_PULL_JUMP;
        keel_servo_applied(&p->servo, true, -offset, o.freq_ppb_q32);
    }
    p->last_ppb = -(double)o.freq_ppb_q32 / Q32;
    return p->last_ppb;
}

void keel_pull_sync_interval(keel_pull_servo *p, double interval_s) {
    keel_servo_set_interval(&p->servo, (int64_t)(interval_s * 1e9));
}

void keel_pull_reset(keel_pull_servo *p) { keel_servo_reset(&p->servo); }

double keel_pull_rate_ratio(keel_pull_servo *p) {
    int64_t f;
    if (keel_servo_get_frequency(&p->servo, &f) != KEEL_STATUS_OK) return 1.0;
    return 1.0 + (double)f / Q32 * 1e-9;
}

void keel_pull_leap(keel_pull_servo *p, int leap) {
    /* KEEL_STATUS_UNAVAILABLE for PI and linreg: as linuxptp's PI, they
     * ignore it. */
    (void)keel_servo_leap(&p->servo, leap);
}
