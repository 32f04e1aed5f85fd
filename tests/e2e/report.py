#!/usr/bin/env python3
"""Turn the guests' serial logs into the lab's markdown table and check keel's goals.

Input lines (see guest/init): B/C/X/S/E/L/Z, P/R from keel's guest's
read-only checks on a real PHC (the softphc) before the scenarios, and T:
guest/pagecheck.c's reads of keel's time page against the truth (issue 19). Offsets are the checker's
CLOCK_REALTIME - /dev/ptp1 (ground truth), four times a second. keel's log
lines come stamped "@<t> <true offset ns|->" (e2etool stamp), which ties
each update, and the error bound it prints, to the truth.
Exit status 1 when keel misses a goal of issue 8 or issue 20 (the steady-RMS
comparison with the best peer in 1, 7, 8 only with E2E_STRICT=1: see below),
and when a real-PHC check failed or did not run (even with E2E_REPORT_ONLY=1:
they stand in for what needs a PHC elsewhere in CI, issue 18 §5).
With --repeat N (E2E_REPEAT) each scenario ran N times: every cell is the
median with the spread (min–max) beside it, and goals are judged on medians.
"""
import argparse
import math
import os
import re
import statistics
import sys
import time

NAMES = {
    "1": "1 converge+hold",
    "2": "2 noise 1 µs",
    "3": "3 jump 1 ms",
    "4": "4 PHC gone 30 s",
    "5": "5 restart",
    "6": "6 interference",
    "7": "7 no PRECISE",
    "8": "8 PHC sink (NIC)",
    "9": "9 noise rises 1 µs",
    "10": "10 noise rises, EXTENDED",
}
EVENT = {"3": "jump", "4": "reload", "5": "restart", "6": "interfere", "9": "noise", "10": "noise"}
# Seconds of steady window at the end (default 10): longer where keel's RMS is
# compared, so that the window spans many correlation times of the error. In 2
# (1 µs reading noise) the run is 120 s and the window its second minute: 30–60
# s after the start the estimate is still converging, and in the simulator
# keel's RMS there reached 346 ns at the 99th percentile of 200 seeds (60–120 s:
# 214 ns; medians 127 and 117 ns).
STEADY = {"1": 20.0, "2": 60.0, "3": 20.0, "7": 20.0, "8": 20.0}
# Issue 20's transients: the steady window after the event starts this many
# seconds after it (9, 10: "steady RMS within 30 s" of the noise rising) ...
STEADY_AFTER = {"9": 30.0, "10": 30.0}
# ... and the pre-event steady window is the PRE seconds before it (3: 6-12 s
# after the start; 9, 10: 9-15 s).
PRE = 6.0
# The E line's time is taken just after the write that injects the event, by
# a separate process: under TCG the event can be a few ms older than it. The
# pre-event window ends, and the update allowed to miss the event is looked
# for, this much before the E line.
EV_SLACK = 0.1
TRANSIENT = ("3", "9", "10")
# Issue 19, the time page: events nobody announces to keel (a step of the
# reference, another process's frequency write). A page read that misses the
# truth is excused ("unannounced") when it came after such an event from a
# snapshot published before the event or less than one update interval
# (PAGE_INTERVAL, keel's default 1 s) after it, whose update could not see it
# yet: the simulator's rule (tests/src/runner/time_page.rs). Every other miss
# fails the run.
UNANNOUNCED = {"3": "jump", "6": "interfere"}
PAGE_INTERVAL = 1.0
# Scenarios where keel publishes no page (8 steers a PHC, not CLOCK_REALTIME).
NO_PAGE = ("8",)
PAGE_SUM = re.compile(r"(\w+)=(\S+)")
LABEL = {"keel": "keel", "pi": "phc2sys PI", "linreg": "phc2sys linreg", "chronyd": "chronyd"}


KEEL_LINE = re.compile(r"\boffset (\S+)(?: ns)? (\S+) freq ([-+0-9.]+)(?: ppb)? delay \S+(?: ns)? bound (\S+)")
PHC2SYS_LINE = re.compile(r"phc2sys\[([0-9.]+)\]: .*offset +(-?\d+) s\d freq +([-+]?\d+)")


