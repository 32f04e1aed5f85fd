#!/usr/bin/env python3
"""Turn the guests' serial logs into the lab's markdown table and check keel's goals.

Input lines (see guest/init): B/C/X/S/E/L/Z, P/R from keel's guest's
read-only checks on a real PHC (the softphc) and its real-kernel fault
checks (issue 18 §6: EPERM, ENOSPC/EROFS on save, SIGSTOP) before the
scenarios, and T:
guest/pagecheck.c's reads of keel's time page against the truth (issue 19). Offsets are the checker's
CLOCK_REALTIME - /dev/ptp1 (ground truth), four times a second. keel's log
lines come stamped "@<t> <true offset ns|->" (e2etool stamp), which ties
each update, and the error bound it prints, to the truth.
Exit status 1 when keel misses a goal of issue 8 or issue 20 (the steady-RMS
comparison with the best peer in 1, 7, 8 only with E2E_STRICT=1: see below),
and when a real-PHC or fault check failed or did not run (even with
E2E_REPORT_ONLY=1: they stand in for what needs a PHC or a real kernel
elsewhere in CI, issue 18 §5 and §6).
With --repeat N (E2E_REPEAT) each scenario ran N times: every cell is the
median with the spread (min–max) beside it, and goals are judged on medians.
"""
import argparse
import json
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


# Issue 18 §6: the faults only a real kernel shows, in keel's guest before
# the scenarios (guest/init, "fault-*"): `keel sync` steering the guest's
# CLOCK_REALTIME from the softphc. The guest records, this judges.
FAULT_CHECKS = ("fault-eperm-start", "fault-eperm", "fault-state", "fault-sigstop")
FAULT_NAMES = {
    "fault-eperm-start": "EPERM: an unprivileged user",
    "fault-eperm": "EPERM: root without CAP_SYS_TIME",
    "fault-state": "state directory full (ENOSPC), read-only (EROFS)",
    "fault-sigstop": "SIGSTOP, then SIGCONT",
}
UPDATE_LINE = re.compile(r"keel: info: offset (-?\d+) ns (\S+) freq ([-+]\d+) ppb delay \S+ ns bound (-|\d+)(?: ns)?")
# What the guest's kick leaves: the clock +50 ppm fast, unsynchronised.
KICK_PPB = 50000
# The checker's |CLOCK_REALTIME - truth| at which keel holds the clock, ns.
HOLD_NS = 100
# An update late by more than this past its interval (1 s) fails the
# sigstop check: the "no update late by more than one interval",
# with a second of slack for a TCG guest on a loaded host.
LATE_SLACK_S = 1.0
# Most of keel's CPU a check may take (a spinning loop takes it all).
CPU_MAX = 0.3


def fmt_big_ns(v):
    """|v| in ns, µs or ms."""
    return "-" if v is None else fmt_ns(v) if v < 10_000_000 else f"{v / 1e6:.1f} ms"


def fault_parse(text):
    """{check: record} of the fault checks' P/R lines."""
    f = {}
    for raw in text.splitlines():
        p = raw.strip("\r").split(" ", 3)
        if len(p) < 2 or p[1] not in FAULT_CHECKS or p[0] not in ("P", "R"):
            continue
        r = f.setdefault(p[1], {"log": [], "ev": [], "kv": {}, "probes": [], "files": {}, "ls": {},
                                "c": [], "s": [], "page": [], "wait": [], "rc": None})
        if p[0] == "R":
            r["rc"] = p[2] if len(p) > 2 else ""
            continue
        if len(p) < 3:
            continue
        kind, rest = p[2], p[3] if len(p) > 3 else ""
        try:
            if kind == "log":
                # "@<t> <truth|-> <line>" (e2etool stamp; "@- -" unstamped).
                q = rest.split(" ", 2)
                t = None if q[0] == "@-" else float(q[0][1:])
                truth = None if q[1] == "-" else int(q[1])
                r["log"].append((t, truth, q[2] if len(q) > 2 else ""))
            elif kind == "ev":
                name, t = rest.split()
                r["ev"].append((name, float(t)))
            elif kind == "kv":
                r["kv"].update(kv.split("=", 1) for kv in rest.split() if "=" in kv)
            elif kind == "status":
                try:
                    st = json.loads(rest)
                except ValueError:
                    st = {"unparsed": rest}
                r["probes"].append({"status": st, "metrics": {}})
            elif kind == "metric" and r["probes"]:
                q = rest.rsplit(" ", 1)
                if len(q) == 2:
                    r["probes"][-1]["metrics"][q[0]] = q[1]
            elif kind == "file":
                label, _, line = rest.partition(" ")
                r["files"].setdefault(label, []).append(line)
            elif kind == "ls":
                label, _, names = rest.partition(" ")
                r["ls"][label] = names.split()
            elif kind == "c":
                t, ns = rest.split()
                r["c"].append((float(t), int(ns)))
            elif kind == "s":
                r["s"].append(float(rest))
            elif kind == "page":
                r["page"].append(rest)
            elif kind == "wait":
                r["wait"].append(rest)
        except (ValueError, IndexError):
            continue
    return f


