// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * What the lab's guest programs (e2etool, pagecheck) share: PTP times in ns,
 * CLOCK_MONOTONIC in seconds, and one PTP_SYS_OFFSET_PRECISE cross-timestamp.
 */
#ifndef KEEL_E2E_XTS_H
#define KEEL_E2E_XTS_H

#include <linux/ptp_clock.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

static inline int64_t ns_of(const struct ptp_clock_time *t)
{
	return (int64_t)t->sec * 1000000000LL + t->nsec;
}

static inline double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One cross-timestamp of the PHC behind fd: CLOCK_REALTIME, CLOCK_MONOTONIC_RAW
 * (when raw is not NULL) and the PHC at one instant, ns; -1 with errno. */
static inline int cross(int fd, int64_t *sys, int64_t *raw, int64_t *dev)
{
	struct ptp_sys_offset_precise p;

	memset(&p, 0, sizeof(p));
	if (ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) != 0)
		return -1;
	*sys = ns_of(&p.sys_realtime);
	if (raw)
		*raw = ns_of(&p.sys_monoraw);
	*dev = ns_of(&p.device);
	return 0;
}

#endif
