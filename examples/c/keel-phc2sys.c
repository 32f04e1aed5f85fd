/* keel-phc2sys: a small time daemon in the shape of linuxptp's phc2sys, with
 * keel's servo inside. The model for "keel inside an existing C daemon".
 *
 * It reads a PTP hardware clock (/dev/ptpN) with the PTP_SYS_OFFSET_PRECISE,
 * _EXTENDED or plain PTP_SYS_OFFSET ioctl, turns the reading into an offset
 * sample (best of N), feeds keel's servo and, only with -w, steers
 * CLOCK_REALTIME with clock_adjtime (ADJ_FREQUENCY/ADJ_TICK, ADJ_SETOFFSET).
 *
 *   keel-phc2sys -d /dev/ptp0            dry run (default): measure, never adjust
 *   keel-phc2sys -d /dev/ptp0 -w         steer CLOCK_REALTIME (needs CAP_SYS_TIME)
 *   keel-phc2sys -S -u 600               simulated PHC and clock: no device, no adjusting
 *
 * Options: -d DEV  PHC device; -n N  samples per read (1-25, default 5);
 * -i MS  update interval (default 1000); -u N  stop after N updates (0 =
 * forever; default 0, or 600 with -S); -k kalman|pi|linreg  servo (default
 * kalman);
 * -w  write mode; -S  simulate; -q  quiet.
 *
 * Exit status: 0 on success (with -S: the simulated clock converged), 1 on a
 * runtime error, 2 on a usage error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ptp_clock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <keel.h>

#define NS_PER_S 1000000000LL
/* clockid of a PHC file descriptor (linuxptp's FD_TO_CLOCKID). */
#define FD_TO_CLOCKID(fd) ((clockid_t)((((unsigned int)~(fd)) << 3) | 3))

struct options {
    const char *device;
    int n_samples;
    long interval_ms;
    long updates;
    int servo_kind;
    int write;
    int simulate;
    int quiet;
};

/* ---- the simulated world (-S) ---------------------------------------------
 * A PHC that keeps true time and a system clock that starts 2 ms ahead and
 * runs 30 ppm fast, with 50 ns of read noise and 300-1300 ns read delays. */
struct sim {
    uint64_t true_ns;
    double offset_ns; /* system - PHC */
    double osc_ppb;
    double corr_ppb;
    uint64_t rng;
};

static double sim_uniform(struct sim *s) {
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (double)(s->rng >> 11) / 9007199254740992.0;
}

static int sim_read(struct sim *s, int n, keel_phc_triple *tr) {
    int i;
    for (i = 0; i < n; i++) {
        double delay = 300.0 + 1000.0 * sim_uniform(s);
        double noise = 100.0 * (sim_uniform(s) - 0.5);
        uint64_t phc = s->true_ns + (uint64_t)i * 2000;
        uint64_t sys_mid = phc + (uint64_t)(int64_t)(s->offset_ns + noise);
        tr[i].phc_ns = phc;
        tr[i].sys_before_ns = sys_mid - (uint64_t)(delay / 2);
        tr[i].sys_after_ns = sys_mid + (uint64_t)(delay / 2);
    }
    return n;
}

static void sim_advance(struct sim *s, long ms) {
    s->true_ns += (uint64_t)ms * 1000000u;
    s->offset_ns += (s->osc_ppb + s->corr_ppb) * (double)ms / 1000.0;
}

/* ---- the real PHC ----------------------------------------------------------- */

static uint64_t pct_ns(const struct ptp_clock_time *t) {
    return (uint64_t)t->sec * (uint64_t)NS_PER_S + t->nsec;
}

enum read_method { READ_PRECISE, READ_EXTENDED, READ_BASIC };

/* Reads the PHC; returns the number of triples written (0 for a precise
 * cross-timestamp, written to precise_sys and precise_phc), or -1. */
static int phc_read(int fd, enum read_method *method, int n, keel_phc_triple *tr,
                    uint64_t *precise_sys, uint64_t *precise_phc) {
    int i;
    if (*method == READ_PRECISE) {
        struct ptp_sys_offset_precise p;
        memset(&p, 0, sizeof p);
        if (ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) == 0) {
            *precise_sys = pct_ns(&p.sys_realtime);
            *precise_phc = pct_ns(&p.device);
            return 0;
        }
        *method = READ_EXTENDED;
    }
    if (*method == READ_EXTENDED) {
        struct ptp_sys_offset_extended e;
        memset(&e, 0, sizeof e);
        e.n_samples = (unsigned int)n;
        if (ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &e) == 0) {
            for (i = 0; i < n; i++) {
                tr[i].sys_before_ns = pct_ns(&e.ts[i][0]);
                tr[i].phc_ns = pct_ns(&e.ts[i][1]);
                tr[i].sys_after_ns = pct_ns(&e.ts[i][2]);
            }
            return n;
        }
        *method = READ_BASIC;
    }
    {
        struct ptp_sys_offset b;
        memset(&b, 0, sizeof b);
        b.n_samples = (unsigned int)n;
        if (ioctl(fd, PTP_SYS_OFFSET, &b) != 0) return -1;
        for (i = 0; i < n; i++) {
            tr[i].sys_before_ns = pct_ns(&b.ts[2 * i]);
            tr[i].phc_ns = pct_ns(&b.ts[2 * i + 1]);
            tr[i].sys_after_ns = pct_ns(&b.ts[2 * i + 2]);
        }
        return n;
    }
}

