/* keel-phc2sys: linuxptp's phc2sys in miniature on keel's engine (keel_engine_*).
 * The engine decides everything (when to read and re-read, the servo, the apply
 * order, holdover, the kernel status); this file only carries out its commands.
 *   keel-phc2sys -d /dev/ptp0 [-w]   dry run (default; measures only), or -w: steer
 *                                    CLOCK_REALTIME (needs CAP_SYS_TIME)
 *   keel-phc2sys -S [-u 600]         simulated PHC and clock: no device, no adjusting
 * -n N samples per read (1-25, 5); -i MS interval (1000); -u N updates (0 = forever;
 * 600 with -S); -k kalman|pi|linreg; -q quiet. Exit 0 (with -S: converged), 1 on a
 * runtime error, 2 on a usage error. Signs: offset = system - PHC; positive frequency
 * = faster; a step is added to the clock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ptp_clock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <keel.h>

#define NS 1000000000LL
#define Q32 4294967296.0

static struct { const char *dev; long n, ms, updates; int kind, write, sim, quiet; } o = {
    NULL, 5, 1000, -1, KEEL_SERVO_KIND_KALMAN, 0, 0, 0};

/* The simulated world (-S): a PHC on true time; the system clock starts 2 ms
 * ahead and runs 30 ppm fast; 50 ns read noise, 300-1300 ns read delays. */
static struct { uint64_t t; double off, osc, corr; uint64_t rng; } sim = {
    NS, 2e6, 30000.0, 0.0, 0x9E3779B97F4A7C15ULL};

static double uniform(void) {
    sim.rng ^= sim.rng << 13, sim.rng ^= sim.rng >> 7, sim.rng ^= sim.rng << 17;
    return (double)(sim.rng >> 11) / 9007199254740992.0;
}

static uint64_t ns_of(clockid_t c) {
    struct timespec ts;
    return clock_gettime(c, &ts), (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}
static uint64_t pct(const struct ptp_clock_time *t) { return (uint64_t)t->sec * NS + t->nsec; }
static uint64_t sys_now(void) { return o.sim ? sim.t + (uint64_t)(int64_t)sim.off : ns_of(CLOCK_REALTIME); }

/* One PHC read: PRECISE, else n triples (EXTENDED, else basic), or simulated. */
static keel_status read_phc(int fd, int n, keel_phc_sample *s) {
    keel_phc_triple tr[KEEL_PHC_MAX_SAMPLES];
    struct ptp_sys_offset_precise p;
    int i;
    memset(&p, 0, sizeof p);
    if (!o.sim && ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) == 0)
        return keel_phc_precise_sample(pct(&p.sys_realtime), pct(&p.device), s);
    if (o.sim) {
        for (i = 0; i < n; i++) {
            double delay = 300.0 + 1000.0 * uniform(), noise = 100.0 * (uniform() - 0.5);
            uint64_t phc = sim.t + (uint64_t)i * 2000, mid = phc + (uint64_t)(int64_t)(sim.off + noise);
            tr[i] = (keel_phc_triple){mid - (uint64_t)(delay / 2), phc, mid + (uint64_t)(delay / 2)};
        }
    } else {
        struct ptp_sys_offset_extended e;
        struct ptp_sys_offset b;
        memset(&e, 0, sizeof e);
        e.n_samples = (unsigned)n;
        if (ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &e) == 0) {
            for (i = 0; i < n; i++)
                tr[i] = (keel_phc_triple){pct(&e.ts[i][0]), pct(&e.ts[i][1]), pct(&e.ts[i][2])};
        } else {
            memset(&b, 0, sizeof b);
            b.n_samples = (unsigned)n;
            if (ioctl(fd, PTP_SYS_OFFSET, &b) != 0) return KEEL_STATUS_NO_SAMPLE;
            for (i = 0; i < n; i++)
                tr[i] = (keel_phc_triple){pct(&b.ts[2 * i]), pct(&b.ts[2 * i + 1]), pct(&b.ts[2 * i + 2])};
        }
    }
    return keel_phc_best_sample(tr, (size_t)n, s);
}