def parse(path):
    """{scenario: [run, ...]} in the order the runs ran (E2E_REPEAT)."""
    runs = {}
    cur = None
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return runs, ""
    for raw in text.splitlines():
        line = raw.strip("\r")
        p = line.split()
        if not p:
            continue
        k = p[0]
        try:
            if k == "B":
                cur = {"t0": float(p[2]), "c": [], "steps": [], "ev": {}, "log": [], "tlog": [], "alive": None, "end": None, "gaps": 0,
                       "page": None, "pmiss": []}
                runs.setdefault(p[1], []).append(cur)
            elif k == "C" and cur is not None and len(p) == 3:
                cur["c"].append((float(p[1]) - cur["t0"], int(p[2])))
            elif k == "X" and cur is not None:
                cur["gaps"] += 1
            elif k == "S" and cur is not None:
                cur["steps"].append(float(p[1]) - cur["t0"])
            elif k == "E" and p[1] in runs:
                r = runs[p[1]][-1]
                r["ev"][p[2]] = float(p[3]) - r["t0"]
            elif k == "Z" and p[1] in runs:
                r = runs[p[1]][-1]
                r["end"] = float(p[2]) - r["t0"]
                r["alive"] = p[3] == "1"
                cur = None  # the next run's checker may print before its B line
            elif k == "T" and len(p) >= 3 and p[1] in runs:
                # guest/pagecheck.c: "sum k=v ..." or "miss k=v ...".
                r = runs[p[1]][-1]
                kv = dict(PAGE_SUM.findall(" ".join(p[3:])))
                if p[2] == "sum":
                    r["page"] = kv
                elif p[2] == "miss":
                    r["pmiss"].append(kv)
            elif k == "L" and len(p) >= 2 and p[1] in runs:
                r = runs[p[1]][-1]
                msg = line.split(" ", 2)[2] if len(p) > 2 else ""
                if msg.startswith("@"):
                    # "@<t> <true offset ns|-> <line>" from e2etool stamp.
                    q = msg.split(" ", 2)
                    truth = None if q[1] == "-" else int(q[1])
                    msg = q[2] if len(q) > 2 else ""
                    r["tlog"].append((float(q[0][1:]) - r["t0"], truth, msg))
                r["log"].append(msg)
        except (ValueError, IndexError):
            continue
    return runs, text


# keel's guest, before the scenarios (guest/init, phc_check): keel phc, keel
# phc compare and examples/c/keel-phc2sys's dry run on the softphc's ptp0.
PHC_CHECKS = ("list", "compare", "dryrun-precise", "dryrun-extended")
COMPARE_LINE = re.compile(r"^offset ([-+]?\d+) ns \(CLOCK_REALTIME \S+ /dev/ptp0\), delay (\d+) ns, (\S+)")
DRYRUN_LINE = re.compile(r"^offset +(-?\d+) ns +delay +(-?\d+) ns")
# The reference is loaded from CLOCK_REALTIME at 0 ppb: a correct read is off
# by read delays (µs under TCG); a misdecoded one by seconds.
PHC_SANE_NS = 10_000_000


def phc_checks(text):
    """(report lines, failures) of keel's guest's real-PHC checks."""
    out = {c: [] for c in PHC_CHECKS}
    rc = {}
    for raw in text.splitlines():
        p = raw.strip("\r").split(" ", 2)
        if len(p) >= 2 and p[0] == "P" and p[1] in out:
            out[p[1]].append(p[2] if len(p) > 2 else "")
        elif len(p) == 3 and p[0] == "R" and p[1] in out:
            rc[p[1]] = p[2]
    lines, fails = [], []
    for c in PHC_CHECKS:
        if c not in rc:
            fails.append(f"real PHC, {c}: did not run (see serial-keel.log)")
            continue
        o = out[c]
        if rc[c] != "0":
            fails.append(f"real PHC, {c}: exit status {rc[c]}: " + " | ".join(o[-4:]))
            continue
        if c == "list":
            ref = any(l.startswith("/dev/ptp0") and '"softphc ref"' in l for l in o)
            works = [m for m in ("PTP_SYS_OFFSET_PRECISE", "PTP_SYS_OFFSET_EXTENDED", "PTP_SYS_OFFSET")
                     if any(l.split()[:2] == [m, "works"] for l in o)]
            if not ref or len(works) < 3:
                fails.append("real PHC, keel phc: /dev/ptp0 \"softphc ref\" with all three read methods working "
                             "not listed: " + " | ".join(o[-6:]))
            else:
                lines.append("keel phc: /dev/ptp0 \"softphc ref\", " + ", ".join(f"{m} works" for m in works))
            continue
        if c == "compare":
            m = [COMPARE_LINE.match(l) for l in o]
            m = [x for x in m if x]
            offs = [int(x.group(1)) for x in m]
            if len(m) != 3 or any(abs(v) > PHC_SANE_NS for v in offs) or any(x.group(3) != "PTP_SYS_OFFSET_PRECISE" for x in m):
                fails.append("real PHC, keel phc compare /dev/ptp0 --count 3: want 3 PRECISE offsets within "
                             f"{PHC_SANE_NS / 1e6:g} ms: " + " | ".join(o[-6:]))
            else:
                lines.append(f"keel phc compare /dev/ptp0: offsets {', '.join(fmt_ns(v) for v in offs)} (PRECISE)")
            continue
        m = [x for x in (DRYRUN_LINE.match(l) for l in o) if x]
        offs = [int(x.group(1)) for x in m]
        dels = [int(x.group(2)) for x in m]
        precise = c == "dryrun-precise"
        # PRECISE samples carry no delay; EXTENDED ones the read's width.
        method_ok = all(d == 0 for d in dels) if precise else any(d > 0 for d in dels)
        what = "PRECISE" if precise else "EXTENDED (PRECISE off)"
        if len(m) < 5 or any(abs(v) > PHC_SANE_NS for v in offs) or not method_ok:
            fails.append(f"real PHC, keel-phc2sys -d /dev/ptp0 (dry run, {what}): want 5 updates within "
                         f"{PHC_SANE_NS / 1e6:g} ms" + ("" if method_ok else ", read by " + what) + ": " + " | ".join(o[-6:]))
        else:
            lines.append(f"keel-phc2sys -d /dev/ptp0 dry run, {what}: {len(m)} updates, offsets "
                         f"{fmt_ns(min(offs))} to {fmt_ns(max(offs))}, delays up to {fmt_ns(max(dels))}")
    return lines, fails


