/* The engine's NTP calls through the C API: the conventions of
 * keel_engine_ntp_policy_default, keel_engine_add_ntp_source,
 * keel_engine_on_ntp_sample, keel_engine_on_ntp_kiss and
 * keel_engine_ntp_source_status (NULL checks, use before init, struct_size,
 * wrong source kinds, out-pointers untouched on error, no disturbance of the
 * answer a poll asked for), and a PHC with three NTP servers driven as a C
 * daemon drives them: every SEND_NTP is answered by a request built with
 * keel_ntp_request_*, a reply from keel_ntp_server_reply on a server clock
 * that is true time, and keel_ntp_process_reply's sample. The PHC's host
 * steps 1 ms and steps back. Run by tests/tests/ffi_engine.rs
 * (keel_ctest_engine_ntp). */
#include <stdio.h>
#include <string.h>

#include "keel.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "engine_ntp_test.c:%d: CHECK failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* True time 0 of the model, Unix ns (November 2023). */
#define UNIX0 1700000000000000000ULL
#define S 1000000000ULL

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Uniform in [0, 1). */
static double uniform(uint64_t *x) {
    return (double)(xorshift(x) >> 11) / 9007199254740992.0;
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

static double absd(double v) { return v < 0 ? -v : v; }

/* One NTP exchange with a server whose clock is true time, as a daemon does
 * it: a request with a random cookie, sent at t1 (the sink's clock); the
 * server's reply built at t2/t3 (true time, d1_ns after the send, held
 * 20 µs); the reply processed at t4 (the sink's clock, d2_ns later).
 * `true_ns` is true time at the send, Unix ns; `sink_ahead_ns` the sink's
 * offset from true time. Returns keel_ntp_process_reply's status. */
static keel_status exchange(uint64_t cookie, int8_t poll, uint64_t true_ns, int64_t sink_ahead_ns,
                            int64_t d1_ns, int64_t d2_ns, keel_ntp_sample *out) {
    keel_ntp_request req;
    keel_ntp_server_clock clk;
    uint8_t q[KEEL_NTP_PACKET_LEN], r[64];
    size_t qn = 0, rn = 0;
    const int64_t hold = 20000;
    uint64_t t1 = true_ns + (uint64_t)sink_ahead_ns;
    uint64_t t2 = true_ns + (uint64_t)d1_ns;
    uint64_t t3 = t2 + (uint64_t)hold;
    uint64_t t4 = t3 + (uint64_t)d2_ns + (uint64_t)sink_ahead_ns;
    CHECK(keel_ntp_request_new(cookie, poll, &req) == KEEL_STATUS_OK);
    CHECK(keel_ntp_request_emit(&req, q, sizeof q, &qn) == KEEL_STATUS_OK && qn == sizeof q);
    memset(&clk, 0, sizeof clk);
    clk.struct_size = sizeof clk;
    clk.synchronized = true;
    clk.leap = 0;
    clk.stratum = 1;
    clk.precision = -20;
    memcpy(clk.reference_id, "GPS", 4);
    clk.reference_time_ns = t2 - S;
    clk.root_delay_ns = 0;
    clk.error_bound_ns = 10000;
    CHECK(keel_ntp_server_reply(&clk, q, qn, t2, t3, r, sizeof r, &rn) == KEEL_STATUS_OK);
    return keel_ntp_process_reply(&req, r, rn, t1, t4, NULL, out);
}

static void ntp_conventions(void) {
    keel_engine e;
    keel_engine_config cfg;
    keel_engine_ntp_policy p;
    keel_engine_ntp_source_snapshot ns;
    keel_engine_snapshot s;
    keel_engine_command cmd;
    keel_engine_clock_check chk;
    keel_engine_reading r;
    keel_ntp_sample smp, bad;
    uint8_t id = 0xAA, phc = 0xAA, ntp = 0xAA;
    uint64_t cookie = 0x1234;

    CHECK(keel_engine_ntp_policy_default(NULL) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_ntp_policy_default(&p) == KEEL_STATUS_OK);
    CHECK(p.struct_size == sizeof p && p.minpoll == 6 && p.maxpoll == 10);
    CHECK(!p.iburst && !p.prefer && !p.noselect);
    CHECK(exchange(1, 4, UNIX0, 1500, 100000, 100000, &smp) == KEEL_STATUS_OK);
    /* NTP timestamps carry 2^-32 s: within 1 ns. */
    CHECK(abs64(smp.offset_ns - 1500) <= 1 && abs64(smp.delay_ns - 200000) <= 1);
    CHECK(smp.stratum == 1 && smp.leap == 0);

    /* Use before init. */
    memset(&e, 0, sizeof e);
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, &id) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(keel_engine_on_ntp_sample(&e, 0, 0, &smp) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(keel_engine_on_ntp_kiss(&e, 0, 0, KEEL_STATUS_NTP_KISS_RATE, 6) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(keel_engine_ntp_source_status(&e, 0, 0, &ns) == KEEL_STATUS_NOT_INITIALIZED);
    CHECK(id == 0xAA);

    CHECK(keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, &cfg) == KEEL_STATUS_OK);
    CHECK(keel_engine_init(&e, &cfg, 1000 * S) == KEEL_STATUS_OK);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &phc) == KEEL_STATUS_OK && phc == 0);
    CHECK(keel_engine_status(&e, &s) == KEEL_STATUS_OK);
    CHECK(s.outvoted == 0 && !s.phc_rejected);

    /* keel_engine_add_ntp_source: NULLs, struct_size, poll ranges. */
    CHECK(keel_engine_add_ntp_source(NULL, &p, 0, &id) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_add_ntp_source(&e, NULL, 0, &id) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, NULL) == KEEL_STATUS_NULL_POINTER);
    p.struct_size--;
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, &id) == KEEL_STATUS_STRUCT_SIZE);
    p.struct_size++;
    p.minpoll = 7;
    p.maxpoll = 6;
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, &id) == KEEL_STATUS_INVALID_ARGUMENT);
    p.minpoll = -7;
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, &id) == KEEL_STATUS_INVALID_ARGUMENT);
    p.minpoll = 4;
    p.maxpoll = 18;
    CHECK(keel_engine_add_ntp_source(&e, &p, 0, &id) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(id == 0xAA); /* untouched on error */
    p.maxpoll = 5;
    p.iburst = true;
    CHECK(keel_engine_add_ntp_source(&e, &p, 500 * S, &ntp) == KEEL_STATUS_OK && ntp == 1);

    /* Asked at its own start time, before the first update, at minpoll. */
    CHECK(keel_engine_poll(&e, 500 * S, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_SEND_NTP && cmd.read_source == ntp && cmd.ntp_poll == 4);
    CHECK(exchange(cookie, cmd.ntp_poll, UNIX0 + 500 * S, 2000, 150000, 150000, &smp) == KEEL_STATUS_OK);

    /* keel_engine_on_ntp_sample: NULLs, sources that are not NTP ones,
     * samples keel_ntp_process_reply never writes. */
    CHECK(keel_engine_on_ntp_sample(NULL, 500 * S, ntp, &smp) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, NULL) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, phc, &smp) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, 2, &smp) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, 255, &smp) == KEEL_STATUS_INVALID_ARGUMENT);
    bad = smp;
    bad.leap = 4;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad.leap = 3; /* unsynchronised */
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad = smp;
    bad.delay_ns = -1;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad = smp;
    bad.root_dispersion_ns = -1;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad = smp;
    bad.dispersion_ns = -1;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad = smp;
    bad.stratum = 0;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    bad.stratum = 16;
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &bad) == KEEL_STATUS_INVALID_ARGUMENT);
    /* Nothing was taken yet: reach 0 (one request out), no estimate. */
    memset(&ns, 0x5A, sizeof ns);
    CHECK(keel_engine_ntp_source_status(&e, ntp, smp.local_receive_ns, &ns) == KEEL_STATUS_OK);
    CHECK(ns.reach == 0 && ns.poll == 4 && !ns.has_estimate && ns.offset_ns == 0);
    /* No question was asked: the sample is no unexpected answer. */
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &smp) == KEEL_STATUS_OK);

    /* keel_engine_ntp_source_status: one sample, its own interval. */
    memset(&ns, 0x5A, sizeof ns);
    CHECK(keel_engine_ntp_source_status(NULL, ntp, 0, &ns) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_ntp_source_status(&e, ntp, 0, NULL) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_ntp_source_status(&e, phc, 0, &ns) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_ntp_source_status(&e, 3, 0, &ns) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(((const unsigned char *)&ns)[0] == 0x5A); /* untouched on error */
    CHECK(keel_engine_ntp_source_status(&e, ntp, smp.local_receive_ns, &ns) == KEEL_STATUS_OK);
    CHECK(ns.reach == 1 && ns.poll == 4 && ns.has_estimate);
    CHECK(ns.offset_ns == smp.offset_ns && abs64(ns.offset_ns - 2000) <= 1);
    CHECK(ns.delay_ns == smp.delay_ns && ns.jitter_ns == 0 && ns.taken_ns == smp.local_receive_ns);
    /* At the sample's own time, with no root delay: its root distance. */
    CHECK(ns.half_width_ns == smp.root_distance_ns);
    /* A duplicate (no request out) is ignored. */
    CHECK(keel_engine_on_ntp_sample(&e, 500 * S, ntp, &smp) == KEEL_STATUS_OK);
    CHECK(keel_engine_ntp_source_status(&e, ntp, smp.local_receive_ns, &ns) == KEEL_STATUS_OK);
    CHECK(ns.reach == 1);

    /* keel_engine_on_ntp_kiss: the kiss is keel_ntp_process_reply's status. */
    CHECK(keel_engine_on_ntp_kiss(NULL, 500 * S, ntp, KEEL_STATUS_NTP_KISS_RATE, 10) == KEEL_STATUS_NULL_POINTER);
    CHECK(keel_engine_on_ntp_kiss(&e, 500 * S, ntp, KEEL_STATUS_OK, 10) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_ntp_kiss(&e, 500 * S, ntp, KEEL_STATUS_NTP_ORIGIN_MISMATCH, 10) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_ntp_kiss(&e, 500 * S, phc, KEEL_STATUS_NTP_KISS_RATE, 10) == KEEL_STATUS_INVALID_ARGUMENT);
    CHECK(keel_engine_on_ntp_kiss(&e, 500 * S, ntp, KEEL_STATUS_NTP_KISS_OTHER, 10) == KEEL_STATUS_OK);
    CHECK(keel_engine_ntp_source_status(&e, ntp, 0, &ns) == KEEL_STATUS_OK && ns.poll == 4);
    /* RATE: the poll lengthens, at most to maxpoll (5). */
    CHECK(keel_engine_on_ntp_kiss(&e, 500 * S, ntp, KEEL_STATUS_NTP_KISS_RATE, 10) == KEEL_STATUS_OK);
    CHECK(keel_engine_ntp_source_status(&e, ntp, 0, &ns) == KEEL_STATUS_OK && ns.poll == 5);

    /* Capacity: two more NTP sources fit, then one PPS source (a second
     * is refused) and PHC sources to the last slot; a ninth source does
     * not. */
    CHECK(keel_engine_ntp_policy_default(&p) == KEEL_STATUS_OK);
    CHECK(keel_engine_add_ntp_source(&e, &p, 2000 * S, &id) == KEEL_STATUS_OK && id == 2);
    CHECK(keel_engine_add_ntp_source(&e, &p, 2000 * S, &id) == KEEL_STATUS_OK && id == 3);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PPS, 0, false, &id) == KEEL_STATUS_OK && id == 4);
    CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PPS, 0, false, &id) == KEEL_STATUS_NO_CAPACITY && id == 4);
    for (uint8_t k = 5; k < KEEL_ENGINE_MAX_SOURCES; k++) {
        CHECK(keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &id) == KEEL_STATUS_OK && id == k);
    }
    id = 0xAA;
    CHECK(keel_engine_add_ntp_source(&e, &p, 2000 * S, &id) == KEEL_STATUS_NO_CAPACITY && id == 0xAA);

    /* At the first update the source is due again (32 s after the RATE
     * kiss), at its new poll; then a clock check and a PHC read. NTP calls
     * between a question and its answer change nothing about which answer
     * is expected. */
    CHECK(keel_engine_poll(&e, 1000 * S, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_SEND_NTP && cmd.read_source == ntp && cmd.ntp_poll == 5);
    CHECK(exchange(++cookie, cmd.ntp_poll, UNIX0 + 1000 * S, -3000, 100000, 100000, &smp) == KEEL_STATUS_OK);
    CHECK(keel_engine_poll(&e, 1000 * S, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK);
    CHECK(keel_engine_on_ntp_kiss(&e, 1000 * S, ntp, KEEL_STATUS_NTP_KISS_OTHER, 0) == KEEL_STATUS_OK);
    memset(&chk, 0, sizeof chk);
    chk.raw_ns = 1000 * S;
    chk.sink_ns = UNIX0 + 1000 * S;
    chk.wall_ns = chk.sink_ns;
    CHECK(keel_engine_on_clock_check(&e, &chk) == KEEL_STATUS_OK);
    CHECK(keel_engine_poll(&e, 1000 * S, &cmd) == KEEL_STATUS_OK);
    CHECK(cmd.kind == KEEL_ENGINE_COMMAND_KIND_READ && cmd.read_source == phc);
    CHECK(keel_engine_on_ntp_sample(&e, 1000 * S, ntp, &smp) == KEEL_STATUS_OK);
    CHECK(keel_engine_on_ntp_kiss(&e, 1000 * S, ntp, KEEL_STATUS_NTP_KISS_OTHER, 0) == KEEL_STATUS_OK);
    CHECK(keel_engine_ntp_source_status(&e, ntp, smp.local_receive_ns, &ns) == KEEL_STATUS_OK);
    CHECK(ns.reach == 3 && ns.poll == 5 && ns.has_estimate && abs64(ns.offset_ns + 3000) <= 1);
    CHECK(keel_engine_on_clock_check(&e, &chk) == KEEL_STATUS_UNEXPECTED_ANSWER);
    r.offset_ns = 0;
    r.local_ts_ns = chk.sink_ns;
    r.delay_ns = 40;
    r.uncertainty_ns = 20;
    r.noise_limited = 0;
    CHECK(keel_engine_on_reading(&e, phc, &r) == KEEL_STATUS_OK);
    /* DENY: the server is not asked again (sources 2 and 3 are, from
     * their start time). */
    CHECK(keel_engine_on_ntp_kiss(&e, 1000 * S, ntp, KEEL_STATUS_NTP_KISS_DENY, 0) == KEEL_STATUS_OK);
    {
        int polls = 0, asked[4] = {0, 0, 0, 0};
        uint64_t t = 1000 * S;
        while (polls++ < 20000 && t < 2050 * S) {
            CHECK(keel_engine_poll(&e, t, &cmd) == KEEL_STATUS_OK);
            if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_WAIT)
                t = cmd.wait_until_ns;
            else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_SEND_NTP)
                asked[cmd.read_source & 3]++;
            else if (cmd.kind == KEEL_ENGINE_COMMAND_KIND_HALT)
                break;
            /* other questions unanswered: the pull-style assumptions */
        }
        CHECK(asked[1] == 0 && asked[2] == 1 && asked[3] == 1);
    }
    CHECK(keel_engine_deinit(&e) == KEEL_STATUS_OK);
    CHECK(keel_engine_on_ntp_sample(&e, 0, ntp, &smp) == KEEL_STATUS_NOT_INITIALIZED);
}

