/* keel's default servo, through libkeel's C API (include/keel.h), on a
 * Cortex-M4F under QEMU: replays the reference scenario's world side
 * (build/scenario.h, generated on the host from keel_core::sim) and folds
 * every servo output into the same digest as the Rust firmware and the host.
 * A C firmware's real loop looks the same, with the samples coming from its
 * PHC/PTP/NTP measurements and the actions going to its clock.
 *
 * Then keel's engine (keel_engine_*, the whole sync loop): the reference
 * engine scenario's answers (build/engine_scenario.h) are fed to it by
 * tests/c/engine_replay.c, which recomputes the digest of every command and
 * answer: it must equal the host's (and the Rust firmware's). */
#include <stdbool.h>
#include <stdint.h>

#include "engine_scenario.h"
#include "keel.h"
#include "scenario.h"
#include "semihosting.h"

static void fnv(uint64_t *h, uint64_t x)
{
    for (int i = 0; i < 8; i++) {
        *h ^= (x >> (8 * i)) & 0xFFu;
        *h *= 0x00000100000001B3ull;
    }
}

/* The digest of one output, in keel_core::sim::drive::digest_output's order. */
static void digest_output(uint64_t *h, const keel_servo_output *o)
{
    fnv(h, (uint64_t)o->action);
    fnv(h, o->action == KEEL_SERVO_ACTION_STEP ? (uint64_t)o->step_ns : 0u);
    fnv(h, (uint64_t)o->freq_ppb_q32);
    fnv(h, (uint64_t)o->state);
    fnv(h, (uint64_t)o->offset_ns);
    fnv(h, o->has_error_bound ? (uint64_t)o->error_bound_ns : UINT64_MAX);
    fnv(h, o->has_next_update ? (uint64_t)o->next_update_ns : UINT64_MAX);
}

static const char *state_name(keel_servo_state s)
{
    switch (s) {
    case KEEL_SERVO_STATE_UNLOCKED: return "Unlocked";
    case KEEL_SERVO_STATE_JUMP: return "Jump";
    case KEEL_SERVO_STATE_LOCKED: return "Locked";
    case KEEL_SERVO_STATE_LOCKED_STABLE: return "LockedStable";
    default: return "?";
    }
}

/* Caller-owned servo and engine storage, as keel.h asks. */
static keel_servo servo;
static keel_engine engine;

static const char *engine_state_name(keel_engine_state s)
{
    switch (s) {
    case KEEL_ENGINE_STATE_UNLOCKED: return "unlocked";
    case KEEL_ENGINE_STATE_JUMP: return "jump";
    case KEEL_ENGINE_STATE_LOCKED: return "locked";
    case KEEL_ENGINE_STATE_LOCKED_STABLE: return "locked-stable";
    case KEEL_ENGINE_STATE_HOLDOVER: return "holdover";
    default: return "?";
    }
}

/* The engine run: prints an ENGINE line; true when the digest equals the
 * host's and the engine ended locked. */
static bool engine_run(void)
{
    keel_engine_config cfg;
    keel_replay_result r;
    if (keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, &cfg) != KEEL_STATUS_OK) {
        return false;
    }
    /* default_engine(): the defaults, first update at 1 s, one PHC. */
    int rc = keel_engine_replay(&engine, &cfg, 1000000000u, keel_eng, KEEL_ENG_ANSWERS,
                                KEEL_ENG_UPDATES, &r);
    if (rc != 0) {
        sh_puts("ENGINE replay failed at step ");
        sh_put_i64(r.error);
        sh_puts(": ");
        sh_puts(keel_status_str(r.status));
        sh_puts("\n");
        return false;
    }
    bool same = r.hash == KEEL_ENG_HOST_HASH;
    bool locked = r.state == KEEL_ENGINE_STATE_LOCKED || r.state == KEEL_ENGINE_STATE_LOCKED_STABLE;
    sh_puts("ENGINE seed=");
    sh_put_u64(KEEL_ENG_SEED);
    sh_puts(" updates=");
    sh_put_u64(r.updates);
    sh_puts(" hash=");
    sh_put_hex(r.hash);
    sh_puts(" state=");
    sh_puts(engine_state_name(r.state));
    sh_puts(" steps=");
    sh_put_u64(r.steps);
    sh_puts(" disruptions=");
    sh_put_u64(r.disruptions);
    sh_puts(" interference=");
    sh_put_u64(r.interference);
    sh_puts(same ? " host_hash=equal\n" : " host_hash=DIFFERENT\n");
    return same && locked;
}