def fault_updates(r):
    """keel's update lines: [(t, truth ns or None, offset ns, state, bound ns or None)]."""
    u = []
    for t, truth, line in r["log"]:
        m = UPDATE_LINE.search(line)
        if m and t is not None:
            b = m.group(4)
            u.append((t, truth, int(m.group(1)), m.group(2), None if b == "-" else int(b)))
    return u


def fault_ev(r, name, nth=0):
    """The time of the nth event `name`, or None."""
    ts = [t for n, t in r["ev"] if n == name]
    return ts[nth] if len(ts) > nth else None


def fault_page(r):
    """pagecheck's summary as a dict of ints, or None."""
    for l in r["page"]:
        if l.startswith("sum "):
            return {k: int(float(v)) for k, v in PAGE_SUM.findall(l)}
    return None


def fault_bound(u):
    """(updates with a bound, [(t, truth, bound)] where the bound is below |truth|)."""
    n, bad = 0, []
    for t, truth, _, _, b in u:
        if b is None or truth is None:
            continue
        n += 1
        if abs(truth) > b:
            bad.append((t, truth, b))
    return n, bad


def state_file(lines):
    """A state file's `key value` lines as a dict, or None when it is not keel's."""
    if not lines or not lines[0].startswith("keel-state ") or not any(l.startswith("check ") for l in lines):
        return None
    return dict(l.split(" ", 1) if " " in l else (l, "") for l in lines)


def fault_eperm_start(r):
    """An unprivileged user: refused at start (exit 1) with what to do."""
    text = " ".join(l for _, _, l in r["log"])
    fails = []
    if r["rc"] != "1":
        fails.append(f"exit status {r['rc']}, want 1 (refused at start)")
    for want in ("needs CAP_SYS_TIME", "--dry-run"):
        if want not in text:
            fails.append(f"no `{want}` in what it said: {text[:300]}")
    return f"uid 65534: refused at start, exit {r['rc']}: \"{text[:90]}…\"", fails


