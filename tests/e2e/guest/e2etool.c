// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * e2etool: the guest-side helpers of keel's end-to-end lab (static binary).
 * It runs only inside the throw-away QEMU guest: `kick` and `interfere`
 * change the guest's clock.
 *
 *   e2etool check DEV [SINK]
 *                         four times a second: "C <monotonic s> <CLOCK_REALTIME - DEV ns>"
 *                         read with PTP_SYS_OFFSET_PRECISE (ground truth), and
 *                         "S <monotonic s>" whenever CLOCK_REALTIME is stepped
 *                         (a cancel-on-set timerfd), reopening DEV when it goes away;
 *                         with SINK (a PHC steered instead of CLOCK_REALTIME):
 *                         "C <monotonic s> <SINK - DEV ns>", both read with PRECISE
 *   e2etool kick DEV OFFSET_NS PPB
 *                         put the clock OFFSET_NS ahead of DEV with frequency PPB,
 *                         status unsynchronised, no pending slew
 *   e2etool interfere PPB add PPB to the kernel frequency (another process's write)
 *   e2etool freq          print the kernel frequency in ppb
 *   e2etool now           print CLOCK_MONOTONIC in seconds
 *   e2etool offset DEV    print CLOCK_REALTIME - DEV in ns (PRECISE), once
 *   e2etool nocap CAP CMD [ARG...]
 *                         run CMD (as root) without capability number CAP:
 *                         dropped from the bounding and inheritable sets
 *                         before the exec, as in a container that does not
 *                         grant it (CAP_SYS_TIME = 25)
 *   e2etool asuser UID CMD [ARG...]
 *                         run CMD as the unprivileged UID (and GID UID, no
 *                         supplementary groups): no capabilities at all
 *   e2etool stamp DEV [SINK]
 *                         copy stdin to stdout line by line, each line prefixed with
 *                         "@<monotonic s> <CLOCK_REALTIME - DEV ns> " (or SINK - DEV),
 *                         read with PRECISE the moment the line arrives ("-" when
 *                         DEV cannot be read): ties a daemon's log lines, and the
 *                         error bound each prints, to time and to the ground truth
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/ptp_clock.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "xts.h"

/* CLOCK_REALTIME - DEV in ns, or -1 with errno. */
static int precise(int fd, int64_t *off)
{
	int64_t sys, dev;

	if (cross(fd, &sys, NULL, &dev) != 0)
		return -1;
	*off = sys - dev;
	return 0;
}

/*
 * SINK - DEV at one instant: DEV is read before and after SINK and
 * interpolated to SINK's instant on the system clock's scale. (Subtracting
 * two separate offsets against the unsteered system clock, +50 ppm off in
 * the lab, added 50 ppm of whatever time passed between the two reads:
 * 160 ns for a 3 ms delay of the guest.)
 */
static int sink_minus_dev(int fd, int sfd, int64_t *out)
{
	int64_t sa, da, ss, ks, sb, db, d;

	if (cross(fd, &sa, NULL, &da) != 0 || cross(sfd, &ss, NULL, &ks) != 0 ||
	    cross(fd, &sb, NULL, &db) != 0)
		return -1;
	d = da;
	if (sb > sa)
		d += (int64_t)((__int128)(db - da) * (ss - sa) / (sb - sa));
	*out = ks - d;
	return 0;
}

static int arm_cancel(void)
{
	int tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its;

	if (tfd < 0)
		return -1;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = 0x7fffffff; /* far future */
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) != 0) {
		close(tfd);
		return -1;
	}
	return tfd;
}

/* The checker's period: 4 Hz, so hold times resolve to 1/4 s and a steady
 * window holds four samples per daemon update. */
#define CHECK_PERIOD_NS 250000000L

static int check(const char *dev, const char *sink)
{
	int fd = -1, sfd = -1, tfd = arm_cancel();
	struct timespec next;

	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		struct pollfd p = { .fd = tfd, .events = POLLIN };
		struct timespec now;
		int64_t off, ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (next.tv_sec - now.tv_sec) * 1000 + (next.tv_nsec - now.tv_nsec) / 1000000;
		if (ms > 0 && poll(&p, 1, (int)ms) > 0) {
			uint64_t n;

			if (read(tfd, &n, sizeof(n)) < 0 && errno == ECANCELED) {
				printf("S %.3f\n", mono_s());
				close(tfd);
				tfd = arm_cancel();
			}
			continue;
		}
		next.tv_nsec += CHECK_PERIOD_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec += 1;
		}
		if (fd < 0)
			fd = open(dev, O_RDONLY);
		if (sink && sfd < 0)
			sfd = open(sink, O_RDONLY);
		if (fd >= 0 && precise(fd, &off) == 0) {
			int64_t diff;

			if (!sink) {
				printf("C %.3f %" PRId64 "\n", mono_s(), off);
			} else if (sfd >= 0 && sink_minus_dev(fd, sfd, &diff) == 0) {
				printf("C %.3f %" PRId64 "\n", mono_s(), diff);
			} else {
				printf("X %.3f %s: %s\n", mono_s(), sink, strerror(errno));
				if (sfd >= 0)
					close(sfd);
				sfd = -1;
			}
		} else {
			printf("X %.3f %s\n", mono_s(), strerror(errno));
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	}
	return 0;
}

