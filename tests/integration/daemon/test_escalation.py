"""test_escalation: a module that never registers is given up, visibly.

Two modems; module 1's every AT+MIPLOPEN ends with +MIPLEVENT:0,7 (register
failed), across reboots; module 0 has no fault. The gateway must escalate
within bounds (backoffs, DELETE and CREATE, the module reboot) and then
show the device as failed for registration:
  - `sotagw status` shows module 1's device failed for registration, and so
    does its row in the database's devices table (state or a column naming
    the registration);
  - the simulator saw a bounded number of CREATE and OPEN commands and at
    least one reboot command (AT+CMRB, or AT+NRB) from the gateway, and no
    OPEN in the quiet period after the failure was shown (the gateway
    waits, it does not keep trying);
  - module 0 beside it is upgraded as if alone."""
import re
import sys
import time

import fleet
from fleet import check

MAX_OPENS = 20       # a bounded escalation; the daemon's is far shorter
FAIL_WITHIN_S = 540  # default backoffs 5 s doubling: minutes, not hours
QUIET_S = 30         # no new OPEN this long after the failure is shown


def status_line(fl, imei):
    for ln in fl.status_lines()[1:]:
        if imei in ln:
            return ln
    return None


def shows_failure(fl, imei):
    ln = status_line(fl, imei)
    if ln is None:
        return None
    low = ln.lower()
    return ln if "fail" in low and "registration" in low else None


def opens(fl, i):
    return sum(1 for ln in fl.trace_lines(i, ">")
               if re.match(r"AT\+MIPLOPEN=", ln, re.I))


def body(bins):
    fl = fleet.Fleet("escalation", bins, 2, image_size=8192,
                     modules={1: {"faults": {"open_fails": -1}}},
                     platform={"task_timeout_s": 3600})
    ok = False
    try:
        fl.start()
        # module 1's IMEI, as the module printed it to the gateway
        imei = fleet.wait_for(lambda: next(
            (ln.split(":", 1)[1].strip() for ln in fl.trace_lines(1, "<")
             if ln.startswith("+CGSN:")), None), 60, "module 1's IMEI")
        t0 = time.monotonic()
        line = fleet.wait_for(lambda: shows_failure(fl, imei),
                              FAIL_WITHIN_S,
                              "`sotagw status` to show module 1 failed for "
                              "registration")
        print("status after %.0f s: %s" % (time.monotonic() - t0, line))
        n_open = opens(fl, 1)
        quiet_end = time.monotonic() + QUIET_S
        fleet.wait_for(lambda: time.monotonic() > quiet_end and
                       [j for j in fl.jobs() if j["phase"] == "done"],
                       QUIET_S + 300, "module 0's job done and the quiet "
                       "period over")
        check(fl.gw_alive(), "sotagw exited; see " + fl.gw_log)
        n_open_after = opens(fl, 1)
        rep = fl.stop_msim()
        m1 = fl.module(1)
        print("module 1: commands %s, registration %s"
              % (m1["commands"], m1["registration"]))
        fleet.run_sections([
            ("database", lambda: check_db(fl, imei)),
            ("bounded escalation",
             lambda: check_bounded(m1, n_open, n_open_after)),
            ("module 0 beside it", lambda: check_clean(fl)),
            ("clean stop", lambda: fleet.stop_clean(fl))])
        print("escalation: done in %.1f s" % rep["elapsed_s"])
        ok = True
    finally:
        fl.close(ok)


def check_db(fl, imei):
    rows = fl.query("SELECT * FROM devices WHERE imei = ?", (imei,))
    check(len(rows) == 1, "no devices row for module 1")
    row = rows[0]
    named = any(isinstance(v, str) and "registration" in v.lower()
                for v in row.values())
    check(row["state"] == "fault" or named,
          "devices row shows no registration failure: %s" % row)


def check_bounded(m1, n_open, n_open_after):
    c = m1["commands"]
    check(c["reboot"] >= 1, "no reboot command: %s" % c)
    check(0 < c["open"] <= MAX_OPENS and c["create"] <= MAX_OPENS,
          "unbounded attempts: %s" % c)
    check(m1["registration"]["registrations"] == 0, "module 1 registered")
    check(n_open_after == n_open, "%d OPENs in the %d s after the failure "
          "was shown" % (n_open_after - n_open, QUIET_S))


def check_clean(fl):
    fleet.check_module_clean(fl, 0)
    fleet.check_device_upgraded(fl, 0)


if __name__ == "__main__":
    sys.exit(fleet.run_test("test_escalation", body))