def fault_eperm(r):
    """Root without CAP_SYS_TIME: keel starts, every clock write fails with
    EPERM. One error naming the capability, measuring on, the refusals
    counted (status, metrics), no spin, the clock untouched, nothing it
    says (bound, time page) dishonest, a clean exit on SIGTERM."""
    fails = []
    kv = r["kv"]
    uid = kv.get("Uid", "?")
    try:
        capeff = int(kv.get("CapEff", "x"), 16)
    except ValueError:
        capeff = None
    if uid != "0" or capeff is None or capeff & (1 << 25):
        fails.append(f"the fault was not set up: keel ran as uid {uid} with CapEff {kv.get('CapEff', '?')} "
                     "(want root without bit 25, CAP_SYS_TIME)")
    refused = [(t, l) for t, _, l in r["log"] if "Operation not permitted" in l]
    if len(refused) != 1:
        fails.append(f"{len(refused)} lines saying `Operation not permitted`, want exactly 1 (the rest counted): "
                     + " | ".join(l for _, l in refused[:3]))
    elif "CAP_SYS_TIME" not in refused[0][1]:
        fails.append(f"the refusal does not name CAP_SYS_TIME: {refused[0][1]}")
    u = fault_updates(r)
    t_ref = refused[0][0] if refused else None
    after = [x for x in u if t_ref is not None and x[0] >= t_ref]
    if len(after) < 5:
        fails.append(f"{len(after)} updates after the refusal, want ≥ 5 (keel measures on)")
    # No spin: at most the start's quarter-second readings' rate, and a
    # small share of the CPU.
    span = (u[-1][0] - u[0][0]) if len(u) > 1 else 0.0
    if len(u) > 4 * span + 8:
        fails.append(f"{len(u)} updates in {span:.1f} s: keel spins")
    cpu = None
    try:
        cpu = float(kv["cpu_ticks"]) / float(kv["clk_tck"]) / float(kv["cpu_span_s"])
    except (KeyError, ValueError, ZeroDivisionError):
        fails.append("no CPU time recorded")
    if cpu is not None and cpu > CPU_MAX:
        fails.append(f"keel took {cpu:.0%} of the CPU (> {CPU_MAX:.0%}): it spins")
    st = r["probes"][0]["status"] if r["probes"] else {}
    met = r["probes"][0]["metrics"] if r["probes"] else {}
    n_ref = st.get("clock_writes_refused")
    m_ref = met.get("keel_clock_writes_refused_total")
    upd = st.get("updates")
    if not isinstance(n_ref, int) or not isinstance(upd, int):
        fails.append(f"keel status --json gives no clock_writes_refused or updates: {str(st)[:200]}")
    elif n_ref < max(1, upd - 1):
        fails.append(f"keel status: {n_ref} clock writes refused in {upd} updates (every update tries to write)")
    if m_ref is None or not m_ref.isdigit() or (isinstance(n_ref, int) and int(m_ref) < n_ref):
        fails.append(f"metrics: keel_clock_writes_refused_total {m_ref}, want ≥ the status's {n_ref}")
    # The clock untouched: the kernel frequency the kick left, and the
    # offset only drifting at it (a step would move it by -0.5 s).
    drift = None
    try:
        f0, f1 = int(kv["freq_before"]), int(kv["freq_after"])
        o0, o1 = int(kv["offset_before"]), int(kv["offset_after"])
        dt = float(kv["t_after"]) - float(kv["t_before"])
        drift = o1 - o0 - KICK_PPB * dt
        if abs(f0 - KICK_PPB) > 1 or abs(f1 - KICK_PPB) > 1:
            fails.append(f"kernel frequency {f0:+d} ppb before, {f1:+d} ppb after, want {KICK_PPB:+d} (untouched)")
        if abs(drift) > 100_000:
            fails.append(f"CLOCK_REALTIME − truth moved by {fmt_sns(o1 - o0)} in {dt:.1f} s, "
                         f"{fmt_sns(int(drift))} off the +50 ppm drift: the clock was changed")
    except (KeyError, ValueError):
        fails.append("no kernel frequency and offset before and after")
    nb, bad = fault_bound(u)
    if bad:
        t, tr, b = bad[0]
        fails.append(f"keel's bound below the true |offset| at {len(bad)} of {nb} updates (first: {fmt_sns(tr)} "
                     f"against ± {fmt_ns(b)} at {t:.1f} s)")
    pg = fault_page(r)
    if pg is None or pg.get("reads", 0) == 0:
        fails.append("no time-page reads (pagecheck printed no summary)")
    elif pg.get("misses", 0):
        fails.append(f"the time page missed the truth in {pg['misses']} of {pg['checks']} confident reads, "
                     f"by up to {fmt_ns(pg.get('worst_ns'))}")
    if r["rc"] != "0" or not any("signal 15: stopping" in l for _, _, l in r["log"]):
        fails.append(f"exit status {r['rc']} on SIGTERM, want 0 after `signal 15: stopping`")
    what = (refused[0][1].split("error: ", 1)[-1][:70] + "…") if refused else "-"
    line = (f"uid {uid}, CapEff {kv.get('CapEff', '?')}: one error \"{what}\"; {len(after)} updates on, "
            f"{n_ref} writes refused (status; metrics {m_ref}), CPU {'-' if cpu is None else f'{cpu:.0%}'}; "
            f"kernel frequency {kv.get('freq_after', '?')} ppb untouched"
            + (f" (offset {fmt_sns(int(drift))} off the kick's drift)" if drift is not None else "")
            + f"; bound held at {nb - len(bad)} of {nb} updates; page: {pg.get('misses', '-') if pg else '-'} misses in "
            f"{pg.get('checks', '-') if pg else '-'} confident reads (±{fmt_big_ns(pg.get('median_half_ns')) if pg else '-'}); "
            f"exit {r['rc']} on SIGTERM")
    return line, fails


