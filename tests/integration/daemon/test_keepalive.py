"""test_keepalive: registrations kept alive by AT+MIPLUPDATE alone.

8 modems whose modules enforce a registration lifetime of 20 s (the OPEN's
<lifetime>, capped at 20 s) and print no event 14 (the M5311 OpenCPU event
list has none): nothing tells the gateway that a registration is running
out. The modules' timing is adversarial: each event 11 comes early, late
(up to 2 s) or twice, a held one inside the next multi-line answer or
between a chunk's head and value. The task starts after 180 s. The gateway must keep every registration
alive for those 3 minutes with keep-alives only, then upgrade all 8:
  - no lifetime expiry (event 9) on any module, one registration each (never
    lost and made again), at least one keep-alive per lifetime in the wait;
  - every upgrade succeeds and every field device runs the target.
The daemon opens with the same `lifetime` ([modems]): it cannot know a
shorter lifetime than the one it asked for. --lifetime S sets both (20 by
default: 9 lifetimes in the wait)."""
import argparse
import sys

import fleet
from fleet import check

MODEMS = 8
START_S = 180
LIFETIME_S = 20


def lifetime_arg():
    """--lifetime S from the command line (fleet.parse_bins ignores it)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--lifetime", type=int, default=LIFETIME_S)
    args, rest = p.parse_known_args()
    sys.argv[1:] = rest
    return args.lifetime


def body(bins):
    fl = fleet.Fleet("keepalive", bins, MODEMS, image_size=8192,
                     start_s=START_S, modem_cfg={"lifetime": LIFETIME_S},
                     defaults={"registration": {
                         "honour_lifetime": True,
                         "lifetime_cap_s": LIFETIME_S,
                         "update_needed_event": False},
                         # each 11 at any moment within 2 s, and one held
                         # back comes out inside the next multi-line
                         # answer or chunk (head / value)
                         "timing": {"adversarial": True,
                                    "max_delay_ms": 2000,
                                    "interleave_permille": 1000}})
    ok = False
    try:
        fl.start()
        rep = fl.wait_msim(START_S + 300)
        fleet.run_sections(
            [("modem %d" % i, lambda i=i: check_modem(fl, i))
             for i in range(MODEMS)] +
            [("clean stop", lambda: fleet.stop_clean(fl))])
        ka = [fl.module(i)["registration"]["keepalives"]
              for i in range(MODEMS)]
        inter = sum(fl.module(i)["timing"]["interleaved"]
                    for i in range(MODEMS))
        print("keepalive: %.1f s, keep-alives per module %s, %d URCs "
              "inside answers or chunks" % (rep["elapsed_s"], ka, inter))
        ok = True
    finally:
        fl.close(ok)


def check_modem(fl, i):
    m = fl.module(i)
    reg = m["registration"]
    fleet.check_module_clean(fl, i)
    fleet.check_device_upgraded(fl, i)
    check(reg["lifetime_expiries"] == 0, "module %d: %d lifetime expiries"
          % (i, reg["lifetime_expiries"]))
    check(reg["update_needed_events"] == 0, "module %d printed event 14" % i)
    check(reg["registrations"] == 1, "module %d registered %d times"
          % (i, reg["registrations"]))
    check(reg["keepalives"] >= START_S // LIFETIME_S,
          "module %d: %d keep-alives in %d s of %d-s lifetimes"
          % (i, reg["keepalives"], START_S, LIFETIME_S))
    check(not any(ln.replace(" ", "") == "+MIPLEVENT:0,9"
                  for ln in fl.trace_lines(i, "<")),
          "module %d: event 9 in the trace" % i)


if __name__ == "__main__":
    LIFETIME_S = lifetime_arg()
    sys.exit(fleet.run_test("test_keepalive", body))