/* ---- the clock actuator (write mode only) ---------------------------------- */

static int clock_set_frequency(int64_t freq_ppb_q32) {
    keel_kernel_freq k;
    struct timex tx;
    long user_hz = sysconf(_SC_CLK_TCK);
    if (keel_freq_to_kernel(freq_ppb_q32, (uint32_t)(user_hz > 0 ? user_hz : 100), &k) !=
        KEEL_STATUS_OK)
        return -1;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_FREQUENCY | ADJ_TICK;
    tx.freq = (long)k.freq_scaled_ppm;
    tx.tick = (long)k.tick_us;
    return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -1 : 0;
}

static int clock_step(int64_t step_ns) {
    struct timex tx;
    int64_t sec = step_ns / NS_PER_S, nsec = step_ns % NS_PER_S;
    if (nsec < 0) {
        sec -= 1;
        nsec += NS_PER_S;
    }
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_SETOFFSET | ADJ_NANO;
    tx.time.tv_sec = (time_t)sec;
    tx.time.tv_usec = (long)nsec;
    return clock_adjtime(CLOCK_REALTIME, &tx) < 0 ? -1 : 0;
}

static int clock_read_frequency(int64_t *freq_ppb_q32) {
    keel_kernel_freq k;
    struct timex tx;
    long user_hz = sysconf(_SC_CLK_TCK);
    memset(&tx, 0, sizeof tx); /* modes = 0: read only */
    if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) return -1;
    k.tick_us = tx.tick;
    k.freq_scaled_ppm = tx.freq;
    return keel_freq_from_kernel(&k, (uint32_t)(user_hz > 0 ? user_hz : 100), freq_ppb_q32) ==
                   KEEL_STATUS_OK
               ? 0
               : -1;
}

/* ---- main loop ---------------------------------------------------------------- */

static const char *state_name(keel_servo_state s) {
    switch (s) {
    case KEEL_SERVO_STATE_UNLOCKED: return "unlocked";
    case KEEL_SERVO_STATE_JUMP: return "jump";
    case KEEL_SERVO_STATE_LOCKED: return "locked";
    case KEEL_SERVO_STATE_LOCKED_STABLE: return "stable";
    }
    return "?";
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s (-d /dev/ptpN | -S) [-n samples] [-i interval_ms] [-u updates]\n"
            "          [-k kalman|pi|linreg] [-w] [-q]\n"
            "  dry run by default: measures, never adjusts; -w steers CLOCK_REALTIME\n",
            argv0);
}