def fault_state(r):
    """The state directory full, then read-only, on save: a warning naming
    the path and the reason each time, updates on, the old file intact and
    nothing left beside it, the next save after the fault good."""
    fails = []
    path = "/run/kst/state"
    files = {k: state_file(v) for k, v in r["files"].items()}
    u = fault_updates(r)
    t_full, t_space, t_ro, t_rw = (fault_ev(r, n) for n in ("full", "space", "ro", "rw"))
    t_ok1, t_ok2 = fault_ev(r, "changed", 0), fault_ev(r, "changed", 1)
    if files.get("saved") is None:
        fails.append("keel never saved a good state file to start from: " + " | ".join(r["files"].get("saved", [])[:3]))
    t_term = fault_ev(r, "term")
    got = []
    for (fault, t0, t1, t_ok, t_next, label, good_before, good_after, reason) in (
            ("ENOSPC", t_full, t_space, t_ok1, t_ro, "full", "saved", "space", "No space left on device (os error 28)"),
            ("EROFS", t_ro, t_rw, t_ok2, t_term, "ro", "space", "rw", "Read-only file system (os error 30)")):
        if None in (t0, t1, t_ok, t_next):
            fails.append(f"{fault}: the guest did not get through it (events {[n for n, _ in r['ev']]})")
            continue
        warn = f"keel: warning: {path}: cannot save the state file: {reason}"
        during = [l for t, _, l in r["log"] if t is not None and t0 <= t <= t1 + 0.5 and warn in l]
        late = [l for t, _, l in r["log"] if t is not None and t_ok < t < t_next and "cannot save the state file" in l]
        ups = [x for x in u if t0 <= x[0] <= t1]
        if not during:
            fails.append(f"{fault}: no `{warn}`")
        if late:
            fails.append(f"{fault}: saves still failed after the fault ended: {late[0]}")
        if len(ups) < 2:
            fails.append(f"{fault}: {len(ups)} updates while saves failed (keel must steer on)")
        off = [abs(x[1]) for x in ups if x[1] is not None]
        if off and max(off) > 1000:
            fails.append(f"{fault}: the clock {fmt_ns(max(off))} off the truth while saves failed")
        if r["files"].get(label) != r["files"].get(good_before):
            fails.append(f"{fault}: the state file changed while saves failed (not atomic): "
                         + " | ".join(r["files"].get(label, [])[:4]))
        tmp = [n for n in r["ls"].get(label, []) if n.startswith("state.")]
        if tmp:
            fails.append(f"{fault}: left beside the state file: {' '.join(tmp)}")
        a, b = files.get(good_after), files.get(label)
        if a is None or b is None or a == b or int(a.get("saved_unix", 0)) <= int(b.get("saved_unix", 0)):
            fails.append(f"{fault}: the next save after the fault did not go through: "
                         + " | ".join(r["files"].get(good_after, [])[:4]))
        got.append(f"{fault}: {len(during)} warning(s) \"…{path}: cannot save the state file: {reason}\", "
                   f"{len(ups)} updates meanwhile, the file intact, saved again {t_ok - t1:.1f} s after")
    if files.get("exit") is None:
        fails.append("no good state file after the exit")
    if r["rc"] != "0":
        fails.append(f"exit status {r['rc']} on SIGTERM, want 0")
    return "; ".join(got) + f"; exit {r['rc']}", fails


