/* The engine's side of the one digest: a run of keel's engine recorded in
 * Rust (keel_core::sim::engine_loop, every answer the simulated world gave)
 * is fed to a keel_engine through libkeel, and the digest of every command
 * and answer is recomputed. Portable C99 without libc: the C tests
 * (tests/tests/ffi_c.rs) and the C firmware (examples/firmware-c) both
 * compile it. Mirrored by #[repr(C)] structs in tests/tests/ffi_c.rs. */
#ifndef KEEL_ENGINE_REPLAY_H
#define KEEL_ENGINE_REPLAY_H
#include "keel.h"

/* keel_replay_answer.kind: keel_core::sim::engine_loop::Answer's variants. */
#define KEEL_REPLAY_NOW 0u         /* a: the loop time now, ns */
#define KEEL_REPLAY_DISRUPTION 1u  /* a: loop time; code: a keel_disruption */
#define KEEL_REPLAY_CHECK 2u       /* check */
#define KEEL_REPLAY_READING 3u     /* reading */
#define KEEL_REPLAY_READ_ERROR 4u  /* code: a keel_read_error; a: the clock now, ns */
#define KEEL_REPLAY_ADJUSTED 5u    /* a: when it took effect, ns; b: freq, ppb 32.32 */
#define KEEL_REPLAY_STEPPED 6u     /* (always applied) */
#define KEEL_REPLAY_TRUE_OFFSET 7u /* a: whole ns (int64 bits); b: the fraction's double bits */

typedef struct keel_replay_answer {
    uint32_t kind;
    int32_t code;
    uint64_t a;
    uint64_t b;
    keel_engine_reading reading;
    keel_engine_clock_check check;
} keel_replay_answer;

typedef struct keel_replay_result {
    uint64_t hash;           /* the digest of every command, answer and wake-up */
    uint64_t updates;        /* the engine's counters at the end */
    uint64_t steps;
    uint64_t disruptions;
    uint64_t interference;
    size_t answers_used;
    keel_engine_state state; /* at the end */
    int32_t error;           /* 0, or where the replay failed (see engine_replay.c) */
    int32_t status;          /* the keel_status of the call that failed */
} keel_replay_result;

/* Runs `engine` (storage from the caller), initialised from `config` with
 * one PHC source and its first update at `first_update_ns`, on the recorded
 * `answers` until it has made `updates` updates. Returns 0 and fills *out
 * on success; on failure out->error says where. */
int keel_engine_replay(keel_engine *engine, const keel_engine_config *config,
                       uint64_t first_update_ns, const keel_replay_answer *answers, size_t n,
                       uint64_t updates, keel_replay_result *out);
#endif