static int parse(int argc, char **argv, struct options *o) {
    int c;
    memset(o, 0, sizeof *o);
    o->n_samples = 5;
    o->interval_ms = 1000;
    o->updates = -1;
    o->servo_kind = KEEL_SERVO_KIND_KALMAN;
    while ((c = getopt(argc, argv, "d:n:i:u:k:wSqh")) != -1) {
        switch (c) {
        case 'd': o->device = optarg; break;
        case 'n': o->n_samples = atoi(optarg); break;
        case 'i': o->interval_ms = atol(optarg); break;
        case 'u': o->updates = atol(optarg); break;
        case 'k':
            if (strcmp(optarg, "kalman") == 0) o->servo_kind = KEEL_SERVO_KIND_KALMAN;
            else if (strcmp(optarg, "pi") == 0) o->servo_kind = KEEL_SERVO_KIND_PI;
            else if (strcmp(optarg, "linreg") == 0) o->servo_kind = KEEL_SERVO_KIND_LINREG;
            else return -1;
            break;
        case 'w': o->write = 1; break;
        case 'S': o->simulate = 1; break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    if (o->n_samples < 1 || o->n_samples > KEEL_PHC_MAX_SAMPLES || o->interval_ms <= 0) return -1;
    if (!o->simulate && !o->device) return -1;
    if (o->simulate && o->write) return -1; /* never steer a real clock from a simulation */
    if (o->updates < 0) o->updates = o->simulate ? 600 : 0;
    return 0;
}

int main(int argc, char **argv) {
    struct options o;
    struct sim sim = {0, 2000000.0, 30000.0, 0.0, 0x9E3779B97F4A7C15ULL};
    keel_servo servo;
    keel_servo_config cfg;
    keel_phc_triple tr[KEEL_PHC_MAX_SAMPLES];
    enum read_method method = READ_PRECISE;
    int fd = -1;
    long i;
    struct timespec deadline;
    int64_t freq = 0;
    keel_status st;

    if (parse(argc, argv, &o) != 0) {
        usage(argv[0]);
        return 2;
    }
    if (keel_servo_storage_size() != sizeof(keel_servo)) {
        fprintf(stderr, "libkeel does not match keel.h (%s)\n", keel_version());
        return 1;
    }
    if (!o.simulate) {
        fd = open(o.device, O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "%s: %s\n", o.device, strerror(errno));
            return 1;
        }
        if (o.write && clock_read_frequency(&freq) != 0) {
            perror("clock_adjtime(CLOCK_REALTIME, read)");
            return 1;
        }
    }
    keel_servo_config_default(o.servo_kind, &cfg);
    cfg.interval_ns = (int64_t)o.interval_ms * 1000000;
    cfg.initial_freq_ppb_q32 = freq;
    if ((st = keel_servo_init(&servo, &cfg)) != KEEL_STATUS_OK) {
        fprintf(stderr, "keel_servo_init: %s\n", keel_status_str(st));
        return 1;
    }
    if (!o.quiet)
        printf("%s, servo %s, %s, %s\n", keel_version(),
               o.servo_kind == KEEL_SERVO_KIND_PI       ? "pi"
               : o.servo_kind == KEEL_SERVO_KIND_LINREG ? "linreg"
                                                        : "kalman",
               o.simulate ? "simulated PHC" : o.device,
               o.write ? "WRITE mode: steering CLOCK_REALTIME" : "dry run (no adjustment)");

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    for (i = 0; o.updates == 0 || i < o.updates; i++) {
        keel_phc_sample smp;
        keel_servo_output out;
        uint64_t psys = 0, pphc = 0;
        int n;
        bool stepped = false;
        struct timespec applied_at = {0, 0};
        if (o.simulate) {
            n = sim_read(&sim, o.n_samples, tr);
        } else {
            n = phc_read(fd, &method, o.n_samples, tr, &psys, &pphc);
        }
        if (n < 0) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            st = keel_servo_no_sample(&servo, (uint64_t)now.tv_sec * NS_PER_S + (uint64_t)now.tv_nsec, &out);
            if (!o.quiet) fprintf(stderr, "PHC read failed: %s\n", strerror(errno));
        } else {
            st = n == 0 ? keel_phc_precise_sample(psys, pphc, &smp)
                        : keel_phc_best_sample(tr, (size_t)n, &smp);
            if (st != KEEL_STATUS_OK) {
                if (!o.quiet) fprintf(stderr, "no sample: %s\n", keel_status_str(st));
                goto sleep;
            }
            st = keel_servo_sample(&servo, smp.offset_ns, smp.local_ts_ns, smp.delay_ns / 2, &out);
        }
        if (st != KEEL_STATUS_OK) {
            fprintf(stderr, "keel servo: %s\n", keel_status_str(st));
            return 1;
        }
        if (out.action != KEEL_SERVO_ACTION_NONE) {
            if (o.simulate) {
                if (out.action == KEEL_SERVO_ACTION_STEP) {
                    sim.offset_ns += (double)out.step_ns;
                    stepped = true;
                }
                sim.corr_ppb = (double)out.freq_ppb_q32 / 4294967296.0;
                freq = out.freq_ppb_q32;
            } else if (o.write) {
                if (out.action == KEEL_SERVO_ACTION_STEP && clock_step(out.step_ns) == 0)
                    stepped = true;
                if (clock_set_frequency(out.freq_ppb_q32) == 0) freq = out.freq_ppb_q32;
                clock_gettime(CLOCK_REALTIME, &applied_at);
            }
            /* dry run: nothing is applied; the servo is told so below. */
        }
        keel_servo_applied(&servo, stepped, out.step_ns, freq);
        if (applied_at.tv_sec != 0)
            /* The corrections took effect now, a little after the sample. */
            keel_servo_applied_at(&servo, (uint64_t)applied_at.tv_sec * NS_PER_S + (uint64_t)applied_at.tv_nsec);
        if (!o.quiet && n >= 0) {
            printf("offset %9lld ns  delay %6lld ns  freq %+10.3f ppb  %-8s", (long long)smp.offset_ns,
                   (long long)smp.delay_ns, (double)out.freq_ppb_q32 / 4294967296.0,
                   state_name(out.state));
            if (out.has_error_bound) printf("  bound %lld ns", (long long)out.error_bound_ns);
            if (out.action == KEEL_SERVO_ACTION_STEP) printf("  step %+lld ns", (long long)out.step_ns);
            printf("\n");
        }
    sleep:
        if (o.simulate) {
            sim_advance(&sim, o.interval_ms);
        } else {
            /* Absolute deadlines: the schedule keeps its grid however long
             * the read and the adjustment took. */
            deadline.tv_sec += o.interval_ms / 1000;
            deadline.tv_nsec += (o.interval_ms % 1000) * 1000000;
            if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec += 1;
                deadline.tv_nsec -= 1000000000;
            }
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR) {
            }
        }
    }
    if (fd >= 0) close(fd);
    keel_servo_deinit(&servo);
    if (o.simulate) {
        int ok = sim.offset_ns < 1000.0 && sim.offset_ns > -1000.0;
        printf("simulated clock: final offset %.1f ns, correction %+.1f ppb (oscillator %+.1f): %s\n",
               sim.offset_ns, sim.corr_ppb, sim.osc_ppb, ok ? "converged" : "NOT converged");
        return ok ? 0 : 1;
    }
    return 0;
}