def hold_time(samples, since, thr):
    """Seconds after `since` from which |offset| stays below thr to the end."""
    after = [(t, o) for t, o in samples if t >= since - 0.5]
    if not after or abs(after[-1][1]) >= thr:
        return None
    t_ok = after[0][0]
    for t, o in after:
        if abs(o) >= thr:
            t_ok = None
        elif t_ok is None:
            t_ok = t
    return max(0.0, t_ok - since)


def keel_freqs(log):
    """(last frequency before SIGTERM, first after restart) from keel's log, ppb."""
    before = after = None
    restarted = False
    for l in log:
        m = re.search(r"frequency left at ([-+0-9.]+) ppb", l)
        if m:
            before = float(m.group(1))
            restarted = True
            continue
        m = re.search(r"\boffset \S+(?: ns)? \S+ freq ([-+0-9.]+) ", l)
        if m and restarted and after is None and before is not None:
            after = float(m.group(1))
    return before, after


def rms_of(v):
    return math.sqrt(sum(o * o for o in v) / len(v)) if v else None


def updates(d, r):
    """[(t, freq ppb, bound ns or None, true offset ns or None)] of the daemon's
    updates, from its log: keel's stamped lines, phc2sys's own monotonic
    stamps; chronyd logs none."""
    u = []
    if d == "keel":
        for t, truth, text in r["tlog"]:
            m = KEEL_LINE.search(text)
            if m:
                b = m.group(4)
                u.append((t, float(m.group(3)), int(b) if b.isdigit() else None, truth))
    elif d in ("pi", "linreg"):
        for text in r["log"]:
            m = PHC2SYS_LINE.search(text)
            if m:
                u.append((float(m.group(1)) - r["t0"], float(m.group(3)), None, None))
    return u


def bound_check(u, events):
    """keel's printed bound against the true offset when it printed it:
    (updates with a bound, violations, violations allowed, largest excess ns).
    Allowed: the first bounded update at or after each injected event (issue
    20: "violations only at the one update that first sees an unannounced
    event")."""
    firsts = set()
    for te in events:
        for i, (t, _, b, truth) in enumerate(u):
            if t >= te - EV_SLACK and b is not None and truth is not None:
                firsts.add(i)
                break
    n = bad = allowed = 0
    excess = None
    for i, (t, _, b, truth) in enumerate(u):
        if b is None or truth is None:
            continue
        n += 1
        if abs(truth) > b:
            if i in firsts:
                allowed += 1
                continue
            bad += 1
            e = abs(truth) - b
            excess = e if excess is None else max(excess, e)
    return n, bad, allowed, excess