def fault_sigstop(r):
    """SIGSTOP for a while, then SIGCONT: no update while stopped, `keel
    status` says the daemon does not answer, the time page honest and then
    void; after SIGCONT the overdue update at once and the rest on time, on
    a fresh reading (no stale correction), no step, no false disruption or
    interference, the clock back within HOLD_NS, the bound honest at every
    update; a clean exit."""
    fails = []
    kv = r["kv"]
    u = fault_updates(r)
    t_stop, t_cont, t_term = fault_ev(r, "stop"), fault_ev(r, "cont"), fault_ev(r, "term")
    if None in (t_stop, t_cont, t_term):
        return "-", [f"the guest did not get through it (events {[n for n, _ in r['ev']]})"]
    stop_s = t_cont - t_stop
    before = [x for x in u if x[0] < t_stop]
    if not before or before[-1][3] not in ("locked", "locked-stable"):
        fails.append("keel was not locked when it was stopped")
    while_stopped = [x for x in u if t_stop + 0.5 < x[0] < t_cont]
    if while_stopped:
        fails.append(f"{len(while_stopped)} updates while keel was stopped: it was not")
    if kv.get("status_while_stopped") in (None, "0") or not any("did not answer within" in l for l in r["wait"]):
        fails.append("keel status while keel was stopped: " + (" | ".join(r["wait"]) or "no answer recorded")
                     + f" (exit {kv.get('status_while_stopped')}), want an error saying it did not answer")
    after = [x for x in u if x[0] >= t_cont]
    if not after:
        return "-", fails + ["no update after SIGCONT"]
    first = after[0]
    delay = first[0] - t_cont
    if delay > 1.0 + LATE_SLACK_S:
        fails.append(f"the overdue update came {delay:.2f} s after SIGCONT (want at once)")
    gaps = [b[0] - a[0] for a, b in zip(after, after[1:])]
    if gaps and max(gaps) > 2.0 + LATE_SLACK_S:
        fails.append(f"an update {max(gaps):.2f} s after the one before it, after SIGCONT (interval 1 s)")
    span = after[-1][0] - t_cont
    if len(after) > 2 * span + 4:
        fails.append(f"{len(after)} updates in the {span:.1f} s after SIGCONT: the owed ones in a burst")
    late = [l for t, _, l in r["log"] if t is not None and t >= t_cont and "s late: keel did not run" in l]
    if len(late) != 1:
        fails.append(f"{len(late)} lines saying how late the update was, want 1")
    else:
        m = re.search(r"this update is ([0-9.]+) s late", late[0])
        if not m or abs(float(m.group(1)) - stop_s) > 5.0:
            fails.append(f"keel says `{late[0]}` after a {stop_s:.0f} s stop")
    for word in ("disruption", "interference"):
        said = [l for t, _, l in r["log"] if t is not None and t >= t_stop and word in l]
        if said:
            fails.append(f"a false {word} after the stop: {said[0]}")
    steps = [t for t in r["s"] if t > t_stop]
    if steps:
        fails.append(f"CLOCK_REALTIME stepped {len(steps)} time(s) after the stop (keel's policy: step only at first)")
    # A fresh reading: what keel measured at the first update after SIGCONT
    # is the offset the checker saw then (a stale one would be ~0).
    c_wake = [o for t, o in r["c"] if t_stop < t <= t_cont]
    wake = c_wake[-1] if c_wake else None
    if first[1] is None or abs(first[2] - first[1]) > 20 + abs(first[1]) // 10:
        fails.append(f"the first update after SIGCONT measured {fmt_sns(first[2])} where the truth was "
                     f"{'-' if first[1] is None else fmt_sns(first[1])}: not a fresh reading")
    if wake is None or abs(wake) < HOLD_NS:
        fails.append(f"the clock drifted only {'-' if wake is None else fmt_sns(wake)} over the stop: the fault "
                     f"tested nothing (stop_ppb {kv.get('stop_ppb')})")
    # No stale correction: never further off after SIGCONT than at it, and
    # back within HOLD_NS for good within 10 s.
    c_after = [(t, o) for t, o in r["c"] if t > t_cont]
    worst = max((abs(o) for _, o in c_after), default=None)
    if worst is None:
        fails.append("no checker readings after SIGCONT")
    elif wake is not None and worst > abs(wake) + HOLD_NS:
        fails.append(f"after SIGCONT the clock went {fmt_ns(worst)} off, past the {fmt_sns(wake)} it woke to")
    back = hold_time(c_after, t_cont, HOLD_NS)
    if back is None or back > 10.0:
        fails.append(f"back within {HOLD_NS} ns {fmt_s(back)} after SIGCONT (want ≤ 10 s)")
    nb, bad = fault_bound(after)
    if bad:
        t, tr, b = bad[0]
        fails.append(f"keel's bound below the true |offset| at {len(bad)} of {nb} updates after SIGCONT "
                     f"(first: {fmt_sns(tr)} against ± {fmt_ns(b)}, {t - t_cont:.1f} s after)")
    pg = fault_page(r)
    if pg is None or pg.get("reads", 0) == 0:
        fails.append("no time-page reads (pagecheck printed no summary)")
    else:
        if pg.get("misses", 0):
            fails.append(f"the time page missed the truth in {pg['misses']} of {pg['checks']} confident reads, "
                         f"by up to {fmt_ns(pg.get('worst_ns'))}")
        if stop_s > 12 and pg.get("unknown", 0) == 0:
            fails.append("the time page never went void (unknown) while keel was stopped")
    if r["rc"] != "0":
        fails.append(f"exit status {r['rc']} on SIGTERM, want 0")
    b_before = before[-1][4] if before else None
    line = (f"{stop_s:.0f} s stopped, the reference +{kv.get('stop_ppb', '?')} ppb meanwhile: the clock drifted to "
            f"{'-' if wake is None else fmt_sns(wake)}; `keel status` meanwhile: did not answer; no update while stopped; "
            f"the overdue update {delay:.2f} s after SIGCONT measured {fmt_sns(first[2])} (truth "
            f"{'-' if first[1] is None else fmt_sns(first[1])}), bound {fmt_ns(b_before)} before → {fmt_ns(first[4])}; "
            f"\"{late[0].split('warning: ', 1)[-1][:60] + '…' if len(late) == 1 else '-'}\"; "
            f"no step, disruption or interference; back < {HOLD_NS} ns after {fmt_s(back)}, worst "
            f"{fmt_ns(worst)}; bound held at {nb - len(bad)} of {nb} updates; page: "
            f"{pg.get('misses', '-') if pg else '-'} misses in {pg.get('checks', '-') if pg else '-'} confident reads, "
            f"{pg.get('unknown', '-') if pg else '-'} void; exit {r['rc']}")
    return line, fails