/* The clock a C daemon steers (CLOCK_REALTIME), a PHC whose host can step,
 * three NTP servers on true time. Loop time is true time, ns since the
 * start. */
typedef struct {
    keel_engine e;
    uint64_t t;
    double offset_ns;   /* sink − true time */
    double natural_ppb; /* the sink's oscillator, uncorrected */
    int64_t freq_q32;   /* the correction keel wrote, ppb 32.32 */
    double host_ns;     /* PHC − true time */
    uint64_t rng;
    uint8_t phc;
    /* what the daemon saw */
    uint64_t phc_reads, ntp_sent, ntp_taken;
    int rejected, restored, disputed;
    uint64_t rejected_at_read; /* PHC reads since phc_reads_mark */
    uint64_t phc_reads_mark;
    int64_t rejected_phc_ns;
    double worst_ns; /* max |sink − true| since worst_from */
    uint64_t worst_from;
} world;

static uint64_t sink_ns(const world *w) {
    return UNIX0 + w->t + (uint64_t)(int64_t)w->offset_ns;
}

static void advance(world *w, uint64_t t) {
    if (t > w->t) {
        double corr = (double)w->freq_q32 / 4294967296.0;
        w->offset_ns += (double)(t - w->t) * (w->natural_ppb + corr) * 1e-9;
        w->t = t;
    }
}