def analyse(s, r, d):
    c = r["c"]
    ev = EVENT.get(s)
    since = r["ev"].get(ev, 0.0) if ev else 0.0
    end = r["end"] if r["end"] is not None else (c[-1][0] if c else 0.0)
    if s in STEADY_AFTER:
        w0 = since + STEADY_AFTER[s]
    else:
        w0 = end - STEADY.get(s, 10.0)
    steady = [o for t, o in c if w0 <= t <= end]
    rms = rms_of(steady)
    mx = max(abs(o) for o in steady) if steady else None
    x = {
        "h1": hold_time(c, since, 1000),
        "h100": hold_time(c, since, 100),
        "rms": rms,
        "max": mx,
        # Steps: the first (initial) step is expected from +0.5 s; count the others too.
        "steps": len(r["steps"]),
        "steps_after": len([t for t in r["steps"] if t > 5.0]),
        "alive": r["alive"],
        "since": since,
    }
    if s in TRANSIENT and ev in r["ev"]:
        x["pre"] = rms_of([o for t, o in c if since - EV_SLACK - PRE <= t < since - EV_SLACK])
    u = updates(d, r)
    if u and ev in r["ev"]:
        after = [f for t, f, _, _ in u if since < t <= end]
        before = [f for t, f, _, _ in u if t <= since][-1:]
        # Updates (log lines) per second and the frequency's excursion (the
        # one in force at the event included) from the event to the end.
        x["rate"] = len(after) / (end - since) if end > since else None
        x["fexc"] = max(before + after) - min(before + after) if after else None
    if d == "keel":
        if r["tlog"]:
            n, bad, allowed, excess = bound_check(u, list(r["ev"].values()))
            x["bn"], x["bad"], x["ballowed"], x["bexcess"] = n, bad, allowed, excess
        if s == "5":
            b, af = keel_freqs(r["log"])
            x["f5"] = (b, af)
            x["df5"] = None if b is None or af is None else af - b
        if s == "6":
            x["interf"] = any("interference" in l for l in r["log"])
        x["page"] = page_check(s, r)
    return x


def page_check(s, r):
    """The time page's reads in run r of scenario s (issue 19): None when
    pagecheck printed no summary, else a dict of the counts, with the misses
    classified and described."""
    sm = r["page"]
    if sm is None:
        return None
    g = {k: int(float(sm.get(k, "0"))) for k in ("reads", "checks", "misses", "unlisted", "worst_ns", "median_half_ns", "unknown", "disrupted",
                                                  "errors", "truth_gaps", "modelled_checks", "modelled_misses", "free_running")}
    ev = UNANNOUNCED.get(s)
    te = r["ev"].get(ev) if ev else None
    g["excused"] = 0
    # Unlisted misses' sizes are unknown: the worst of all then.
    g["worst_unexcused"] = g["worst_ns"] if g["unlisted"] else 0
    g["lines"] = []
    for m in r["pmiss"]:
        try:
            t_from = float(m["from"]) - r["t0"]
            t_to = float(m["to"]) - r["t0"]
            asof = float(m["asof"]) - r["t0"]
            n = int(m["n"])
            lo, hi = (int(v) for v in m["err"].split(".."))
        except (KeyError, ValueError):
            continue
        excused = te is not None and t_from >= te - EV_SLACK and asof <= te + PAGE_INTERVAL
        if excused:
            g["excused"] += n
        else:
            g["worst_unexcused"] = max(g["worst_unexcused"], int(m.get("by", "0")))
        err = fmt_sns(lo) if lo == hi else f"{fmt_sns(lo)} .. {fmt_sns(hi)}"
        rel = f" ({t_from - te:+.3f} s from the {ev})" if te is not None else ""
        g["lines"].append(
            f"{t_from:.3f}–{t_to:.3f} s{rel}: {n} read(s) of the snapshot of {asof:.3f} s, "
            f"{m.get('status', '?')} ±{fmt_ns(int(m.get('half', '0')))}, CLOCK_REALTIME − truth {err}, "
            f"missed by {fmt_ns(int(m.get('by', '0')))}" + (" (truth modelled: PHC gone)" if m.get("modelled") == "1" else "")
            + (f" [unannounced {ev}]" if excused else ""))
    # Misses beyond pagecheck's listed episodes are never excused.
    g["unexcused"] = g["misses"] - g["excused"]
    return g


def median(vals, never=False):
    """Median over the repeats. never=True: None means "never" (a hold time)
    and sorts above every number; else Nones are left out."""
    if never:
        v = [math.inf if x is None else x for x in vals]
    else:
        v = [x for x in vals if x is not None]
    if not v:
        return None
    m = statistics.median(v)
    return None if math.isinf(m) else m


