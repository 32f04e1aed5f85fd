/* Replays a recorded simulation through the C API: each step's PHC triples go
 * through keel_phc_best_sample() and the servo, and what the Rust run applied
 * goes back through keel_servo_applied(). The Rust test compares every output
 * field with its own run, bit for bit. */
#include <string.h>

#include "keel.h"
#include "replay.h"

int keel_ctest_replay(int32_t kind, int64_t interval_ns, const keel_replay_step *steps,
                      size_t n, keel_replay_result *results) {
    keel_servo servo;
    keel_servo_config cfg;
    size_t i;
    if (keel_servo_config_default(kind, &cfg) != KEEL_STATUS_OK) return -1;
    cfg.interval_ns = interval_ns;
    if (keel_servo_init(&servo, &cfg) != KEEL_STATUS_OK) return -2;
    for (i = 0; i < n; i++) {
        const keel_replay_step *s = &steps[i];
        keel_replay_result *r = &results[i];
        memset(r, 0, sizeof *r);
        if (s->disruption) {
            if (keel_servo_disruption(&servo) != KEEL_STATUS_OK) return -3;
        }
        if (s->n_triples > 0) {
            r->phc_status = keel_phc_best_sample(s->triples, s->n_triples, &r->phc);
        } else {
            r->phc_status = KEEL_STATUS_NO_SAMPLE;
        }
        if (r->phc_status == KEEL_STATUS_OK) {
            r->servo_status = keel_servo_sample(&servo, r->phc.offset_ns, r->phc.local_ts_ns,
                                                r->phc.delay_ns / 2, &r->out);
        } else {
            r->servo_status = keel_servo_no_sample(&servo, s->local_ts_ns, &r->out);
        }
        if (r->servo_status != KEEL_STATUS_OK) return -4;
        if (s->report_applied) {
            if (keel_servo_applied(&servo, s->step_applied, s->step_ns, s->freq_ppb_q32) !=
                KEEL_STATUS_OK)
                return -5;
        }
    }
    keel_servo_deinit(&servo);
    return 0;
}