def fault_checks(text):
    """(report rows (fault, what keel did, verdict), failures) of the fault checks."""
    f = fault_parse(text)
    judge = {"fault-eperm-start": fault_eperm_start, "fault-eperm": fault_eperm,
             "fault-state": fault_state, "fault-sigstop": fault_sigstop}
    rows, fails = [], []
    for c in FAULT_CHECKS:
        r = f.get(c)
        if r is None or r["rc"] is None:
            fails.append(f"real kernel, {FAULT_NAMES[c]}: did not run (see serial-keel.log)")
            rows.append((FAULT_NAMES[c], "did not run", "FAIL"))
            continue
        line, bad = judge[c](r)
        fails += [f"real kernel, {FAULT_NAMES[c]}: {b}" for b in bad]
        rows.append((FAULT_NAMES[c], line, "FAIL" if bad else "ok"))
    return rows, fails


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
    fault_rows, fault_fails = fault_checks(texts["keel"])
    print("\n#### Faults only a real kernel shows (issue 18 §6), in keel's guest\n")
    print("`keel sync` steering the guest's CLOCK_REALTIME from the softphc; times in the guest. "
          "The simulated half of the matrix: `cargo test -p keel-shim --test fault_matrix`.\n")
    print("| fault | what keel did | |")
    print("|---|---|---|")
    for name, line, verdict in fault_rows:
        print(f"| {name} | {line} | {verdict} |")
    phc_fails += fault_fails

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
        print("\nFAIL (real-PHC checks and real-kernel faults in keel's guest, issue 18 §5 and §6):")
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