def aggregate(xs):
    """One dict of medians over the repeats, and the runs kept for spreads."""
    keys = set().union(*xs)
    a = {"runs": xs}
    for k in keys:
        vals = [x.get(k) for x in xs]
        if k in ("h1", "h100"):
            a[k] = median(vals, never=True)
        elif k in ("alive", "interf"):
            v = [1.0 if x else 0.0 for x in vals if x is not None]
            a[k] = None if not v else statistics.median(v) >= 0.5
        elif k == "f5":
            a[k] = vals[len(vals) // 2]
        elif k == "page":
            a[k] = vals
        elif k == "df5":
            # Judged by size: the median of |Δ|.
            v = [abs(x) for x in vals if x is not None]
            a[k] = statistics.median(v) if v else None
        else:
            a[k] = median(vals)
    return a


def fmt_s(v):
    return "never" if v is None else f"{v:.1f} s"


def fmt_ns(v):
    if v is None:
        return "-"
    return f"{v:.0f} ns" if v < 10000 else f"{v / 1000:.1f} µs"


def fmt_sns(v):
    """A signed offset."""
    return f"{v:+d} ns" if abs(v) < 10000 else f"{v / 1000:+.1f} µs"


def fmt_ppb(v):
    return "-" if v is None else f"{v:.0f} ppb" if abs(v) < 10000 else f"{v / 1000:.1f} ppm"


def fmt_rate(v):
    return "-" if v is None else f"{v:.2f}/s"


def cell(a, k, f, never=False):
    """The median of a metric, and with repeats its spread (min–max)."""
    if a is None:
        return "-"
    m = a.get(k)
    if never:
        txt = fmt_s(m)
    elif m is None:
        return "-"
    else:
        txt = f(m)
    runs = a["runs"]
    if len(runs) > 1:
        v = [x.get(k) for x in runs]
        if never:
            lo = fmt_s(min(v, key=lambda x: math.inf if x is None else x))
            hi = fmt_s(max(v, key=lambda x: math.inf if x is None else x))
        else:
            v = [x for x in v if x is not None]
            if not v:
                return txt
            lo, hi = f(min(v)), f(max(v))
        # "13 ns (12–26 ns)": the unit once when both ends share it.
        ul, uh = lo.rpartition(" "), hi.rpartition(" ")
        if ul[1] and uh[1] and ul[2] == uh[2]:
            lo = ul[0]
        txt += f" ({lo}–{hi})"
    return txt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=float, default=time.time())
    ap.add_argument("--accel", default="?")
    ap.add_argument("--kernel", default="?")
    ap.add_argument("--scen", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("dir")
    ap.add_argument("daemons", nargs="+")
    a = ap.parse_args()

    res = {}
    info = {}
    texts = {}
    for d in a.daemons:
        runs, text = parse(f"{a.dir}/serial-{d}.log")
        texts[d] = text
        m = re.search(r"E2E READY (\S+) (\S+) (\S+)", text)
        info[d] = (m.group(3) if m else "no boot", "E2E DONE" in text)
        res[d] = {s: aggregate([analyse(s, r, d) for r in rs]) for s, rs in runs.items()}
    order = sorted(NAMES, key=int)
    rep = f", {a.repeat} runs each: medians (min–max)" if a.repeat > 1 else ""

    print(f"\n### keel end-to-end lab: Debian {a.kernel} guest, {a.accel}, clocksource {info.get('keel', ('?',))[0]}{rep}\n")
    print("Offsets are CLOCK_REALTIME − truth PHC (/dev/ptp1), 4 Hz, seen by the checker; "
          "in 8 the steered NIC PHC − truth PHC (PHC → PHC, chronyd cannot). "
          "Hold times count from the daemon start (1, 2, 7, 8), the jump (3), the reload (4), "
          "the restart (5), the interference (6) or the noise rising (9, 10). Steady = last 20 s in 1, 3, 7, 8, "
          "60 s in 2, from 30 s after the noise rises to the end (15 s) in 9, 10, 10 s elsewhere. "
          "Steps are CLOCK_REALTIME's.\n")
    print("| scenario | daemon | hold < 1 µs | hold < 100 ns | steady RMS | steady max | steps | survived |")
    print("|---|---|---|---|---|---|---|---|")
    for s in order:
        for d in a.daemons:
            if s not in res.get(d, {}):
                continue
            x = res[d][s]
            alive = {True: "yes", False: "no", None: "?"}[x["alive"]]
            print(f"| {NAMES[s]} | {LABEL.get(d, d)} | {cell(x, 'h1', None, True)} | {cell(x, 'h100', None, True)} | "
                  f"{cell(x, 'rms', fmt_ns)} | {cell(x, 'max', fmt_ns)} | {cell(x, 'steps', lambda v: f'{v:g}')} | {alive} |")

    # Issue 20: the world changes under the daemons.
    tr = [s for s in TRANSIENT if any(s in res.get(d, {}) for d in a.daemons)]
    if tr:
        print("\n#### When the world changes (issue 20)\n")
        print("pre = steady RMS over the 6 s before the event; after = the table's steady window; hold times "
              "count from the event. Updates/s and the frequency's excursion (max − min, the frequency in force at the "
              "event included) from the event to the end, from the daemons' logs (keel, phc2sys; chronyd logs none). "
              "Bound: keel's updates whose printed error bound is below the true |offset| when it printed it, "
              "of all updates with a bound; [+n] = at the first update after the event (allowed).\n")
        print("| scenario | daemon | pre RMS | after RMS | < 1 µs after | < 100 ns after | updates/s after | freq excursion | bound violations |")
        print("|---|---|---|---|---|---|---|---|---|")
        for s in tr:
            for d in a.daemons:
                if s not in res.get(d, {}):
                    continue
                x = res[d][s]
                bv = "-"
                if "bn" in x:
                    bv = f"{cell(x, 'bad', lambda v: f'{v:g}')} of {cell(x, 'bn', lambda v: f'{v:g}')}"
                    if x.get("ballowed"):
                        bv += f" [+{x['ballowed']:g}]"
                print(f"| {NAMES[s]} | {LABEL.get(d, d)} | {cell(x, 'pre', fmt_ns)} | {cell(x, 'rms', fmt_ns)} | "
                      f"{cell(x, 'h1', None, True)} | {cell(x, 'h100', None, True)} | {cell(x, 'rate', fmt_rate)} | "
                      f"{cell(x, 'fexc', fmt_ppb)} | {bv} |")

    # keel's goals (issues 8, 19 and 20).
    fails = []
    misses = []
    notes = []
    k = res.get("keel")
    if k is None:
        print(f"\ne2e: {time.time() - a.start:.0f} s wall")
        return 0
    if not info["keel"][1]:
        fails.append("the keel guest did not finish (see serial-keel.log)")
    phc_lines, phc_fails = phc_checks(texts["keel"])
    print("\n#### Real PHC, read-only, in keel's guest (the softphc's ptp0)\n")
    for l in phc_lines:
        print(f"- {l}")

    def peers(s, key, never=False):
        v = [res[d][s].get(key) for d in a.daemons if d != "keel" and s in res.get(d, {})]
        if never:
            return v
        return [x for x in v if x is not None]

    def best_peer(s):
        v = peers(s, "rms")
        return min(v) if v else None

    wanted = set(a.scen.split(","))

    def need(s):
        if s not in wanted:
            return None
        if s not in k:
            fails.append(f"scenario {s}: no result")
            return None
        return k[s]

    # Steady RMS against the best peer measured in parallel: keel and the
    # peers share the guest kernel's frequency-granularity floor (15-25 ns
    # RMS), and which of four TCG guests on two host cores gets delayed more
    # moves a 20 s RMS by several ns (keel alone in scenario 7: 11 ns; the
    # same build beside a loaded host: 17-30 ns). So this comparison, with
    # 10 % + 3 ns of slack, is reported as a miss and fails the run only with
    # E2E_STRICT=1; every other goal fails it always.
    for s, fallback in (("1", 19.0), ("7", 33.0), ("8", 19.0)):
        x = need(s)
        if x is None:
            continue
        bp = best_peer(s)
        lim = (bp if bp is not None else fallback) * 1.10 + 3.0
        if s == "1" and (x["h100"] is None or x["h100"] > 3.0):
            fails.append(f"scenario 1: < 100 ns after {fmt_s(x['h100'])} (goal 3 s)")
        if s == "8" and (x["h1"] is None or x["h1"] > 5.0):
            fails.append(f"scenario 8: < 1 µs after {fmt_s(x['h1'])} (goal 5 s)")
        if s == "8" and x["steps"]:
            fails.append(f"scenario 8: CLOCK_REALTIME was stepped {x['steps']:g} time(s); keel must steer only the NIC PHC")
        if x["rms"] is None:
            fails.append(f"scenario {s}: no steady offsets")
        elif x["rms"] > lim:
            misses.append(f"scenario {s}: steady RMS {fmt_ns(x['rms'])} > {lim:.1f} ns (best peer {fmt_ns(bp)})")
    x = need("2")
    if x is not None and (x["rms"] is None or x["rms"] > 300):
        fails.append(f"scenario 2: steady RMS {fmt_ns(x['rms'])} > 300 ns")
    x = need("3")
    if x is not None:
        if x["h1"] is None or x["h1"] > 5.0:
            fails.append(f"scenario 3: back < 1 µs after {fmt_s(x['h1'])} (goal 5 s)")
        if x["steps_after"]:
            fails.append(f"scenario 3: {x['steps_after']:g} step(s) after the start")
        # Issue 20: no sawtooth after the step. The pre-step RMS is the lab's
        # floor (a few ns, the guest kernel's frequency granularity), so 5 ns
        # of absolute slack on top of the 20 %. Reported as a miss
        # (fails only with E2E_STRICT=1), as is the time below 100 ns against
        # the best peer: after a large slew the TCG guest's timekeeping holds
        # the clock still against tens of ppb for seconds and then moves it
        # by ~150 ns lumps (one TSC `mult` step's worth), for every daemon
        # (two repeated runs: keel's post-step RMS 12–62 ns, linreg's 12–60,
        # PI's 16–20; linreg back below 100 ns after 5.0–31.5 s), so one run
        # decides nothing; judge these on E2E_REPEAT medians.
        pre, post = x.get("pre"), x["rms"]
        if pre is None or post is None:
            fails.append("scenario 3: no pre- or post-step steady offsets")
        elif post > 1.2 * pre + 5.0:
            misses.append(f"scenario 3: post-step steady RMS {fmt_ns(post)} > 1.2 × pre-step {fmt_ns(pre)} + 5 ns "
                         f"= {1.2 * pre + 5.0:.1f} ns (issue 20: no sawtooth)")
        # Back below 100 ns no later than the best peer, + 1.5 s: the checker
        # resolves hold times to 0.25 s on either side, and a daemon whose
        # update grid falls just after the step reacts up to one 1 s interval
        # before one whose update fell just before it.
        pv = [math.inf if v is None else v for v in peers("3", "h100", never=True)]
        if pv and min(pv) < math.inf:
            bp = min(pv)
            if x["h100"] is None or x["h100"] > bp + 1.5:
                misses.append(f"scenario 3: < 100 ns after {fmt_s(x['h100'])}, best peer {fmt_s(bp)} "
                             f"(issue 20: no later than the best peer, + 1.5 s)")
    x = need("4")
    if x is not None:
        if not x["alive"]:
            fails.append("scenario 4: keel did not survive the PHC's absence")
        if x["steps_after"]:
            fails.append(f"scenario 4: {x['steps_after']:g} step(s) after the start")
        if x["h1"] is None:
            fails.append("scenario 4: not back < 1 µs after the reload")
    x = need("5")
    if x is not None:
        for i, y in enumerate(x["runs"]):
            b, af = y.get("f5", (None, None))
            if b is not None and af is not None:
                tag = f" (run {i + 1})" if len(x["runs"]) > 1 else ""
                notes.append(f"scenario 5{tag}: keel frequency before SIGTERM {b:+.1f} ppb, first update after restart {af:+.1f} ppb (Δ {af - b:+.1f} ppb)")
        if x.get("df5") is None:
            fails.append("scenario 5: cannot find keel's frequency before and after the restart in its log")
        elif x["df5"] > 100:
            fails.append(f"scenario 5: frequency after restart {x['df5']:.1f} ppb from before (> 0.1 ppm apart)")
    x = need("6")
    if x is not None:
        if not x.get("interf"):
            fails.append("scenario 6: keel did not report the interference")
        if x["h1"] is None or not x["alive"]:
            fails.append("scenario 6: keel did not recover from the interference")
    for s in ("9", "10"):
        x = need(s)
        if x is None:
            continue
        # (A miss, failing only with E2E_STRICT=1: a single run's window
        # decides nothing, see below.)
        # Steady RMS within 30 s of the rise at or below the best peer's, with
        # 25 % of slack: with 1 µs of noise a 15 s window's RMS spreads by a
        # factor of 2-4 from run to run (scenario 2's windows over 13 runs:
        # keel 49-237 ns, best peer 116-517 ns), and the best of three peers
        # is the smallest of three such draws; the gap was 1.1-2.5x
        # and 50x (EXTENDED) the other way. Judged on the median with E2E_REPEAT.
        bp = best_peer(s)
        if x["rms"] is None:
            fails.append(f"scenario {s}: no steady offsets")
        elif bp is not None and x["rms"] > 1.25 * bp:
            misses.append(f"scenario {s}: steady RMS from 30 s after the rise {fmt_ns(x['rms'])} > 1.25 × best peer "
                         f"{fmt_ns(bp)} (issue 20)")
        # At most one re-read per update on average (1 s interval: ≤ 2 updates/s).
        if x.get("rate") is None:
            fails.append(f"scenario {s}: no keel updates after the rise in its log")
        elif x["rate"] > 2.0:
            fails.append(f"scenario {s}: {x['rate']:.2f} updates/s after the rise (issue 20: ≤ 2, one re-read per update)")
        if x.get("fexc") is not None and x["fexc"] > 5000:
            fails.append(f"scenario {s}: frequency excursion {fmt_ppb(x['fexc'])} after the rise (issue 20: ≤ 5 ppm)")
    for s in TRANSIENT:
        x = need(s)
        if x is None:
            continue
        if x.get("bn") is None:
            fails.append(f"scenario {s}: keel's log lines are not stamped (no bound check)")
        elif x["bad"]:
            fails.append(f"scenario {s}: keel's error bound below the true |offset| at {x['bad']:g} of {x['bn']:g} updates, "
                         f"by up to {fmt_ns(x.get('bexcess'))} (issue 20: only at the first update after an event)")
    # Issue 19: the time page in the guest. Counts summed over the repeats,
    # the worst miss over them, the median of the runs' median half-widths.
    pg = [s for s in order if s in k and s in wanted and s not in NO_PAGE]
    if pg:
        print("\n#### The time page in the guest (issue 19)\n")
        print("pagecheck (guest/pagecheck.c) reads keel's page (/run/keel/time) through libkeel's keel_clock_now() "
              "every 2 ms, between two PRECISE cross-timestamps of the truth PHC; a check is a synchronised or "
              "free-running read, a miss one whose interval holds no true time the two cross-timestamps allow. "
              "Unannounced: after the reference's jump (3) or the foreign frequency write (6), read from a snapshot "
              "published before it or less than one update interval (1 s) after it. Half-width: median of the checks'. "
              "Free-running: checks read in holdover. In 4, while the truth PHC is unloaded, the truth is its line in "
              "CLOCK_MONOTONIC_RAW fitted from the cross-timestamps before (modelled). Unknown: reads with status unknown "
              "(before keel's first confident update).\n")
        print("| scenario | reads | checks (free-running, modelled) | misses | of which unannounced | worst miss | median half-width | unknown |")
        print("|---|---|---|---|---|---|---|---|")
        details = []
        for s in pg:
            gs = k[s].get("page") or []
            got = [g for g in gs if g is not None]
            if not got:
                print(f"| {NAMES[s]} | - | - | - | - | - | - | - |")
                fails.append(f"scenario {s}: no time-page reads (pagecheck printed no summary)")
                continue
            tot = {key: sum(g[key] for g in got) for key in ("reads", "checks", "misses", "excused", "unexcused", "unknown",
                                                             "free_running", "modelled_checks")}
            worst = max(g["worst_ns"] for g in got)
            worst_bad = max(g["worst_unexcused"] for g in got)
            half = statistics.median([g["median_half_ns"] for g in got if g["median_half_ns"] >= 0] or [-1])
            print(f"| {NAMES[s]} | {tot['reads']} | {tot['checks']} ({tot['free_running']}, {tot['modelled_checks']}) | {tot['misses']} | {tot['excused']} | "
                  f"{fmt_ns(worst) if tot['misses'] else '-'} | {fmt_ns(half) if half >= 0 else '-'} | {tot['unknown']} |")
            for i, g in enumerate(got):
                tag = f" run {i + 1}" if len(got) > 1 else ""
                details += [f"scenario {s}{tag}: {l}" for l in g["lines"]]
                if g["unlisted"]:
                    details.append(f"scenario {s}{tag}: {g['unlisted']} more miss(es) beyond pagecheck's 20 listed snapshots")
            if tot["checks"] == 0:
                fails.append(f"scenario {s}: no confident time-page read ({tot['reads']} reads)")
            if tot["unexcused"]:
                fails.append(f"scenario {s}: {tot['unexcused']} time-page read(s) missed the true time outside an "
                             f"unannounced event's blind window, by up to {fmt_ns(worst_bad)} (issue 19: none)")
        if details:
            print("\nTime-page misses (times from the daemon's start; the snapshot's time is its as_of):\n")
            for l in details:
                print(f"- {l}")
    # The bound everywhere else: reported, not (yet) a goal.
    for s in order:
        if s in TRANSIENT or s not in k or s not in wanted or k[s].get("bn") is None:
            continue
        x = k[s]
        notes.append(f"scenario {s}: keel's bound below the true |offset| at {x['bad']:g} of {x['bn']:g} updates"
                     + (f", by up to {fmt_ns(x['bexcess'])}" if x["bad"] else "")
                     + (f" [+{x['ballowed']:g} at the first update after the event]" if x.get("ballowed") else ""))
    for n in notes:
        print(f"\n{n}")
    print(f"\ne2e: {time.time() - a.start:.0f} s wall")
    strict = os.environ.get("E2E_STRICT") == "1"
    if misses:
        print("\nMISS (against the best peer or the run's own pre-event RMS, issues 8 and 20; fails only with E2E_STRICT=1):")
        for m in misses:
            print(f"- {m}")
    if phc_fails:
        print("\nFAIL (real-PHC checks in keel's guest, issue 18 §5):")
        for f in phc_fails:
            print(f"- {f}")
    if fails or (strict and misses):
        print("\nFAIL (keel's goals, issues 8, 19 and 20):")
        for f in fails + (misses if strict else []):
            print(f"- {f}")
        if os.environ.get("E2E_REPORT_ONLY") == "1" and not phc_fails:
            print("(E2E_REPORT_ONLY=1: not failing)")
            return 0
        return 1
    if phc_fails:
        return 1
    if misses:
        print("\nkeel meets the goals of issues 8, 19 and 20 in this run except the comparisons above.")
    else:
        print("\nkeel meets the goals of issues 8, 19 and 20 in this run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
