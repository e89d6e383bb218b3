#!/usr/bin/env python3
"""fleet_bench.py: the gateway's benchmark (issue 11, BENCHMARKS.md).

One run = one scenario: N modems (m531x-sim), each with its field device
(fieldsim, one Modbus TCP endpoint per device), one image size, one pacing
(unpaced, or both directions of every modem line at a baud rate). The
fleet is the acceptance harness's (tests/integration/daemon/fleet.py): the
real `sotagw run`, at log_level info. Per run it prints and records:

- wall time: the platform's task start (--start-s after the simulator's
  start, once the gateway knows its field devices) to the simulator's exit
  (every task ended);
- line efficiency (paced runs): per module, the line time of the bytes the
  module sent from its first +MIPLWRITE to the last AT+MIPLSOTA=<write_ok>
  it received, over that elapsed time (from the simulator's trace); with
  request_gap_ms 0 only the gateway's own time is lost;
- platform-request answer times (the simulator's report, nearest rank per
  module): the median module's p50 and p99, the worst module's p99, the
  maximum;
- sotagw CPU seconds per MiB carried and peak RSS (/proc: utime + stime,
  VmHWM, read just before the daemon stops);
- fsyncs per stored chunk and group commits per second (the daemon's
  /api/v1/metrics counters over the wall time);
- the simulators' own CPU seconds, to show they were not the bottleneck.

Targets (issue 11) are printed beside each figure as met or short; they
are never asserted: the exit status is 0 when every run completed its
scenario (every module's task a success and every field device holding
the image), 1 otherwise, 2 on a harness error, 77 when the build's sotagw
has no `run`.

    tests/bench/fleet_bench.py --build build/bench --modems 64 \\
        --image-kib 64 [--baud 115200] [--json out.json] [--md out.md]

--modems takes a comma-separated list: one run per N, in one table.
Standard library only.
"""

import argparse
import json
import os
import re
import resource
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration", "daemon"))
import fleet  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024

# issue 11's targets (the answer-time one depends on N: targets())
T_RSS_MIB = 64
T_EFF = 0.98
T_FSYNC = 0.1


def cpu_s(pid):
    """utime + stime of a live process, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    return 0


def metrics(fl):
    """The daemon's counters from /api/v1/metrics: {name: value}."""
    with open(fl.config) as f:
        port = re.search(r"^listen = 127\.0\.0\.1:(\d+)$", f.read(),
                         re.M).group(1)
    url = "http://127.0.0.1:%s/api/v1/metrics" % port
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^(sotagw_[a-z_]+) ([0-9.eE+-]+)$", ln)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def unescaped_len(s):
    """Bytes of a trace record (\\r, \\n, \\\\ and \\xNN are one byte)."""
    return len(re.sub(r"\\(x[0-9A-Fa-f]{2}|.)", "x", s))


def line_efficiency(fl, baud, write_ok=1):
    """Per module: line time of the bytes it sent between its first
    +MIPLWRITE and the last AT+MIPLSOTA=<write_ok> it received, over that
    time. One pass over the trace."""
    ack = "AT+MIPLSOTA=%d\\r" % write_ok
    first = {}
    last_ack = {}
    sent = {}           # module -> [(t, bytes)] of '<' records
    with open(fl.trace_path, errors="replace") as f:
        for ln in f:
            parts = ln.rstrip("\n").split(" ", 3)
            if len(parts) < 4:
                continue
            t, mod, d, s = float(parts[0]), parts[1], parts[2], parts[3]
            if d == "<":
                if mod not in first and "+MIPLWRITE" in s:
                    first[mod] = t
                if mod in first:
                    sent.setdefault(mod, []).append((t, unescaped_len(s)))
            elif d == ">" and ack in s:
                last_ack[mod] = t
    eff = []
    for mod, t0 in first.items():
        t1 = last_ack.get(mod)
        if t1 is None or t1 <= t0:
            continue
        n = sum(b for t, b in sent.get(mod, []) if t <= t1)
        eff.append((n * 10.0 / baud) / (t1 - t0))
    return sorted(eff)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def verdict(ok):
    return "met" if ok else "short"


