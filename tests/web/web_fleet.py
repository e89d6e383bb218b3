#!/usr/bin/env python3
"""web_fleet.py: the browser test and the load check of the web API.

  web_fleet.py browser-fixture   the dashboard test (browser.test.js)
                                 against web-fixture: 256 modems, a fake
                                 backend, downloads advancing every 300 ms
  web_fleet.py browser           the same against `sotagw run` with the
                                 simulated fleet (m531x-sim + fieldsim)
  web_fleet.py load              wrk against /api/v1/devices while 64
                                 simulated modems upgrade; no platform
                                 request may miss its deadline

Paths come from the environment (tests/unit/web/CMakeLists.txt sets
them): SOTAGW_BIN, M531X_SIM_BIN, FIELDSIM_BIN, MKIMAGE_BIN, WEB_FIXTURE,
GW_SOURCE_DIR, GW_BUILD_DIR. The fleet is the daemon's acceptance harness
(tests/integration/daemon/fleet.py). Screenshots and logs go to
GW_BUILD_DIR/tests/web-out/<mode>/.

Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE), with
the reason printed: no chromium, no playwright-core, no wrk, or no
`sotagw run` in this build.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("GW_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
BUILD = os.environ.get("GW_BUILD_DIR", os.getcwd())


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(SKIP)


def need_browser():
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        skip("no %s (apt-get install chromium; scripts/test installs it)"
             % chromium)
    if not os.path.isdir(os.path.join(HERE, "node_modules",
                                      "playwright-core")):
        skip("no tests/web/node_modules/playwright-core "
             "(cd tests/web && npm ci; scripts/test does it)")
    if not shutil.which("node"):
        skip("no node")


def outdir(mode):
    d = os.path.join(BUILD, "tests", "web-out", mode)
    os.makedirs(d, exist_ok=True)
    return d


def run_browser(base, token, modems, out):
    r = subprocess.run(["node", os.path.join(HERE, "browser.test.js"), base,
                        token, out, str(modems)], cwd=HERE, timeout=540)
    return r.returncode


def browser_fixture():
    need_browser()
    fixture = os.environ.get("WEB_FIXTURE")
    if not fixture or not os.access(fixture, os.X_OK):
        print("WEB_FIXTURE is not set to the web-fixture binary")
        return 1
    tmp = tempfile.mkdtemp(prefix="gw-web-browser.")
    log = open(os.path.join(tmp, "fixture.log"), "w")
    p = subprocess.Popen([fixture, "--db", os.path.join(tmp, "db"),
                          "--token-file", os.path.join(tmp, "token"),
                          "--devices", "256", "--backend", "--open-reads",
                          "--tick-ms", "300"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=log)
    try:
        line = p.stdout.readline().decode()
        if not line.startswith("PORT "):
            print("web-fixture did not start: %r" % line)
            return 1
        with open(os.path.join(tmp, "token")) as f:
            token = f.read().strip()
        rc = run_browser("http://127.0.0.1:%s" % line.split()[1], token,
                         256, outdir("browser-fixture"))
    finally:
        p.stdin.close()
        p.wait(timeout=30)
        p.stdout.close()
        log.close()
    # The server must stop cleanly: a sanitizer report makes it exit
    # non-zero.
    if p.returncode != 0:
        with open(os.path.join(tmp, "fixture.log")) as f:
            print(f.read()[-4000:])
        print("web-fixture exit status %d" % p.returncode)
        rc = 1
    shutil.rmtree(tmp, ignore_errors=True)
    return rc


# ---- against the daemon ---------------------------------------------------

class Bins:
    def __init__(self):
        self.sotagw = os.environ.get("SOTAGW_BIN", "")
        self.msim = os.environ.get("M531X_SIM_BIN", "")
        self.fieldsim = os.environ.get("FIELDSIM_BIN", "")
        self.mkimage = os.environ.get("MKIMAGE_BIN", "")
        self.keep = False


def fleet_module():
    path = os.path.join(SRC, "tests", "integration", "daemon")
    if not os.path.exists(os.path.join(path, "fleet.py")):
        skip("the daemon's fleet harness (tests/integration/daemon/"
             "fleet.py) is not in this tree yet")
    sys.path.insert(0, path)
    import fleet  # noqa: E402
    return fleet


def daemon_fleet(name, modems, **kw):
    bins = Bins()
    for b in ("sotagw", "msim", "fieldsim", "mkimage"):
        if not getattr(bins, b) or not os.access(getattr(bins, b), os.X_OK):
            skip("%s is not built in this tree" % b)
    fleet = fleet_module()
    if not fleet.has_run(bins.sotagw):
        skip("this build's sotagw has no `run` yet")
    fl = fleet.Fleet(name, bins, modems, **kw)
    return fleet, fl


def web_of(fl):
    """The daemon's listen port and token, from the files it uses."""
    with open(fl.config) as f:
        port = int(re.search(r"^listen = 127\.0\.0\.1:(\d+)$", f.read(),
                             re.M).group(1))
    tok = os.path.join(fl.state_dir, "token")
    fleet_wait(lambda: os.path.exists(tok), 60, "the token file")
    with open(tok) as f:
        return "http://127.0.0.1:%d" % port, f.read().strip()