static int stamp(const char *dev, const char *sink)
{
	char line[4096];
	int fd = -1, sfd = -1, bol = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		if (bol) {
			double t = mono_s();
			int64_t off;
			int ok;

			if (fd < 0)
				fd = open(dev, O_RDONLY);
			if (sink && sfd < 0)
				sfd = open(sink, O_RDONLY);
			if (sink)
				ok = fd >= 0 && sfd >= 0 && sink_minus_dev(fd, sfd, &off) == 0;
			else
				ok = fd >= 0 && precise(fd, &off) == 0;
			if (ok) {
				printf("@%.6f %" PRId64 " ", t, off);
			} else {
				/* The device went away (scenario 4): reopen next time. */
				printf("@%.6f - ", t);
				if (fd >= 0)
					close(fd);
				if (sfd >= 0)
					close(sfd);
				fd = sfd = -1;
			}
		}
		fputs(line, stdout);
		bol = strchr(line, '\n') != NULL;
	}
	if (!bol)
		putchar('\n');
	return 0;
}

static int kick(const char *dev, long long off_ns, long long ppb)
{
	struct timex t;
	int64_t now_off;
	long long d;
	int fd = open(dev, O_RDONLY);

	if (fd < 0 || precise(fd, &now_off) != 0) {
		perror(dev);
		return 1;
	}
	/* Step so that CLOCK_REALTIME - DEV becomes off_ns. */
	d = off_ns - now_off;
	memset(&t, 0, sizeof(t));
	t.modes = ADJ_SETOFFSET | ADJ_NANO;
	t.time.tv_sec = d / 1000000000LL;
	t.time.tv_usec = d % 1000000000LL;
	if (t.time.tv_usec < 0) {
		t.time.tv_sec -= 1;
		t.time.tv_usec += 1000000000LL;
	}
	if (adjtimex(&t) < 0) {
		perror("adjtimex(ADJ_SETOFFSET)");
		return 1;
	}
	memset(&t, 0, sizeof(t));
	t.modes = ADJ_STATUS | ADJ_FREQUENCY | ADJ_TICK | ADJ_MAXERROR | ADJ_ESTERROR |
		  ADJ_OFFSET | ADJ_TIMECONST;
	t.status = STA_UNSYNC;
	t.freq = (long)(ppb * 65536 / 1000); /* ppm << 16 */
	t.tick = 1000000 / sysconf(_SC_CLK_TCK);
	t.maxerror = 16000000;
	t.esterror = 16000000;
	t.offset = 0;
	t.constant = 0;
	if (adjtimex(&t) < 0) {
		perror("adjtimex");
		return 1;
	}
	if (precise(fd, &now_off) == 0)
		printf("kick: CLOCK_REALTIME - %s = %" PRId64 " ns, frequency %+lld ppb\n", dev,
		       now_off, ppb);
	close(fd);
	return 0;
}

static long long kernel_ppb(struct timex *t)
{
	long long tick0 = 1000000 / sysconf(_SC_CLK_TCK);

	memset(t, 0, sizeof(*t));
	if (adjtimex(t) < 0)
		return 0;
	/* freq is ppm << 16; each tick unit is 1e9 / (tick0 * 1e3) ... = 100 ppm at 100 Hz */
	return (long long)t->freq * 1000 / 65536 + (t->tick - tick0) * 1000000000LL / (tick0 * 1000);
}

/* Drops capability cap from this process's bounding and inheritable sets
 * (what survives an exec as root), then runs argv. */
static int nocap(int cap, char **argv)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
		perror("prctl(PR_CAPBSET_DROP)");
		return 126;
	}
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) != 0) {
		perror("capget");
		return 126;
	}
	d[cap / 32].inheritable &= ~(1U << (cap % 32));
	if (syscall(SYS_capset, &h, d) != 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
		perror("capset");
		return 126;
	}
	execvp(argv[0], argv);
	perror(argv[0]);
	return 127;
}

/* Runs argv as uid (and gid uid, no supplementary groups). */
static int asuser(unsigned int uid, char **argv)
{
	if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
		perror("setuid");
		return 126;
	}
	execvp(argv[0], argv);
	perror(argv[0]);
	return 127;
}

int main(int argc, char **argv)
{
	struct timex t;

	if (argc >= 3 && !strcmp(argv[1], "check"))
		return check(argv[2], argc >= 4 ? argv[3] : NULL);
	if (argc >= 3 && !strcmp(argv[1], "stamp"))
		return stamp(argv[2], argc >= 4 ? argv[3] : NULL);
	if (argc >= 5 && !strcmp(argv[1], "kick"))
		return kick(argv[2], atoll(argv[3]), atoll(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "interfere")) {
		long long before = kernel_ppb(&t), add = atoll(argv[2]);

		memset(&t, 0, sizeof(t));
		adjtimex(&t);
		t.modes = ADJ_FREQUENCY;
		t.freq += (long)(add * 65536 / 1000);
		if (adjtimex(&t) < 0) {
			perror("adjtimex(ADJ_FREQUENCY)");
			return 1;
		}
		printf("interfere: kernel frequency %+lld -> %+lld ppb\n", before, kernel_ppb(&t));
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "freq")) {
		printf("%lld\n", kernel_ppb(&t));
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "offset")) {
		int64_t off;
		int fd = open(argv[2], O_RDONLY);

		if (fd < 0 || precise(fd, &off) != 0) {
			perror(argv[2]);
			return 1;
		}
		printf("%" PRId64 "\n", off);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "nocap"))
		return nocap(atoi(argv[2]), argv + 3);
	if (argc >= 4 && !strcmp(argv[1], "asuser"))
		return asuser((unsigned int)atoi(argv[2]), argv + 3);
	if (argc >= 2 && !strcmp(argv[1], "now")) {
		printf("%.3f\n", mono_s());
		return 0;
	}
	fprintf(stderr, "usage: e2etool check DEV [SINK] | kick DEV OFFSET_NS PPB | interfere PPB | freq | now | offset DEV | stamp DEV [SINK]\n"
			"       | nocap CAP CMD [ARG...] | asuser UID CMD [ARG...]\n");
	return 2;
}