def run_one(bins, n, image_kib, baud, gap_ms, chunk, timeout_s, keep,
            start_s):
    defaults = {"faults": {"baud": baud}} if baud else {}
    fl = fleet.Fleet("bench%d" % n, bins, n, image_size=image_kib * 1024,
                     platform={"chunk_size": chunk, "request_gap_ms": gap_ms,
                               "first_request_ms": 100,
                               "deadline_ms": 10000, "resend_ms": 10000},
                     defaults=defaults, log_level="info", start_s=start_s,
                     fieldsim_args=["--sync", "off"])
    res = {"modems": n, "image_kib": image_kib, "baud": baud,
           "request_gap_ms": gap_ms, "chunk_size": chunk,
           "task_start_s": start_s}
    ok = False
    try:
        fl.make_image()
        fl.start_fieldsim()
        fl.write_scenario()
        fl.start_msim()
        fl.write_config()
        t0 = time.monotonic()
        fl.start_gw()
        # m531x-sim is the only child reaped inside wait_msim(): its CPU is
        # the growth of the reaped children's rusage.
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rep = fl.wait_msim(timeout_s)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res["msim_cpu_s"] = (ru1.ru_utime + ru1.ru_stime -
                             ru0.ru_utime - ru0.ru_stime)
        res["run_s"] = time.monotonic() - t0
        res["sim_elapsed_s"] = rep["elapsed_s"]
        # the task's start (start_s into the simulator's run) to its exit
        res["wall_s"] = rep["elapsed_s"] - start_s
        mods = rep["modules"]
        res["success"] = sum(1 for m in mods if m["outcome"] == "success")
        res["outcomes"] = rep["summary"]
        reasons = {}
        for m in mods:
            if m["outcome"] != "success":
                k = "%s: %s" % (m["outcome"], m["reason"])
                reasons[k] = reasons.get(k, 0) + 1
        res["failure_reasons"] = reasons
        res["verified"] = 0
        for i in range(n):
            try:
                fleet.check_device_upgraded(fl, i)
                res["verified"] += 1
            except fleet.FleetError:
                pass
        res["missed_deadlines"] = sum(m["missed_deadlines"] for m in mods)
        res["resends"] = sum(m["resends"] for m in mods)
        lat = [m["latency"] for m in mods if m["latency"]["count"]]
        res["answer_p50_ms"] = median(x["p50_ms"] for x in lat)
        res["answer_p99_ms"] = median(x["p99_ms"] for x in lat)
        res["answer_p99_worst_ms"] = max((x["p99_ms"] for x in lat),
                                         default=None)
        res["answer_max_ms"] = max((x["max_ms"] for x in lat), default=None)
        met = metrics(fl)
        res["gw_cpu_s"] = cpu_s(fl.gw.pid)
        res["gw_peak_rss_mib"] = peak_rss_kib(fl.gw.pid) / 1024.0
        res["fieldsim_cpu_s"] = cpu_s(fl.fieldsim.pid)
        res["fieldsim_peak_rss_mib"] = peak_rss_kib(fl.fieldsim.pid) / 1024.0
        mib = n * image_kib / 1024.0
        res["mib"] = mib
        res["gw_cpu_s_per_mib"] = res["gw_cpu_s"] / mib
        chunks = met.get("sotagw_chunks_stored_total", 0)
        res["chunks_stored"] = chunks
        res["fsyncs"] = met.get("sotagw_fsyncs_total")
        res["group_commits"] = met.get("sotagw_group_commits_total")
        res["fsyncs_per_chunk"] = (res["fsyncs"] / chunks
                                   if chunks and res["fsyncs"] is not None
                                   else None)
        res["commits_per_s"] = (res["group_commits"] / res["wall_s"]
                                if res["group_commits"] is not None else None)
        if baud:
            eff = line_efficiency(fl, baud)
            res["line_eff_median"] = median(eff)
            res["line_eff_min"] = eff[0] if eff else None
        fleet.stop_clean(fl)
        ok = True
    finally:
        fl.close(ok and not keep)
    return res


def targets(r):
    """(figure name, verdict) beside each figure the issue sets a
    target for."""
    out = {}
    n = r["modems"]
    out["complete"] = verdict(r["success"] == n and r["verified"] == n)
    p99_target = 50 if n >= 1024 else 20
    if r.get("answer_p99_worst_ms") is not None:
        out["answer_p99"] = verdict(r["answer_p99_worst_ms"] <= p99_target)
    out["peak_rss"] = verdict(r["gw_peak_rss_mib"] <= T_RSS_MIB)
    if n >= 64 and r.get("fsyncs_per_chunk") is not None:
        out["fsyncs_per_chunk"] = verdict(r["fsyncs_per_chunk"] <= T_FSYNC)
    if r["baud"] == 115200 and r.get("line_eff_min") is not None:
        out["line_eff"] = verdict(r["line_eff_min"] >= T_EFF)
    r["targets"] = out
    r["answer_p99_target_ms"] = p99_target
    return out


def fmt(v, spec, unit=""):
    return "–" if v is None else (spec % v) + unit