def report_daemon_exit(fl):
    """A failed run whose daemon is gone: say so, with its sanitizer report
    or the end of its log, not only what the client saw."""
    if fl.gw is not None and not fl.gw_alive():
        text = fl.gw_log_text()
        at = text.find("Sanitizer")
        if at >= 0:
            at = text.rfind("\n", 0, text.rfind("\n", 0, at) + 1) + 1
            print("sotagw stopped on a sanitizer report (status %s), in %s:"
                  % (fl.gw.returncode, fl.gw_log))
            print(text[at:at + 6000])
        else:
            print("sotagw exited during the run (status %s); the end of %s:"
                  % (fl.gw.returncode, fl.gw_log))
            print(text[-6000:])


def fleet_wait(cond, timeout_s, what):
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.05)


def http_ok(base):
    import urllib.request
    try:
        with urllib.request.urlopen(base + "/api/v1/healthz",
                                    timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def browser_daemon():
    need_browser()
    fleet, fl = daemon_fleet("web-browser", 8, image_size=65536,
                             platform={"chunk_size": 512,
                                       "request_gap_ms": 60})
    ok = False
    try:
        fl.start()
        base, token = web_of(fl)
        fleet_wait(lambda: http_ok(base), 60, "the API")
        rc = run_browser(base, token, 8, outdir("browser"))
        if rc == 0:
            fleet.stop_clean(fl)
        ok = rc in (0, SKIP)
        return rc
    finally:
        if not ok:
            report_daemon_exit(fl)
        fl.close(ok)


def parse_wrk(text):
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+[a-z]+)", text,
                          re.M))
    return float(rate.group(1)) if rate else 0.0, pct


def load_daemon():
    if not shutil.which("wrk"):
        skip("no wrk (apt-get install wrk; scripts/test installs it)")
    modems = 64
    fleet, fl = daemon_fleet("web-load", modems, image_size=65536,
                             platform={"chunk_size": 512})
    ok = False
    try:
        fl.start()
        base, token = web_of(fl)
        fleet_wait(lambda: http_ok(base), 60, "the API")
        fleet_wait(lambda: any(j["phase"] == "download" for j in fl.jobs()),
                   120, "the first download")
        out = subprocess.run(
            ["wrk", "-t2", "-c16", "-d15s", "--latency", "-H",
             "Authorization: Bearer " + token,
             base + "/api/v1/devices?limit=100"],
            capture_output=True, text=True, timeout=120).stdout
        rate, pct = parse_wrk(out)
        busy = sum(1 for j in fl.jobs() if j["phase"] not in ("done",
                                                             "failed"))
        rep = fl.wait_msim(600)
        missed = sum(m["missed_deadlines"] for m in rep["modules"])
        p99 = max(m["latency"]["p99_ms"] for m in rep["modules"])
        worst = max(m["latency"]["max_ms"] for m in rep["modules"])
        print(out)
        print("load: %d modems, %.0f requests/s on /api/v1/devices, "
              "answer time p50 %s p75 %s p90 %s p99 %s; %d jobs still "
              "running when wrk ended; platform requests: worst p99 %d ms, "
              "max %d ms, %d missed deadlines"
              % (modems, rate, pct.get("50"), pct.get("75"), pct.get("90"),
                 pct.get("99"), busy, p99, worst, missed))
        if rate <= 0:
            print("load: FAILED: wrk measured nothing")
            return 1
        if missed:
            print("load: FAILED: %d platform requests missed their "
                  "deadline under API load" % missed)
            return 1
        fleet.stop_clean(fl)
        ok = True
        print("1 passed, 0 failed")
        return 0
    finally:
        if not ok:
            report_daemon_exit(fl)
        fl.close(ok)


def main():
    modes = {"browser-fixture": browser_fixture, "browser": browser_daemon,
             "load": load_daemon}
    if len(sys.argv) != 2 or sys.argv[1] not in modes:
        print("usage: web_fleet.py browser-fixture|browser|load")
        return 2
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    return modes[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
