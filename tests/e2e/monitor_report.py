#!/usr/bin/env python3
"""Judges tests/e2e/monitor.sh's run: the host's `keel monitor` trace
(polls.csv) against the guest's events (events.log: each console line with
the host time it arrived, and the host's own QMP pause). Prints a markdown
report; exits 1 when a goal of issue 16 is missed.

Truth under TCG has no cross-timestamp: as in the reference lab, a straight
line (offset and drift) fitted through each undisturbed stretch is the truth,
and the known in-guest step is recovered as the difference of the lines
before and after it at the step's time.
"""
import csv
import re
import statistics
import sys

STEP_NS = 123_456_789


def events(path):
    ev = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split(" ", 1)
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        t, text = int(parts[0]), parts[1]
        # A console line may begin with the firmware's escape codes.
        m = re.search(r"([MH] (?:READY|STEPPED|STEP|STOP|CONT|END|PAUSE|RESUME|FAIL))\b(.*)", text)
        if m:
            ev.setdefault(m.group(1), (t, m.group(0)))
    return ev


def polls(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append({
                "vm": r["vm"],
                "at": int(r["at_ns"]),
                "up": r["up"] == "1",
                "offset": int(r["offset_ns"]) if r["offset_ns"] else None,
                "bound": int(r["bound_ns"]) if r["bound_ns"] else None,
                "delay": int(r["delay_ns"]) if r["delay_ns"] else None,
                "jump": int(r["jump_ns"]) if r["jump_ns"] else None,
                "newgen": r["new_generation"] == "1",
            })
    return rows


def fit(rows):
    """Least-squares offset = a + b (t - t0)."""
    t0 = rows[0]["at"]
    xs = [(r["at"] - t0) / 1e9 for r in rows]
    ys = [r["offset"] for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs) or 1.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    return lambda t: a + b * (t - t0) / 1e9, b


def channel(name, rows, T, row):
    """The goals on one channel's polls; returns the fitted lines."""
    up = [r for r in rows if r["up"] and r["offset"] is not None]
    seg_a = [r for r in up if T["M READY"] + 4e9 < r["at"] < T["M STEP"]]
    seg_b = [r for r in up if T["M STEPPED"] + 1e9 < r["at"] < T["M STOP"]]
    if len(seg_a) < 5 or len(seg_b) < 5:
        row(f"{name}: polls before / after the step", f"{len(seg_a)} / {len(seg_b)}", "≥ 5 each", False)
        return None
    fa, drift_a = fit(seg_a)
    fb, drift_b = fit(seg_b)
    resid = [r["offset"] - fa(r["at"]) for r in seg_a] + [r["offset"] - fb(r["at"]) for r in seg_b]
    outside = sum(1 for r, e in zip(seg_a + seg_b, resid) if abs(e) > r["bound"])
    rms = (sum(e * e for e in resid) / len(resid)) ** 0.5
    t_step = T["M STEPPED"]
    recovered = fb(t_step) - fa(t_step)
    step_err = recovered - STEP_NS
    after_step = [r for r in rows if r["at"] > T["M STEPPED"]]
    first = after_step[0] if after_step else None
    step_seen = bool(first and (first["newgen"] or first["jump"] is not None))
    during_stop = [r for r in rows if T["M STOP"] < r["at"] < T["M CONT"]]
    first_down = next((i for i, r in enumerate(during_stop) if not r["up"]), None)
    false_offsets = sum(1 for r in during_stop if not r["up"] and r["offset"] is not None)
    after_pause = [r for r in rows if r["at"] > T["H RESUME"] and r["up"]]
    p = after_pause[0] if after_pause else None
    pause_ns = T["H RESUME"] - T["H PAUSE"]
    pause_seen = bool(p and (p["jump"] is not None or p["newgen"]))
    delays = sorted(r["delay"] for r in up)
    bounds = [r["bound"] for r in up]
    print(f"| {name}: polls (up / all) | {len(up)} / {len(rows)} | |")
    print(f"| {name}: round trip median / p90 | {statistics.median(delays)/1e3:.0f} / {delays[int(len(delays)*0.9)]/1e3:.0f} µs | |")
    print(f"| {name}: bound median | {statistics.median(bounds)/1e3:.0f} µs | |")
    print(f"| {name}: guest drift vs host (before / after the step) | {drift_a/1e3:+.2f} / {drift_b/1e3:+.2f} ppm | |")
    row(f"{name}: accepted polls outside their bound (vs the fitted truth)", f"{outside} of {len(resid)}", "0", outside == 0)
    row(f"{name}: residual RMS against the fitted truth", f"{rms/1e3:.1f} µs", "≤ 100 µs", rms <= 100e3)
    row(f"{name}: +123.456789 ms in-guest step recovered", f"{recovered/1e6:.6f} ms ({step_err/1e3:+.1f} µs)", "within 100 µs", abs(step_err) <= 100e3)
    row(f"{name}: the step reported at the next poll", "yes" if step_seen else "no", "within 1 poll", step_seen)
    row(f"{name}: keel stopped: up = 0", "never" if first_down is None else f"at poll {first_down + 1} after SIGSTOP", "within 2 polls", first_down is not None and first_down <= 1)
    row(f"{name}: offsets served while down", str(false_offsets), "0", false_offsets == 0)
    jump = f"{p['jump']/1e9:+.3f} s" if p and p["jump"] is not None else ("new generation" if p and p["newgen"] else "not reported")
    after = [r for r in rows if r["at"] > T["H RESUME"]]
    if p is None and after and all(r["offset"] is None for r in after):
        # vhost-device-vsock 0.3.0 does not come back after a QMP stop/cont:
        # the channel stays down, and keel says so (up = 0) instead of a
        # stale or false offset.
        row(f"{name}: VM paused {pause_ns/1e9:.1f} s (QMP): the channel never came back", "up = 0, no offset served", "no false offset", True)
    else:
        row(f"{name}: VM paused {pause_ns/1e9:.1f} s (QMP): reported at the next poll", jump, "within 1 poll", pause_seen)
    return (fa, seg_a, rms)


def main(d):
    ev = events(f"{d}/events.log")
    rows = polls(f"{d}/polls.csv")
    misses = []
    need = ["M READY", "M STEP", "M STEPPED", "M STOP", "M CONT", "H PAUSE", "H RESUME", "M END"]
    missing = [k for k in need if k not in ev]
    if "M FAIL" in ev or missing:
        print(f"monitoring lab: the guest did not run through (missing {missing}, {ev.get('M FAIL')})")
        print(open(f"{d}/monitor.log", errors="replace").read()[-2000:])
        return 1
    T = {k: v[0] for k, v in ev.items()}

    def row(name, value, goal, ok):
        mark = "" if ok else " **MISS**"
        print(f"| {name} | {value} | {goal}{mark} |")
        if not ok:
            misses.append(name)

    print("\n### Monitoring lab: keel monitor ↔ keel sync over virtio-serial and vhost-user vsock (TCG)\n")
    print("| figure | measured | goal |\n|---|---|---|")
    fits = {}
    for name in ("serial", "vsock"):
        fits[name] = channel(name, [r for r in rows if r["vm"] == name], T, row)
    if fits["serial"] and fits["vsock"]:
        # Both channels measure the same clock: each vsock poll against the
        # serial channel's line, within the vsock bound plus the serial
        # line's own worst residual.
        fa, _, _ = fits["serial"]
        _, seg_v, _ = fits["vsock"]
        worst = max(abs(r["offset"] - fa(r["at"])) for r in fits["serial"][1])
        apart = [abs(r["offset"] - fa(r["at"])) - r["bound"] - worst for r in seg_v]
        disagree = sum(1 for x in apart if x > 0)
        row("vsock against serial (before the step): outside both bounds", f"{disagree} of {len(apart)}", "0", disagree == 0)
    if misses:
        print(f"\nmonitoring lab: {len(misses)} goal(s) missed: {', '.join(misses)}")
        return 1
    print("\nmonitoring lab: every goal met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