def md_table(rows):
    head = ("| modems × image | pacing | done | wall | line eff. (median, "
            "min) | answer p50 / p99 / worst p99 / max | sotagw CPU per MiB "
            "| peak RSS | fsyncs per chunk | commits/s | sim CPU (msim, "
            "fieldsim) |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        t = r["targets"]
        pace = "%d baud" % r["baud"] if r["baud"] else "none"
        if r["baud"]:
            pace += ", gap %d ms" % r["request_gap_ms"]
        eff = "–"
        if r.get("line_eff_median") is not None:
            eff = "%.1f %%, %.1f %%" % (100 * r["line_eff_median"],
                                        100 * r["line_eff_min"])
            if "line_eff" in t:
                eff += " (%s)" % t["line_eff"]
        lat = "%s / %s / %s (%s) / %s" % (
            fmt(r["answer_p50_ms"], "%d"), fmt(r["answer_p99_ms"], "%d"),
            fmt(r["answer_p99_worst_ms"], "%d"), t.get("answer_p99", "–"),
            fmt(r["answer_max_ms"], "%d", " ms"))
        fs = fmt(r["fsyncs_per_chunk"], "%.3f")
        if "fsyncs_per_chunk" in t:
            fs += " (%s)" % t["fsyncs_per_chunk"]
        lines.append(
            "| %d × %d KiB | %s | %d/%d (%s) | %.1f s | %s | %s | %.2f s | "
            "%.1f MiB (%s) | %s | %s | %s, %.1f s |" % (
                r["modems"], r["image_kib"], pace, r["success"],
                r["modems"], t["complete"], r["wall_s"], eff, lat,
                r["gw_cpu_s_per_mib"], r["gw_peak_rss_mib"],
                t["peak_rss"], fs, fmt(r["commits_per_s"], "%.1f"),
                fmt(r.get("msim_cpu_s"), "%.1f s"), r["fieldsim_cpu_s"]))
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default="build/bench",
                   help="a build directory (default build/bench)")
    for b in ("sotagw", "fieldsim", "mkimage", "msim"):
        p.add_argument("--" + b, help="this binary instead of --build's")
    p.add_argument("--modems", default="8",
                   help="N, or a comma-separated list of N (default 8)")
    p.add_argument("--image-kib", type=int, default=64)
    p.add_argument("--baud", type=int, default=0,
                   help="line rate of every modem (0: unpaced)")
    p.add_argument("--request-gap-ms", type=int, default=0,
                   help="the platform's gap after an answer (default 0)")
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--timeout-s", type=int, default=3600)
    p.add_argument("--start-s", type=int, default=None,
                   help="the platform's task starts this long after the "
                        "simulator (default 5 + N / 16): until the gateway "
                        "has read each field device it answers the "
                        "platform's device reads with an error")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--md", help="write the Markdown table here")
    p.add_argument("--keep", action="store_true",
                   help="keep each run's directory")
    a = p.parse_args()
    paths = {"sotagw": "orchestrator/sotagw",
             "fieldsim": "tests/sim/fieldsim/fieldsim",
             "mkimage": "tests/sim/fieldsim/fieldsim-mkimage",
             "msim": "tests/sim/m531x-sim/m531x-sim"}
    for k, rel in paths.items():
        if getattr(a, k) is None:
            setattr(a, k, os.path.join(a.build, rel))
        if not os.access(getattr(a, k), os.X_OK):
            print("fleet_bench: %s: not an executable (build first)"
                  % getattr(a, k))
            return 2
    a.seed = None
    a.adversarial = False
    if not fleet.has_run(a.sotagw):
        print("SKIP: this build's sotagw has no `run` command")
        return fleet.SKIP
    try:
        ns = [int(x) for x in a.modems.split(",") if x.strip()]
    except ValueError:
        print("fleet_bench: --modems wants numbers: %r" % a.modems)
        return 2
    rows = []
    for n in ns:
        print("fleet_bench: %d modems × %d KiB, %s ..."
              % (n, a.image_kib, "%d baud" % a.baud if a.baud else
                 "unpaced"), flush=True)
        try:
            start_s = a.start_s if a.start_s is not None else 5 + n // 16
            r = run_one(a, n, a.image_kib, a.baud, a.request_gap_ms,
                        a.chunk_size, a.timeout_s, a.keep, start_s)
        except (fleet.FleetError, OSError) as e:
            print("fleet_bench: run of %d modems failed: %s" % (n, e))
            return 2
        targets(r)
        rows.append(r)
    machine = {"cpus": os.cpu_count(), "uname": " ".join(os.uname())}
    table = md_table(rows)
    print(table, end="")
    for r in rows:
        for k, v in sorted(r["failure_reasons"].items()):
            print("%d modems: %d × %s" % (r["modems"], v, k))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine, "runs": rows}, f, indent=1)
    if a.md:
        with open(a.md, "w") as f:
            f.write(table)
    return 0 if all(r["targets"]["complete"] == "met" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