/* clock_adjtime on CLOCK_REALTIME (write mode only): the frequency with its
 * tick, and the kernel status the engine asks for, in one call. */
static int adjust(const keel_engine_command *c, int64_t *freq) {
    struct timex tx;
    keel_kernel_freq k;
    long hz = sysconf(_SC_CLK_TCK);
    memset(&tx, 0, sizeof tx);
    if (c->adjust_has_freq) {
        if (keel_freq_to_kernel(c->adjust_freq_ppb_q32, (uint32_t)(hz > 0 ? hz : 100), &k)) return -1;
        tx.modes |= ADJ_FREQUENCY | ADJ_TICK;
        tx.freq = (long)k.freq_scaled_ppm;
        tx.tick = (long)k.tick_us;
    }
    if (c->adjust_has_status) {
        tx.modes |= ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS;
        tx.maxerror = (long)c->adjust_maxerror_us;
        tx.esterror = (long)c->adjust_esterror_us;
        tx.status = (c->adjust_unsync ? STA_UNSYNC : 0) |
                    (c->adjust_leap == KEEL_ENGINE_LEAP_BITS_INSERT   ? STA_INS
                     : c->adjust_leap == KEEL_ENGINE_LEAP_BITS_DELETE ? STA_DEL : 0);
    }
    if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) return -1;
    return c->adjust_has_freq ? (*freq = c->adjust_freq_ppb_q32, 0) : 0;
}

static int step(int64_t ns) {
    struct timex tx = {.modes = ADJ_SETOFFSET | ADJ_NANO};
    tx.time.tv_sec = (time_t)(ns / NS - (ns % NS < 0));
    tx.time.tv_usec = (long)(ns % NS + (ns % NS < 0 ? NS : 0));
    return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -1 : 0;
}

static int parse(int argc, char **argv) {
    int c;
    while ((c = getopt(argc, argv, "d:n:i:u:k:wSq")) != -1) {
        if (c == 'd') o.dev = optarg;
        else if (c == 'n' || c == 'i' || c == 'u') *(c == 'n' ? &o.n : c == 'i' ? &o.ms : &o.updates) = atol(optarg);
        else if (c == 'k') o.kind = !strcmp(optarg, "pi") ? KEEL_SERVO_KIND_PI : !strcmp(optarg, "linreg") ? KEEL_SERVO_KIND_LINREG : !strcmp(optarg, "kalman") ? KEEL_SERVO_KIND_KALMAN : -1;
        else if (c == 'w' || c == 'S' || c == 'q') *(c == 'w' ? &o.write : c == 'S' ? &o.sim : &o.quiet) = 1;
        else return -1;
    }
    if (o.updates < 0) o.updates = o.sim ? 600 : 0;
    return o.kind < 0 || o.n < 1 || o.n > KEEL_PHC_MAX_SAMPLES || o.ms <= 0 || (!o.sim && !o.dev) || (o.sim && o.write) ? -1 : 0;
}

