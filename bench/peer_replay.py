#!/usr/bin/env python3
"""Peer for the replay benchmark: the same job as bench/analytics.yaml written the
way a Python gateway script would (standard library only), reading the same CSV.

validate (ranges per metric, NaN/Inf, bad quality) -> 60 s tumbling event-time
windows per series (count, mean, min, max, population stddev, p50, p95 by linear
interpolation) -> rules: overtemp (value > 90 for 30 s, clear < 85) on
temperature readings; vibration_high (p95 > 5, clear < 4) and meter_stuck
(stddev == 0 and count >= 30) on window aggregates; open windows are flushed at
the end. Prints one JSON line: readings, alert events, seconds, readings_per_s.
"""
import csv, json, math, sys, time
from datetime import datetime, timezone

RANGES = {"temperature": (-40, 200), "vibration": (0, 1000), "power": (0, 1000), "humidity": (0, 100)}
WINDOW_US = 60_000_000
LIST = "--list" in sys.argv  # print each alert event to stderr


def parse_ts(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()) * 1_000_000


def pct(sorted_vals, q):
    pos = q * (len(sorted_vals) - 1)
    lo = int(pos)
    if lo + 1 >= len(sorted_vals):
        return sorted_vals[lo]
    return sorted_vals[lo] + (sorted_vals[lo + 1] - sorted_vals[lo]) * (pos - lo)


class Rule:
    def __init__(self, when, clear, for_us=0):
        self.when, self.clear, self.for_us, self.state = when, clear, for_us, {}

    def step(self, key, ts, x):
        phase, since = self.state.get(key, ("idle", 0))
        if phase in ("idle", "pending"):
            if not self.when(x):
                self.state[key] = ("idle", 0)
                return 0
            if phase == "idle":
                since = ts
            if ts - since >= self.for_us:
                self.state[key] = ("open", ts)
                return 1
            self.state[key] = ("pending", since)
            return 0
        if self.clear(x):
            self.state[key] = ("idle", 0)
            return -1
        return 0


def main(path):
    overtemp = Rule(lambda v: v > 90, lambda v: v < 85, 30_000_000)
    vib = Rule(lambda a: a["p95"] > 5, lambda a: a["p95"] < 4)
    stuck = Rule(lambda a: a["stddev"] == 0 and a["count"] >= 30, lambda a: not (a["stddev"] == 0 and a["count"] >= 30))
    windows = {}  # (sensor, metric) -> [window_start, values]
    alerts = readings = 0

    def close(key, start, vals):
        nonlocal alerts
        n = len(vals)
        mean = sum(vals) / n
        s = sorted(vals)
        # Exactly 0 for a constant window (a frozen meter), as the rule needs.
        sd = 0.0 if s[0] == s[-1] else math.sqrt(max(0.0, sum((v - mean) ** 2 for v in vals) / n))
        agg = {"count": n, "mean": mean, "stddev": sd,
               "p95": pct(s, 0.95), "p50": pct(s, 0.5)}
        for rule, metric in ((vib, "vibration"), (stuck, "power")):
            if key[1] == metric:
                change = rule.step(key, start + WINDOW_US, agg)
                if change and LIST:
                    print("alert", change, key, start + WINDOW_US, file=sys.stderr)
                alerts += abs(change)

    t0 = time.perf_counter()
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)
        for ts_s, sensor, metric, value_s, quality in rows:
            readings += 1
            ts, value = parse_ts(ts_s), float(value_s)
            lo, hi = RANGES.get(metric, (-math.inf, math.inf))
            if math.isnan(value) or math.isinf(value) or quality == "2" or not lo <= value <= hi:
                continue
            key = (sensor, metric)
            start = ts - ts % WINDOW_US
            w = windows.get(key)
            if w is None:
                windows[key] = [start, [value]]
            elif start > w[0]:
                close(key, w[0], w[1])
                windows[key] = [start, [value]]
            else:
                w[1].append(value)
            if metric == "temperature":
                change = overtemp.step(key, ts, value)
                if change and LIST:
                    print("alert", change, key, ts, file=sys.stderr)
                alerts += abs(change)
    for key, (start, vals) in windows.items():
        close(key, start, vals)
    secs = time.perf_counter() - t0
    print(json.dumps({"readings": readings, "alerts": alerts, "seconds": secs, "readings_per_s": readings / secs}))


if __name__ == "__main__":
    main(sys.argv[1])