int main(void)
{
    keel_servo_config cfg;
    keel_status st = keel_servo_config_default(KEEL_SERVO_KIND_KALMAN, &cfg);
    if (st == KEEL_STATUS_OK) {
        st = keel_servo_init(&servo, &cfg);
    }
    if (st != KEEL_STATUS_OK) {
        sh_puts("keel_servo_init failed: ");
        sh_puts(keel_status_str(st));
        sh_puts("\n");
        return 1;
    }
    uint64_t h = 0xCBF29CE484222325ull;
    keel_servo_state state = KEEL_SERVO_STATE_UNLOCKED;
    int64_t locked_from = -1;
    uint32_t steps = 0, missed = 0;
    for (uint32_t k = 0; k < KEEL_SCN_UPDATES; k++) {
        const struct keel_scn_update *u = &keel_scn[k];
        if (u->flags & KEEL_SCN_DISRUPTED) {
            st = keel_servo_disruption(&servo);
            fnv(&h, 0xD15u);
        }
        fnv(&h, u->now_ns);
        fnv(&h, u->local_ns);
        keel_servo_output o;
        if (u->flags & KEEL_SCN_HAS_SAMPLE) {
            st = keel_servo_sample(&servo, u->offset_ns, u->local_ts_ns, u->uncertainty_ns, &o);
        } else {
            missed++;
            st = keel_servo_no_sample(&servo, u->local_ns, &o);
        }
        if (st != KEEL_STATUS_OK) {
            sh_puts("keel_servo_sample failed: ");
            sh_puts(keel_status_str(st));
            sh_puts("\n");
            return 1;
        }
        digest_output(&h, &o);
        if (o.action != KEEL_SERVO_ACTION_NONE) {
            /* Apply o.step_ns / o.freq_ppb_q32 to the clock here, then: */
            bool stepped = o.action == KEEL_SERVO_ACTION_STEP;
            steps += stepped;
            st = keel_servo_applied(&servo, stepped, o.step_ns, o.freq_ppb_q32);
        }
        fnv(&h, (uint64_t)u->true_offset_whole_ns);
        fnv(&h, u->true_offset_frac_bits);
        state = o.state;
        if (state == KEEL_SERVO_STATE_LOCKED || state == KEEL_SERVO_STATE_LOCKED_STABLE) {
            if (locked_from < 0) {
                locked_from = (int64_t)k;
            }
        } else {
            locked_from = -1;
        }
    }
    bool same = h == KEEL_SCN_HOST_HASH;
    sh_puts("RESULT seed=");
    sh_put_u64(KEEL_SCN_SEED);
    sh_puts(" updates=");
    sh_put_u64(KEEL_SCN_UPDATES);
    sh_puts(" hash=");
    sh_put_hex(h);
    sh_puts(" state=");
    sh_puts(state_name(state));
    sh_puts(" locked_from=");
    sh_put_i64(locked_from);
    sh_puts(" steps=");
    sh_put_u64(steps);
    sh_puts(" missed=");
    sh_put_u64(missed);
    sh_puts(same ? " host_hash=equal\n" : " host_hash=DIFFERENT\n");
    bool engine_ok = engine_run();
    return same && locked_from >= 0 && engine_ok ? 0 : 1;
}