int main(int argc, char **argv) {
    keel_engine e;
    keel_engine_config cfg;
    keel_engine_command c;
    keel_engine_snapshot s;
    keel_engine_notice note;
    keel_phc_sample smp;
    int64_t freq = 0;
    uint64_t shown = 0;
    uint8_t src;
    int fd = -1;
    if (parse(argc, argv) != 0) {
        fprintf(stderr, "usage: %s (-d /dev/ptpN | -S) [-n samples] [-i ms] [-u updates] [-k kalman|pi|linreg] [-w] [-q]\n", argv[0]);
        return 2;
    }
    if (keel_engine_storage_size() != sizeof e) return fprintf(stderr, "libkeel does not match keel.h\n"), 1;
    if (!o.sim && (fd = open(o.dev, O_RDONLY)) < 0) return fprintf(stderr, "%s: %s\n", o.dev, strerror(errno)), 1;
    keel_engine_config_default(o.kind, &cfg); /* keel sync's settings, then: */
    cfg.interval_ns = (int64_t)o.ms * 1000000;
    cfg.samples = (uint32_t)o.n;
    cfg.steers = o.sim || o.write;      /* dry run: measure only */
    cfg.sink_kernel_status = o.write;   /* CLOCK_REALTIME's maxerror/esterror/status */
    cfg.clock_checks = false;           /* no interference/suspend checks in this example */
    if (keel_engine_init(&e, &cfg, o.sim ? sim.t : ns_of(CLOCK_MONOTONIC)) ||
        keel_engine_add_source(&e, KEEL_SOURCE_KIND_PHC, 0, false, &src))
        return fprintf(stderr, "keel_engine_init failed\n"), 1;
    if (!o.quiet) printf("%s, %s, %s\n", keel_version(), o.sim ? "simulated" : o.dev, o.write ? "WRITE mode" : "no adjusting");
    for (;;) {
        if (keel_engine_poll(&e, o.sim ? sim.t : ns_of(CLOCK_MONOTONIC), &c)) return 1; /* then carry out c */
        while (keel_engine_take_notice(&e, &note) == KEEL_STATUS_OK)
            if (!o.quiet) printf("notice %d (%lld ns)\n", (int)note.kind, (long long)note.duration_ns);
        switch (c.kind) {
        case KEEL_ENGINE_COMMAND_KIND_WAIT: /* an update is over: show it, then sleep */
            if (keel_engine_status(&e, &s) == 0 && !o.quiet && s.updates != shown && s.has_last_offset && (shown = s.updates))
                printf("offset %9lld ns  delay %6lld ns  freq %+10.3f ppb  state %d  bound %lld ns\n",
                       (long long)s.last_offset_ns, (long long)s.last_delay_ns, (double)s.freq_ppb_q32 / Q32,
                       (int)s.state, s.has_bound ? (long long)s.bound_ns : -1LL); /* -1: no bound yet */
            if (o.updates && s.updates >= (uint64_t)o.updates) goto out;
            if (o.sim) {
                sim.off += (sim.osc + sim.corr) * (double)(c.wait_until_ns - sim.t) / 1e9;
                sim.t = c.wait_until_ns;
            } else {
                struct timespec d = {(time_t)(c.wait_until_ns / NS), (long)(c.wait_until_ns % NS)};
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR) {}
            }
            break;
        case KEEL_ENGINE_COMMAND_KIND_READ:
            if (read_phc(fd, c.read_samples, &smp) == KEEL_STATUS_OK) {
                keel_engine_reading r = {smp.offset_ns, smp.local_ts_ns, smp.delay_ns, smp.delay_ns / 2,
                                         smp.noise_limited};
                keel_engine_on_reading(&e, c.read_source, &r);
            } else {
                keel_engine_on_read_error(&e, c.read_source, KEEL_READ_ERROR_FAILED, sys_now());
            }
            break;
        case KEEL_ENGINE_COMMAND_KIND_ADJUST: /* frequency (and kernel status) first ... */
            if (o.sim && c.adjust_has_freq) sim.corr = (double)(freq = c.adjust_freq_ppb_q32) / Q32;
            keel_engine_on_adjusted(&e, o.sim || adjust(&c, &freq) == 0, freq, sys_now());
            break;
        case KEEL_ENGINE_COMMAND_KIND_STEP: /* ... then the step, with the drift since taken out */
            keel_engine_on_stepped(&e, o.sim ? (sim.off += (double)c.step_ns, 1) : step(c.step_ns) == 0);
            break;
        case KEEL_ENGINE_COMMAND_KIND_HALT: return fprintf(stderr, "keel halted\n"), 1;
        default: break; /* CHECK_CLOCK is off; SAVE_STATE: a daemon would keep c.save_* */
        }
    }
out:
    if (fd >= 0) close(fd);
    if (o.sim) {
        int ok = sim.off < 1000.0 && sim.off > -1000.0;
        printf("simulated clock: final offset %.1f ns, correction %+.1f ppb (oscillator %+.1f): %s\n",
               sim.off, sim.corr, sim.osc, ok ? "converged" : "NOT converged");
        return ok ? 0 : 1;
    }
    return 0;
}
