// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * pagecheck: the time page against the truth in keel's lab guest (issue 19,
 * "Tests -> Guest lab"). Linked against libkeel.a; runs beside `keel sync`
 * for one scenario, until SIGTERM.
 *
 *   pagecheck TRUTH [PAGE] [PERIOD_US]
 *
 * Every PERIOD_US (default 2000) it reads, in this order, a cross-timestamp
 * of the truth PHC (PTP_SYS_OFFSET_PRECISE: CLOCK_REALTIME and TRUTH at one
 * instant), keel_clock_now() on PAGE (default /run/keel/time), and a second
 * cross-timestamp. The page's interval is CLOCK_REALTIME +- bound, read at
 * one instant between the two cross-timestamps, so its midpoint is that
 * CLOCK_REALTIME, and the true error there (CLOCK_REALTIME - truth) lies
 * between the two cross-timestamps' errors e1, e2 (the error moves
 * linearly between them, or jumps from one to the other at a step). A
 * confident read (synchronized or free-running) *misses* when no error in
 * [min(e1,e2), max(e1,e2)] lies within +- the interval's half-width; it
 * misses by the distance between the two ranges. (Bracketing the read with
 * two clock_gettime()s of the truth PHC instead would blur the truth by the
 * width of a syscall under TCG, microseconds, against bounds of tens of ns.)
 * While the truth PHC is gone (scenario 4 unloads the softphc for 30 s, then
 * reloads it on the same line), the truth is its line in CLOCK_MONOTONIC_RAW
 * fitted from the cross-timestamps (sys_monoraw) since the last step, read
 * before and after keel_clock_now(): "modelled" checks.
 *
 * Output, on SIGTERM (guest/init prefixes "T <scenario> "):
 *   miss from=<s> to=<s> n=<misses> asof=<s> status=<name> half=<ns>
 *        err=<ns>..<ns> by=<ns> modelled=<0|1>
 *        one line per snapshot that missed (misses read from the same
 *        snapshot in a row, times CLOCK_MONOTONIC s; asof = the snapshot's
 *        as_of_mono_ns, read from the page beside keel_clock_now(); half,
 *        err and by are the worst read's), at most MAX_EPISODES lines
 *   sum reads=<n> checks=<n> misses=<n> unlisted=<n> worst_ns=<ns>
 *       median_half_ns=<ns> unknown=<n> disrupted=<n> errors=<n>
 *       truth_gaps=<n> modelled_checks=<n> modelled_misses=<n>
 *       free_running=<n> first=<s> last=<s>
 *        reads = keel_clock_now() calls that returned an interval, checks =
 *        confident ones, unlisted = misses in episodes beyond the cap, worst
 *        = the largest miss, median of the checks' half-widths
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/ptp_clock.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "keel.h"
#include "xts.h"

#define MAX_EPISODES 20
/* The page's words (keel_core::page, layout version 1). */
#define W_SEQ 2
#define W_AS_OF_MONO 3
#define PAGE_BYTES 96

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* One cross-timestamp of TRUTH: CLOCK_REALTIME - TRUTH, and TRUTH and
 * CLOCK_MONOTONIC_RAW, at one instant, ns. */
static int truth_xts(int fd, int64_t *err, int64_t *raw, int64_t *dev)
{
	int64_t real;

	if (cross(fd, &real, raw, dev) != 0)
		return -1;
	*err = real - *dev;
	return 0;
}

static int64_t raw_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The truth PHC as a line in CLOCK_MONOTONIC_RAW (softphc: T = raw + offset
 * + (raw - anchor) * freq), fitted from the cross-timestamps since the last
 * discontinuity: it stands in for the truth while the PHC is unloaded
 * (scenario 4 reloads it with the same line).
 */
static struct {
	int have;
	int64_t raw_a, dev_a, raw_l, dev_l;
} model;

static int64_t model_at(int64_t raw)
{
	int64_t span = model.raw_l - model.raw_a, d = raw - model.raw_l;

	if (span < 1000000000LL)
		return model.dev_l + d;
	return model.dev_l + (int64_t)((double)d * ((double)(model.dev_l - model.dev_a) / (double)span));
}

static void model_add(int64_t raw, int64_t dev)
{
	int64_t p;

	if (model.have) {
		p = model_at(raw) - dev;
		if (p > 1000 || p < -1000)
			model.have = 0; /* a step (scenario 3's jump): start again */
	}
	if (!model.have) {
		model.have = 1;
		model.raw_a = raw;
		model.dev_a = dev;
	}
	model.raw_l = raw;
	model.dev_l = dev;
}

/* Can the model stand in (fitted over 5 s at least)? */
static int model_ready(void)
{
	return model.have && model.raw_l - model.raw_a >= 5000000000LL;
}

/* The snapshot's as_of_mono_ns (seqlock read), or 0. */
static uint64_t as_of(const volatile uint64_t *w)
{
	int i;

	if (!w)
		return 0;
	for (i = 0; i < 1000; i++) {
		uint64_t s1 = __atomic_load_n(&w[W_SEQ], __ATOMIC_ACQUIRE), a, s2;

		if (s1 & 1)
			continue;
		a = __atomic_load_n(&w[W_AS_OF_MONO], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&w[W_SEQ], __ATOMIC_RELAXED);
		if (s1 == s2)
			return a;
	}
	return 0;
}

static const char *status_name(keel_clock_status s)
{
	switch (s) {
	case KEEL_CLOCK_STATUS_SYNCHRONIZED: return "synchronized";
	case KEEL_CLOCK_STATUS_FREE_RUNNING: return "free-running";
	case KEEL_CLOCK_STATUS_DISRUPTED: return "disrupted";
	default: return "unknown";
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* One snapshot's misses in a row. */
struct episode {
	double from, to;
	uint64_t n, asof;
	keel_clock_status status;
	int64_t half, e_lo, e_hi, by;
	int modelled;
};

static void print_episode(const struct episode *ep)
{
	printf("miss from=%.6f to=%.6f n=%" PRIu64 " asof=%.6f status=%s half=%" PRId64 " err=%" PRId64
	       "..%" PRId64 " by=%" PRId64 " modelled=%d\n",
	       ep->from, ep->to, ep->n, ep->asof / 1e9, status_name(ep->status), ep->half, ep->e_lo,
	       ep->e_hi, ep->by, ep->modelled);
}

int main(int argc, char **argv)
{
	const char *truth = argc > 1 ? argv[1] : "/dev/truth";
	const char *path = argc > 2 ? argv[2] : "/run/keel/time";
	long period_us = argc > 3 ? atol(argv[3]) : 2000;
	struct timespec nap = { .tv_sec = 0, .tv_nsec = period_us * 1000L };
	struct sigaction sa;
	keel_clock clock;
	const volatile uint64_t *words = NULL;
	int fd = -1, init = 0, listed = 0, open_ep = 0;
	uint64_t reads = 0, checks = 0, misses = 0, unlisted = 0, unknown = 0, disrupted = 0,
		 errors = 0, gaps = 0, mchecks = 0, mmisses = 0, free_running = 0;
	int64_t worst = 0, *halves = NULL;
	size_t nh = 0, cap = 0;
	double first = 0, last = 0;
	struct episode ep;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&ep, 0, sizeof(ep));

	while (!stop) {
		keel_clock_interval now;
		keel_status st;
		int64_t e1, e2, lo, hi, half, by, r1, r2, d1, d2;
		int modelled = 0;
		uint64_t a;

		nanosleep(&nap, NULL);
		if (fd < 0)
			fd = open(truth, O_RDONLY);
		if (!init) {
			/* keel creates the page at start: wait for it. */
			if (keel_clock_init(&clock, path, NULL) != KEEL_STATUS_OK)
				continue;
			init = 1;
			int pfd = open(path, O_RDONLY);
			if (pfd >= 0) {
				void *m = mmap(NULL, PAGE_BYTES, PROT_READ, MAP_SHARED, pfd, 0);
				words = m == MAP_FAILED ? NULL : m;
				close(pfd);
			}
		}
		if (fd >= 0 && truth_xts(fd, &e1, &r1, &d1) == 0) {
			st = keel_clock_now(&clock, &now);
			a = as_of(words);
			if (truth_xts(fd, &e2, &r2, &d2) != 0) {
				gaps++;
				close(fd);
				fd = -1;
				continue;
			}
			model_add(r2, d2);
		} else {
			/* The truth PHC went away (scenario 4's unload): reopen next
			 * time; meanwhile its line in CLOCK_MONOTONIC_RAW stands in. */
			if (fd >= 0) {
				close(fd);
				fd = -1;
			}
			gaps++;
			if (!model_ready())
				continue;
			r1 = raw_ns();
			st = keel_clock_now(&clock, &now);
			a = as_of(words);
			r2 = raw_ns();
			if (st != KEEL_STATUS_OK)
				continue;
			/* The interval's midpoint is CLOCK_REALTIME at the read. */
			half = (now.latest_ns - now.earliest_ns) / 2;
			e1 = now.earliest_ns + half - model_at(r2);
			e2 = now.earliest_ns + half - model_at(r1);
			modelled = 1;
		}
		if (st != KEEL_STATUS_OK) {
			/* Not written yet (before keel's first update). */
			errors++;
			continue;
		}
		reads++;
		if (now.status == KEEL_CLOCK_STATUS_DISRUPTED)
			disrupted++;
		if (now.status != KEEL_CLOCK_STATUS_SYNCHRONIZED &&
		    now.status != KEEL_CLOCK_STATUS_FREE_RUNNING) {
			if (now.status != KEEL_CLOCK_STATUS_DISRUPTED)
				unknown++;
			continue;
		}
		checks++;
		if (modelled)
			mchecks++;
		if (now.status == KEEL_CLOCK_STATUS_FREE_RUNNING)
			free_running++;
		last = mono_s();
		if (checks == 1)
			first = last;
		half = (now.latest_ns - now.earliest_ns) / 2;
		if (nh == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			int64_t *p = realloc(halves, nc * sizeof(*p));
			if (p) {
				halves = p;
				cap = nc;
			}
		}
		if (nh < cap)
			halves[nh++] = half;
		lo = e1 < e2 ? e1 : e2;
		hi = e1 < e2 ? e2 : e1;
		/* Distance from [lo, hi] to [-half, half]. */
		by = lo > half ? lo - half : hi < -half ? -half - hi : 0;
		if (by == 0)
			continue;
		misses++;
		if (modelled)
			mmisses++;
		if (by > worst)
			worst = by;
		if (open_ep && ep.asof != a) {
			if (listed < MAX_EPISODES) {
				print_episode(&ep);
				listed++;
			} else {
				unlisted += ep.n;
			}
			open_ep = 0;
		}
		if (!open_ep) {
			memset(&ep, 0, sizeof(ep));
			ep.from = last;
			ep.asof = a;
			open_ep = 1;
		}
		ep.to = last;
		ep.n++;
		ep.modelled |= modelled;
		if (by > ep.by) {
			ep.by = by;
			ep.half = half;
			ep.e_lo = lo;
			ep.e_hi = hi;
			ep.status = now.status;
		}
	}
	if (open_ep) {
		if (listed < MAX_EPISODES)
			print_episode(&ep);
		else
			unlisted += ep.n;
	}
	if (nh)
		qsort(halves, nh, sizeof(*halves), cmp_i64);
	printf("sum reads=%" PRIu64 " checks=%" PRIu64 " misses=%" PRIu64 " unlisted=%" PRIu64
	       " worst_ns=%" PRId64 " median_half_ns=%" PRId64 " unknown=%" PRIu64 " disrupted=%" PRIu64
	       " errors=%" PRIu64 " truth_gaps=%" PRIu64 " modelled_checks=%" PRIu64
	       " modelled_misses=%" PRIu64 " free_running=%" PRIu64 " first=%.6f last=%.6f\n",
	       reads, checks, misses, unlisted, worst, nh ? halves[nh / 2] : -1, unknown, disrupted,
	       errors, gaps, mchecks, mmisses, free_running, first, last);
	if (init)
		keel_clock_deinit(&clock);
	free(halves);
	return 0;
}