static void take_notices(world *w) {
    keel_engine_notice n;
    while (keel_engine_take_notice(&w->e, &n) == KEEL_STATUS_OK) {
        if (n.kind == KEEL_ENGINE_NOTICE_KIND_PHC_REJECTED) {
            if (!w->rejected) {
                w->rejected_at_read = w->phc_reads - w->phc_reads_mark;
                w->rejected_phc_ns = n.duration_ns;
            }
            w->rejected++;
        } else if (n.kind == KEEL_ENGINE_NOTICE_KIND_PHC_RESTORED) {
            w->restored++;
        } else if (n.kind == KEEL_ENGINE_NOTICE_KIND_PHC_DISPUTED) {
            w->disputed++;
        }
    }
}

/* Answers every command as a careful daemon does, until loop time `end`. */
static void drive(world *w, uint64_t end) {
    long polls = 0;
    while (polls++ < 10000000L) {
        keel_engine_command cmd;
        if (keel_engine_poll(&w->e, w->t, &cmd) != KEEL_STATUS_OK) {
            CHECK(0);
            return;
        }
        switch (cmd.kind) {
        case KEEL_ENGINE_COMMAND_KIND_WAIT:
            if (cmd.wait_until_ns > end) {
                advance(w, end);
                take_notices(w);
                return;
            }
            advance(w, cmd.wait_until_ns);
            break;
        case KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK: {
            keel_engine_clock_check c;
            memset(&c, 0, sizeof c);
            c.has_kernel_freq = true;
            c.kernel_freq_ppb_q32 = w->freq_q32;
            c.raw_ns = w->t;
            c.sink_ns = sink_ns(w);
            c.pair_width_ns = 0;
            c.has_suspended = true;
            c.suspended_ns = 0;
            c.wall_ns = c.sink_ns;
            c.leap = 0;
            CHECK(keel_engine_on_clock_check(&w->e, &c) == KEEL_STATUS_OK);
            break;
        }
        case KEEL_ENGINE_COMMAND_KIND_READ: {
            keel_engine_reading r;
            double noise = (uniform(&w->rng) * 2.0 - 1.0) * 10.0;
            CHECK(cmd.read_source == w->phc);
            r.offset_ns = (int64_t)(w->offset_ns - w->host_ns + noise);
            r.local_ts_ns = sink_ns(w);
            r.delay_ns = 40;
            r.uncertainty_ns = 20;
            r.noise_limited = 0;
            CHECK(keel_engine_on_reading(&w->e, cmd.read_source, &r) == KEEL_STATUS_OK);
            w->phc_reads++;
            break;
        }
        case KEEL_ENGINE_COMMAND_KIND_ADJUST:
            if (cmd.adjust_has_freq)
                w->freq_q32 = cmd.adjust_freq_ppb_q32;
            CHECK(keel_engine_on_adjusted(&w->e, true, w->freq_q32, sink_ns(w)) == KEEL_STATUS_OK);
            break;
        case KEEL_ENGINE_COMMAND_KIND_STEP:
            w->offset_ns += (double)cmd.step_ns;
            CHECK(keel_engine_on_stepped(&w->e, true) == KEEL_STATUS_OK);
            break;
        case KEEL_ENGINE_COMMAND_KIND_SAVE_STATE:
            break;
        case KEEL_ENGINE_COMMAND_KIND_SEND_NTP: {
            /* 150 µs each way plus up to 60 µs of queueing each way. */
            keel_ntp_sample smp;
            int64_t d1 = 150000 + (int64_t)(uniform(&w->rng) * 60000.0);
            int64_t d2 = 150000 + (int64_t)(uniform(&w->rng) * 60000.0);
            keel_status st = exchange(xorshift(&w->rng), cmd.ntp_poll, UNIX0 + w->t,
                                      (int64_t)w->offset_ns, d1, d2, &smp);
            w->ntp_sent++;
            CHECK(st == KEEL_STATUS_OK);
            if (st == KEEL_STATUS_OK) {
                CHECK(keel_engine_on_ntp_sample(&w->e, w->t, cmd.read_source, &smp) == KEEL_STATUS_OK);
                w->ntp_taken++;
            }
            break;
        }
        case KEEL_ENGINE_COMMAND_KIND_HALT:
        default:
            CHECK(0);
            return;
        }
        take_notices(w);
        if (w->t >= w->worst_from && absd(w->offset_ns) > w->worst_ns)
            w->worst_ns = absd(w->offset_ns);
    }
    CHECK(0); /* the engine never waited */
}

