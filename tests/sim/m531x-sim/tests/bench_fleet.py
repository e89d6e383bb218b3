#!/usr/bin/env python3
"""Benchmark (not a test): N modules upgraded at once by N scripted MCUs.
Prints wall time, the simulator's own CPU time, and the answer latencies
the simulator measured (which include the python MCUs' own slowness).

    bench_fleet.py <m531x-sim> <tests/data/seed> [N]
"""
import resource
import sys
import threading
import time

import mcu


def main():
    mcu.SIM_BIN, mcu.SEED_DIR = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    t0 = time.monotonic()
    sim = mcu.Sim(mcu.seed_scenario(), modems=n)
    errors = []

    def one(i):
        try:
            m = mcu.Mcu(sim.link(i))
            m.setup()
            m.serve(timeout=120)
        except Exception as e:  # reported below
            errors.append("module %d: %s" % (i, e))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = sim.wait(60)
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    lat = [m["latency"] for m in rep["modules"]]
    print("modules %d, success %d, errors %d" %
          (n, rep["summary"]["success"], len(errors)))
    print("wall %.2f s; simulator CPU %.2f s (%.1f ms per module upgrade)" %
          (wall, ru.ru_utime + ru.ru_stime,
           1000 * (ru.ru_utime + ru.ru_stime) / n))
    print("answer latency p50 %.2f ms (median over modules), "
          "p99 max %.2f ms, max %.2f ms" %
          (sorted(x["p50_ms"] for x in lat)[n // 2],
           max(x["p99_ms"] for x in lat), max(x["max_ms"] for x in lat)))
    for e in errors[:5]:
        print(e)


if __name__ == "__main__":
    main()
