/* Replays a recorded engine run through libkeel's keel_engine_* API and
 * recomputes its digest, in keel_core::sim::engine_loop's order: each
 * command (kind word, then its fields), a disruption (0xD15), a reading (its
 * offset and local time) or a failed read (0xE44), and the true offset at
 * every wait. FNV-1a over each 64-bit word's little-endian bytes. */
#include "engine_replay.h"

#define DIGEST_START 0xCBF29CE484222325ull

static void word(uint64_t *h, uint64_t x) {
    int i;
    for (i = 0; i < 8; i++) {
        *h ^= (x >> (8 * i)) & 0xFFu;
        *h *= 0x00000100000001B3ull;
    }
}

static uint64_t bits(int64_t x) { return (uint64_t)x; }

/* keel_core::sim::engine_loop::digest_command. */
static void digest_command(uint64_t *h, const keel_engine_command *c) {
    switch (c->kind) {
    case KEEL_ENGINE_COMMAND_KIND_WAIT:
        word(h, 1);
        word(h, c->wait_until_ns);
        break;
    case KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK: word(h, 2); break;
    case KEEL_ENGINE_COMMAND_KIND_READ:
        word(h, 3);
        word(h, c->read_source);
        word(h, c->read_samples);
        break;
    case KEEL_ENGINE_COMMAND_KIND_ADJUST:
        word(h, 4);
        word(h, c->adjust_has_freq ? bits(c->adjust_freq_ppb_q32) : UINT64_MAX);
        if (!c->adjust_has_status) {
            word(h, UINT64_MAX);
        } else {
            word(h, bits(c->adjust_maxerror_us));
            word(h, bits(c->adjust_esterror_us));
            word(h, c->adjust_unsync ? 1u : 0u);
            word(h, (uint64_t)c->adjust_leap);
            word(h, c->adjust_has_tai_offset ? bits(c->adjust_tai_offset_s) : UINT64_MAX);
        }
        break;
    case KEEL_ENGINE_COMMAND_KIND_STEP:
        word(h, 5);
        word(h, bits(c->step_ns));
        break;
    case KEEL_ENGINE_COMMAND_KIND_SAVE_STATE:
        word(h, 6);
        word(h, bits(c->save_freq_ppb_q32));
        word(h, bits(c->save_sd_ppb_q32));
        break;
    default: word(h, 7); break;
    }
}

/* Fails the replay: where (`error`) and the call's status. */
static int fail(keel_replay_result *out, int32_t error, keel_status st) {
    out->error = error;
    out->status = (int32_t)st;
    return error;
}

int keel_engine_replay(keel_engine *engine, const keel_engine_config *config,
                       uint64_t first_update_ns, const keel_replay_answer *answers, size_t n,
                       uint64_t updates, keel_replay_result *out) {
    uint64_t h = DIGEST_START, now = 0;
    size_t i = 0;
    uint8_t phc;
    keel_status st;
    keel_engine_command c;
    keel_engine_snapshot s;
    out->error = 0;
    out->status = 0;
    if ((st = keel_engine_init(engine, config, first_update_ns)) != KEEL_STATUS_OK)
        return fail(out, 1, st);
    if ((st = keel_engine_add_source(engine, KEEL_SOURCE_KIND_PHC, 0, false, &phc)) != KEEL_STATUS_OK)
        return fail(out, 2, st);
    for (;;) {
        const keel_replay_answer *a;
        while (i < n && answers[i].kind == KEEL_REPLAY_NOW) now = answers[i++].a;
        if (i < n && answers[i].kind == KEEL_REPLAY_DISRUPTION) {
            st = keel_engine_on_disruption(engine, answers[i].a, answers[i].code);
            if (st != KEEL_STATUS_OK) return fail(out, 3, st);
            word(&h, 0xD15);
            i++;
        }
        if ((st = keel_engine_poll(engine, now, &c)) != KEEL_STATUS_OK) return fail(out, 4, st);
        digest_command(&h, &c);
        if (c.kind == KEEL_ENGINE_COMMAND_KIND_SAVE_STATE) continue; /* keep it: nothing to answer */
        if (c.kind == KEEL_ENGINE_COMMAND_KIND_HALT) break;
        if (i >= n) return fail(out, 5, KEEL_STATUS_OK); /* the recording ends too soon */
        a = &answers[i++];
        switch (c.kind) {
        case KEEL_ENGINE_COMMAND_KIND_WAIT:
            if (a->kind != KEEL_REPLAY_TRUE_OFFSET) return fail(out, 6, KEEL_STATUS_OK);
            word(&h, a->a);
            word(&h, a->b);
            if ((st = keel_engine_status(engine, &s)) != KEEL_STATUS_OK) return fail(out, 7, st);
            if (s.updates >= updates) goto done;
            break;
        case KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK:
            if (a->kind != KEEL_REPLAY_CHECK) return fail(out, 8, KEEL_STATUS_OK);
            st = keel_engine_on_clock_check(engine, &a->check);
            break;
        case KEEL_ENGINE_COMMAND_KIND_READ:
            if (a->kind == KEEL_REPLAY_READING) {
                word(&h, bits(a->reading.offset_ns));
                word(&h, a->reading.local_ts_ns);
                st = keel_engine_on_reading(engine, c.read_source, &a->reading);
            } else if (a->kind == KEEL_REPLAY_READ_ERROR) {
                word(&h, 0xE44);
                st = keel_engine_on_read_error(engine, c.read_source, a->code, a->a);
            } else {
                return fail(out, 9, KEEL_STATUS_OK);
            }
            break;
        case KEEL_ENGINE_COMMAND_KIND_ADJUST:
            if (a->kind != KEEL_REPLAY_ADJUSTED) return fail(out, 10, KEEL_STATUS_OK);
            st = keel_engine_on_adjusted(engine, true, (int64_t)a->b, a->a);
            break;
        case KEEL_ENGINE_COMMAND_KIND_STEP:
            if (a->kind != KEEL_REPLAY_STEPPED) return fail(out, 11, KEEL_STATUS_OK);
            st = keel_engine_on_stepped(engine, true);
            break;
        default: return fail(out, 12, KEEL_STATUS_OK);
        }
        if (st != KEEL_STATUS_OK) return fail(out, 13, st);
    }
done:
    if ((st = keel_engine_status(engine, &s)) != KEEL_STATUS_OK) return fail(out, 14, st);
    out->hash = h;
    out->updates = s.updates;
    out->steps = s.steps;
    out->disruptions = s.disruptions;
    out->interference = s.interference;
    out->answers_used = i;
    out->state = s.state;
    return 0;
}