/* The PHC's host steps 1 ms at 300 s: the three NTP servers outvote the PHC
 * and reject it within 3 PHC reads, before the clock follows it; NTP steers
 * the clock within 100 µs of true time; the host steps back at 400 s and
 * the PHC steers again. */
static void phc_and_three_servers(void) {
    static world w; /* 5 KiB of engine: not on the stack */
    keel_engine_config cfg;
    keel_engine_ntp_policy p;
    keel_engine_snapshot s;
    keel_engine_ntp_source_snapshot ns;
    uint8_t id;
    int k;

    memset(&w, 0, sizeof w);
    w.t = 1 * S;
    w.offset_ns = 500000.0; /* 0.5 ms ahead */
    w.natural_ppb = 30000.0; /* 30 ppm fast */
    w.rng = 0x9E3779B97F4A7C15ULL;
    w.worst_from = 100 * S;
    CHECK(keel_engine_config_default(KEEL_SERVO_KIND_KALMAN, &cfg) == KEEL_STATUS_OK);
    CHECK(keel_engine_init(&w.e, &cfg, 1 * S) == KEEL_STATUS_OK);
    CHECK(keel_engine_add_source(&w.e, KEEL_SOURCE_KIND_PHC, 0, false, &w.phc) == KEEL_STATUS_OK);
    CHECK(keel_engine_ntp_policy_default(&p) == KEEL_STATUS_OK);
    p.minpoll = 6;
    p.maxpoll = 6;
    p.iburst = true;
    for (k = 0; k < 3; k++) {
        CHECK(keel_engine_add_ntp_source(&w.e, &p, 1 * S, &id) == KEEL_STATUS_OK);
        CHECK(id == k + 1);
    }

    /* Settled on the PHC, the NTP servers agreeing. */
    drive(&w, 300 * S);
    CHECK(absd(w.offset_ns) < 1000.0);
    CHECK(w.ntp_taken == w.ntp_sent && w.ntp_taken >= 3 * 8);
    CHECK(w.rejected == 0 && w.disputed == 0);
    CHECK(keel_engine_status(&w.e, &s) == KEEL_STATUS_OK);
    CHECK(!s.phc_rejected && s.has_source && s.source == w.phc);

    /* The host steps 1 ms: PHC − true time = +1 ms. */
    w.host_ns = 1000000.0;
    w.phc_reads_mark = w.phc_reads;
    drive(&w, 400 * S);
    CHECK(w.rejected == 1);
    CHECK(w.rejected_at_read >= 1 && w.rejected_at_read <= 3);
    /* The notice's duration: sink − PHC at the last reading, about −1 ms. */
    CHECK(abs64(w.rejected_phc_ns + 1000000) < 50000);
    CHECK(keel_engine_status(&w.e, &s) == KEEL_STATUS_OK);
    CHECK(s.phc_rejected && s.outvoted >= 3);
    CHECK(s.has_source && s.source != w.phc); /* NTP steers */
    CHECK(w.worst_ns < 100000.0);
    /* Every server answered every request, at poll 6; its estimate is
     * within 20 µs of the truth (the servers are true time) and its
     * interval holds the truth. The jitter is large (about 190 µs here):
     * the stages taken while the frequency moved at the change to NTP are
     * predicted with that frequency's error. */
    for (k = 1; k <= 3; k++) {
        uint64_t now = sink_ns(&w);
        double err;
        memset(&ns, 0, sizeof ns);
        CHECK(keel_engine_ntp_source_status(&w.e, (uint8_t)k, now, &ns) == KEEL_STATUS_OK);
        CHECK(ns.reach == 0xFF && ns.poll == 6 && ns.has_estimate);
        err = (double)ns.offset_ns - w.offset_ns;
        CHECK(absd(err) < 20000.0 && absd(err) <= (double)ns.half_width_ns);
        CHECK(ns.half_width_ns > 0 && ns.half_width_ns < 1000000);
        CHECK(ns.delay_ns >= 300000 && ns.delay_ns <= 420000);
        CHECK(ns.jitter_ns >= 0 && ns.jitter_ns <= ns.half_width_ns);
        /* from the last 8 requests, 64 s apart */
        CHECK(ns.taken_ns <= now && now - ns.taken_ns < 8 * 64 * S);
        if (failures)
            fprintf(stderr, "NTP source %d: reach %#x poll %d offset %lld ± %lld ns (truth %.0f), "
                            "delay %lld, jitter %lld, age %.1f s\n",
                    k, ns.reach, ns.poll, (long long)ns.offset_ns, (long long)ns.half_width_ns,
                    w.offset_ns, (long long)ns.delay_ns, (long long)ns.jitter_ns,
                    (double)(now - ns.taken_ns) / 1e9);
    }

    /* The host is back: the PHC steers again after its probation. */
    w.host_ns = 0.0;
    drive(&w, 600 * S);
    CHECK(w.restored == 1);
    CHECK(keel_engine_status(&w.e, &s) == KEEL_STATUS_OK);
    CHECK(!s.phc_rejected && s.source == w.phc);
    CHECK(w.worst_ns < 100000.0);
    CHECK(absd(w.offset_ns) < 1000.0);
    CHECK(w.ntp_taken == w.ntp_sent);
    if (failures)
        fprintf(stderr, "engine NTP jury: rejected after %llu PHC reads (%d notices, phc %lld ns), "
                        "restored %d, worst %.0f ns, now %.0f ns, outvoted %llu\n",
                (unsigned long long)w.rejected_at_read, w.rejected, (long long)w.rejected_phc_ns,
                w.restored, w.worst_ns, w.offset_ns, (unsigned long long)s.outvoted);
}

int keel_ctest_engine_ntp(void) {
    failures = 0;
    ntp_conventions();
    phc_and_three_servers();
    return failures;
}
