#ifndef KEEL_CTEST_REPLAY_H
#define KEEL_CTEST_REPLAY_H
#include "keel.h"

/* Mirrored by #[repr(C)] structs in tests/tests/ffi_c.rs. */
typedef struct keel_replay_step {
    keel_phc_triple triples[KEEL_PHC_MAX_SAMPLES];
    size_t n_triples; /* 0: the read failed */
    uint64_t local_ts_ns; /* the local time, for keel_servo_no_sample */
    int64_t step_ns;
    int64_t freq_ppb_q32;
    bool disruption; /* call keel_servo_disruption first */
    bool report_applied;
    bool step_applied;
} keel_replay_step;

typedef struct keel_replay_result {
    keel_phc_sample phc;
    keel_servo_output out;
    int32_t phc_status;
    int32_t servo_status;
} keel_replay_result;

int keel_ctest_replay(int32_t kind, int64_t interval_ns, const keel_replay_step *steps,
                      size_t n, keel_replay_result *results);
#endif
