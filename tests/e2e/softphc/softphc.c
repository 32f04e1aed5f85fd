// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * softphc: software PTP clocks standing in for a hypervisor's clock, for
 * keel's end-to-end tests inside a throw-away guest.
 *
 *   /dev/ptp0  "softphc ref"   the reference the daemons follow
 *   /dev/ptp1  "softphc truth" its noise-free, read-only twin (the checker's)
 *   /dev/ptp2  "softphc nic"   an adjustable clock standing in for a NIC's PHC,
 *                              the sink of the PHC → PHC scenario
 *
 * Both tell   T = raw + offset_ns + (raw - anchor_raw_ns) * freq_ppb / 1e9
 * where raw is the guest's CLOCK_MONOTONIC_RAW (never CLOCK_REALTIME after
 * load). Because the guest's own clock runs on the same counter, emulation
 * timing noise cancels; oscillator effects come from the knobs below, all
 * writable at run time in /sys/module/softphc/parameters/:
 *
 *   freq_ppb       frequency error of the reference (positive = runs fast);
 *                  a write re-anchors, so T stays continuous
 *   jump_ns        a write adds a one-shot step to the reference (both clocks)
 *   noise_ns       standard deviation of Gaussian noise per ptp0 read
 *   outlier_ppm    chance per ptp0 read (per million) of an outlier ...
 *   outlier_ns     ... of this size, random sign
 *   precise        0 makes PTP_SYS_OFFSET_PRECISE on ptp0 fail (EOPNOTSUPP)
 *   offset_ns, anchor_raw_ns   the state above; give them to insmod to
 *                  reload the module without a discontinuity
 *
 * Reads: PRECISE (getcrosststamp, an exact cross-timestamp from
 * ktime_get_snapshot), EXTENDED (gettimex64) and basic (gettime64). The
 * reference and its twin cannot be adjusted (adjfine/adjtime/settime:
 * EOPNOTSUPP, max_adj 0), like ptp_kvm, ptp_vmw, hyperv and vmclock.
 *
 * The NIC clock runs on its own oscillator:
 *   N = raw + nic_offset_ns + (raw - nic_anchor_raw_ns) * (nic_err_ppb + adj) / 1e9
 * where adj is what adjfine dialed (scaled ppm, within max_adj = NIC_MAX_ADJ
 * ppb); adjtime steps it, settime sets it. It starts equal to the reference
 * at load; its knobs in /sys/module/softphc/parameters/:
 *
 *   nic_err_ppb    its natural frequency error (a write re-anchors)
 *   nic_jump_ns    a write steps the NIC clock (someone else's step)
 *
 * Integer-only, overflow-safe: products go through mul_u64_u64_div_u64 and
 * mul_u64_u32_shr; sums of time values saturate.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/ptp_clock_kernel.h>
#include <linux/random.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/math64.h>
#include <linux/limits.h>

#define NSEC 1000000000ULL
#define MAX_FREQ_PPB 100000000LL /* +-10 % */
#define NIC_MAX_ADJ 500000 /* ppb: 500 ppm, the NIC's adjfine range */
#define SCALED_PER_SEC 65536000000ULL /* scaled ppm (ppm << 16) per unit rate */

static DEFINE_SPINLOCK(lock);

/* State (guarded by lock after load). */
static long long offset_ns = LLONG_MIN; /* LLONG_MIN: from CLOCK_REALTIME at load */
static long long anchor_raw_ns;
static long long freq_ppb;
static unsigned int noise_ns;
static unsigned int outlier_ppm;
static unsigned int outlier_ns = 100000;
static bool precise = true;

/* The NIC clock (guarded by lock). */
static long long nic_offset_ns = LLONG_MIN;
static long long nic_anchor_raw_ns;
static long long nic_err_ppb;
static long nic_adj_scaled; /* ppm << 16, as adjfine dials it */

static struct ptp_clock *clk_ref, *clk_truth, *clk_nic;

static s64 sat_add(s64 a, s64 b)
{
	s64 r;

	if (check_add_overflow(a, b, &r))
		return b > 0 ? S64_MAX : S64_MIN;
	return r;
}

/* x * ppb / 1e9 for signed x and ppb, without overflow (|ppb| <= 1e8). */
static s64 scale_ppb(s64 x, s64 ppb)
{
	u64 ax = x < 0 ? -(u64)x : (u64)x;
	u64 ap = ppb < 0 ? -(u64)ppb : (u64)ppb;
	u64 m = mul_u64_u64_div_u64(ax, ap, NSEC); /* <= |x| / 10 */

	return ((x < 0) != (ppb < 0)) ? -(s64)m : (s64)m;
}

/* The reference time at raw (lock held). */
static s64 ref_at(s64 raw)
{
	s64 el = raw - anchor_raw_ns; /* both within [0, uptime] */

	return sat_add(sat_add(raw, offset_ns), scale_ppb(el, freq_ppb));
}

/* N(0, noise_ns^2) from the Irwin-Hall sum of 12 uniforms, plus outliers. */
static s64 read_error(void)
{
	s64 e = 0;

	if (noise_ns) {
		u64 s = 0;
		s64 z;
		u64 m;
		int i;

		for (i = 0; i < 12; i++)
			s += get_random_u32();
		z = (s64)s - 6 * (s64)(1ULL << 32); /* sd 2^32 */
		m = mul_u64_u32_shr(z < 0 ? -(u64)z : (u64)z, noise_ns, 32);
		e = z < 0 ? -(s64)m : (s64)m;
	}
	if (outlier_ppm && get_random_u32_below(1000000) < outlier_ppm)
		e = sat_add(e, (get_random_u32() & 1) ? (s64)outlier_ns : -(s64)outlier_ns);
	return e;
}

/* x * scaled / (65536 * 1e6), scaled in ppm << 16 (|scaled| small). */
static s64 scale_scaled(s64 x, long scaled)
{
	u64 ax = x < 0 ? -(u64)x : (u64)x;
	u64 as = scaled < 0 ? -(u64)scaled : (u64)scaled;
	u64 m = mul_u64_u64_div_u64(ax, as, SCALED_PER_SEC);

	return ((x < 0) != (scaled < 0)) ? -(s64)m : (s64)m;
}

/* The NIC clock at raw (lock held). */
static s64 nic_at(s64 raw)
{
	s64 el = raw - nic_anchor_raw_ns;

	return sat_add(sat_add(sat_add(raw, nic_offset_ns), scale_ppb(el, nic_err_ppb)),
		       scale_scaled(el, nic_adj_scaled));
}

/* Re-anchor the NIC at raw so a rate change keeps it continuous (lock held). */
static void nic_reanchor(s64 raw)
{
	nic_offset_ns = nic_at(raw) - raw;
	nic_anchor_raw_ns = raw;
}

static bool is_ref(struct ptp_clock_info *info);
static bool is_nic(struct ptp_clock_info *info);

static s64 now_at(struct ptp_clock_info *info, s64 raw)
{
	unsigned long flags;
	s64 t;

	spin_lock_irqsave(&lock, flags);
	t = is_nic(info) ? nic_at(raw) : ref_at(raw);
	spin_unlock_irqrestore(&lock, flags);
	if (is_ref(info))
		t = sat_add(t, read_error());
	return t;
}

static int softphc_gettimex64(struct ptp_clock_info *info, struct timespec64 *ts,
			      struct ptp_system_timestamp *sts)
{
	s64 raw;

	ptp_read_system_prets(sts);
	raw = ktime_get_raw_ns();
	ptp_read_system_postts(sts);
	*ts = ns_to_timespec64(now_at(info, raw));
	return 0;
}

static int softphc_gettime64(struct ptp_clock_info *info, struct timespec64 *ts)
{
	*ts = ns_to_timespec64(now_at(info, ktime_get_raw_ns()));
	return 0;
}

static int softphc_getcrosststamp(struct ptp_clock_info *info,
				  struct system_device_crosststamp *xts)
{
	struct system_time_snapshot snap;

	if (is_ref(info) && !READ_ONCE(precise))
		return -EOPNOTSUPP;
	ktime_get_snapshot(&snap);
	xts->device = ns_to_ktime(now_at(info, ktime_to_ns(snap.raw)));
	xts->sys_realtime = snap.real;
	xts->sys_monoraw = snap.raw;
	return 0;
}

static int softphc_adjfine(struct ptp_clock_info *info, long scaled_ppm)
{
	return -EOPNOTSUPP;
}

static int softphc_adjtime(struct ptp_clock_info *info, s64 delta)
{
	return -EOPNOTSUPP;
}

static int softphc_settime64(struct ptp_clock_info *info, const struct timespec64 *ts)
{
	return -EOPNOTSUPP;
}

static int nic_adjfine(struct ptp_clock_info *info, long scaled_ppm)
{
	unsigned long flags;

	spin_lock_irqsave(&lock, flags);
	nic_reanchor(ktime_get_raw_ns());
	nic_adj_scaled = scaled_ppm;
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

static int nic_adjtime(struct ptp_clock_info *info, s64 delta)
{
	unsigned long flags;

	spin_lock_irqsave(&lock, flags);
	nic_offset_ns = sat_add(nic_offset_ns, delta);
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

static int nic_settime64(struct ptp_clock_info *info, const struct timespec64 *ts)
{
	unsigned long flags;
	s64 raw;

	spin_lock_irqsave(&lock, flags);
	raw = ktime_get_raw_ns();
	nic_reanchor(raw);
	nic_offset_ns = sat_add(nic_offset_ns, timespec64_to_ns(ts) - nic_at(raw));
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

#define SOFTPHC_INFO(nm, adj, fine, step, set)				\
	{								\
		.owner = THIS_MODULE,					\
		.name = nm,						\
		.max_adj = adj,						\
		.adjfine = fine,					\
		.adjtime = step,					\
		.settime64 = set,					\
		.gettime64 = softphc_gettime64,				\
		.gettimex64 = softphc_gettimex64,			\
		.getcrosststamp = softphc_getcrosststamp,		\
	}

static struct ptp_clock_info info_ref = SOFTPHC_INFO("softphc ref", 0, softphc_adjfine,
						     softphc_adjtime, softphc_settime64);
static struct ptp_clock_info info_truth = SOFTPHC_INFO("softphc truth", 0, softphc_adjfine,
						       softphc_adjtime, softphc_settime64);
static struct ptp_clock_info info_nic = SOFTPHC_INFO("softphc nic", NIC_MAX_ADJ, nic_adjfine,
						     nic_adjtime, nic_settime64);

static bool is_ref(struct ptp_clock_info *info)
{
	return info == &info_ref;
}

static bool is_nic(struct ptp_clock_info *info)
{
	return info == &info_nic;
}

/* freq_ppb: re-anchor so the reference stays continuous. */
static int set_freq(const char *val, const struct kernel_param *kp)
{
	unsigned long flags;
	s64 v, raw;
	int err = kstrtoll(val, 0, &v);

	if (err)
		return err;
	if (v > MAX_FREQ_PPB || v < -MAX_FREQ_PPB)
		return -ERANGE;
	spin_lock_irqsave(&lock, flags);
	if (offset_ns != LLONG_MIN) {
		raw = ktime_get_raw_ns();
		offset_ns = ref_at(raw) - raw;
		anchor_raw_ns = raw;
	}
	freq_ppb = v;
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

/* jump_ns, nic_jump_ns: a one-shot step of the clock whose offset is kp->arg. */
static int set_jump(const char *val, const struct kernel_param *kp)
{
	unsigned long flags;
	long long *off = kp->arg;
	s64 v;
	int err = kstrtoll(val, 0, &v);

	if (err)
		return err;
	spin_lock_irqsave(&lock, flags);
	if (*off != LLONG_MIN)
		*off = sat_add(*off, v);
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

/* nic_err_ppb: re-anchor so the NIC clock stays continuous. */
static int set_nic_err(const char *val, const struct kernel_param *kp)
{
	unsigned long flags;
	s64 v;
	int err = kstrtoll(val, 0, &v);

	if (err)
		return err;
	if (v > MAX_FREQ_PPB || v < -MAX_FREQ_PPB)
		return -ERANGE;
	spin_lock_irqsave(&lock, flags);
	if (nic_offset_ns != LLONG_MIN)
		nic_reanchor(ktime_get_raw_ns());
	nic_err_ppb = v;
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

static int get_zero(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "0\n");
}

static int get_locked_ll(char *buf, const struct kernel_param *kp)
{
	unsigned long flags;
	long long v;

	spin_lock_irqsave(&lock, flags);
	v = *(long long *)kp->arg;
	spin_unlock_irqrestore(&lock, flags);
	return sysfs_emit(buf, "%lld\n", v);
}

static int set_locked_ll(const char *val, const struct kernel_param *kp)
{
	unsigned long flags;
	long long v;
	int err = kstrtoll(val, 0, &v);

	if (err)
		return err;
	spin_lock_irqsave(&lock, flags);
	*(long long *)kp->arg = v;
	spin_unlock_irqrestore(&lock, flags);
	return 0;
}

static const struct kernel_param_ops freq_ops = { .set = set_freq, .get = get_locked_ll };
static const struct kernel_param_ops jump_ops = { .set = set_jump, .get = get_zero };
static const struct kernel_param_ops ll_ops = { .set = set_locked_ll, .get = get_locked_ll };
static const struct kernel_param_ops nic_err_ops = { .set = set_nic_err, .get = get_locked_ll };

module_param_cb(freq_ppb, &freq_ops, &freq_ppb, 0644);
MODULE_PARM_DESC(freq_ppb, "reference frequency error, ppb (positive = fast)");
module_param_cb(jump_ns, &jump_ops, &offset_ns, 0644);
MODULE_PARM_DESC(jump_ns, "write: step the reference by this many ns");
module_param_cb(offset_ns, &ll_ops, &offset_ns, 0644);
MODULE_PARM_DESC(offset_ns, "reference - CLOCK_MONOTONIC_RAW at anchor_raw_ns (default: from CLOCK_REALTIME at load)");
module_param_cb(anchor_raw_ns, &ll_ops, &anchor_raw_ns, 0644);
MODULE_PARM_DESC(anchor_raw_ns, "CLOCK_MONOTONIC_RAW of the last frequency change");
module_param_cb(nic_err_ppb, &nic_err_ops, &nic_err_ppb, 0644);
MODULE_PARM_DESC(nic_err_ppb, "NIC clock: natural frequency error, ppb (positive = fast)");
module_param_cb(nic_jump_ns, &jump_ops, &nic_offset_ns, 0644);
MODULE_PARM_DESC(nic_jump_ns, "write: step the NIC clock by this many ns");
module_param(noise_ns, uint, 0644);
MODULE_PARM_DESC(noise_ns, "Gaussian read noise on ptp0, standard deviation in ns");
module_param(outlier_ppm, uint, 0644);
MODULE_PARM_DESC(outlier_ppm, "outlier probability per ptp0 read, per million");
module_param(outlier_ns, uint, 0644);
MODULE_PARM_DESC(outlier_ns, "outlier size in ns");
module_param(precise, bool, 0644);
MODULE_PARM_DESC(precise, "0: PTP_SYS_OFFSET_PRECISE on ptp0 fails with EOPNOTSUPP");

static int __init softphc_init(void)
{
	unsigned long flags;

	spin_lock_irqsave(&lock, flags);
	if (offset_ns == LLONG_MIN) {
		struct system_time_snapshot snap;

		ktime_get_snapshot(&snap);
		offset_ns = ktime_to_ns(snap.real) - ktime_to_ns(snap.raw);
		anchor_raw_ns = ktime_to_ns(snap.raw);
	}
	/* The NIC clock starts on the reference. */
	nic_anchor_raw_ns = ktime_get_raw_ns();
	nic_offset_ns = ref_at(nic_anchor_raw_ns) - nic_anchor_raw_ns;
	spin_unlock_irqrestore(&lock, flags);

	clk_ref = ptp_clock_register(&info_ref, NULL);
	if (IS_ERR(clk_ref))
		return PTR_ERR(clk_ref);
	clk_truth = ptp_clock_register(&info_truth, NULL);
	if (IS_ERR(clk_truth)) {
		ptp_clock_unregister(clk_ref);
		return PTR_ERR(clk_truth);
	}
	clk_nic = ptp_clock_register(&info_nic, NULL);
	if (IS_ERR(clk_nic)) {
		ptp_clock_unregister(clk_truth);
		ptp_clock_unregister(clk_ref);
		return PTR_ERR(clk_nic);
	}
	pr_info("softphc: ref ptp%d, truth ptp%d, nic ptp%d\n", ptp_clock_index(clk_ref),
		ptp_clock_index(clk_truth), ptp_clock_index(clk_nic));
	return 0;
}

static void __exit softphc_exit(void)
{
	ptp_clock_unregister(clk_nic);
	ptp_clock_unregister(clk_truth);
	ptp_clock_unregister(clk_ref);
}

module_init(softphc_init);
module_exit(softphc_exit);
MODULE_DESCRIPTION("software PTP clocks for keel's end-to-end tests");
MODULE_LICENSE("Dual MIT/GPL");
