#!/usr/bin/env python3
"""`sotagw run` start-up, reload and shutdown, without modems.

Checks exit codes (2 for a bad config or option, 1 for a database it must
not use, 0 after SIGTERM), that the state and staging directories are
created 0700, that a SIGHUP with an invalid file keeps the daemon running
on the old configuration, and that the web API starts on --listen.
Waits are on log lines (with generous deadlines), never on sleeps."""
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

SOTAGW = sys.argv[1]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)


def write_ini(path, tmp, extra=""):
    with open(path, "w") as f:
        f.write(f"[gateway]\nstate_dir = {tmp}/state\n"
                f"[modems]\nports = {tmp}/ttyM*\n{extra}")


class Daemon:
    def __init__(self, *args):
        self.p = subprocess.Popen([SOTAGW, "run", *args],
                                  stderr=subprocess.PIPE, text=True)
        self.log = []

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stderr.readline()
            if not line:
                return False
            self.log.append(line)
            if text in line:
                return True
        return False

    def finish(self, timeout=30):
        _, err = self.p.communicate(timeout=timeout)
        self.log.append(err or "")
        return self.p.returncode


def run_once(*args):
    return subprocess.run([SOTAGW, "run", *args], capture_output=True,
                          text=True, timeout=60)


def main():
    with tempfile.TemporaryDirectory(prefix="sotagw-run-") as tmp:
        ini = os.path.join(tmp, "gw.ini")

        # usage and config errors: exit 2
        check(run_once().returncode == 2, "run without --config")
        write_ini(ini, tmp, "bogus = 1\n")
        p = run_once("--config", ini)
        check(p.returncode == 2 and "gw.ini:5" in p.stderr,
              f"bad key: {p.returncode} {p.stderr!r}")
        write_ini(ini, tmp)
        p = run_once("--config", ini, "--ports", "ttyUSB*")
        check(p.returncode == 2 and "absolute" in p.stderr,
              f"relative --ports: {p.returncode} {p.stderr!r}")
        p = run_once("--config", ini, "--log-level", "loud")
        check(p.returncode == 2, "bad --log-level")
        for bad in ("127.0.0.1", "127.0.0.1:70000", ":80", "[::1]80"):
            p = run_once("--config", ini, "--listen", bad)
            check(p.returncode == 2, f"--listen {bad}: {p.returncode}")
        p = run_once("--config", os.path.join(tmp, "missing.ini"))
        check(p.returncode == 2, "missing config")
        check(not os.path.exists(os.path.join(tmp, "state")),
              "a refused start created the state directory")

        # A database from a newer sotagw: exit 1, the file untouched.
        os.mkdir(os.path.join(tmp, "state"), 0o700)
        newer = os.path.join(tmp, "state", "newer.db")
        con = sqlite3.connect(newer)
        con.execute("CREATE TABLE t (x)")
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        before = open(newer, "rb").read()
        p = run_once("--config", ini, "--db", newer)
        check(p.returncode == 1 and "newer" in p.stderr,
              f"newer db: {p.returncode} {p.stderr!r}")
        check(open(newer, "rb").read() == before, "newer db was modified")

        # A file that is not a database: exit 1.
        junk = os.path.join(tmp, "state", "junk.db")
        with open(junk, "wb") as f:
            f.write(b"garbage" * 1000)
        p = run_once("--config", ini, "--db", junk)
        check(p.returncode == 1, f"junk db: {p.returncode} {p.stderr!r}")

        # A clean start, a bad reload, a good reload, SIGTERM.
        d = Daemon("--config", ini, "--listen", "127.0.0.1:0",
                   "--log-level", "debug")
        check(d.wait_for("running"), "daemon did not start: "
              + "".join(d.log))
        check(any("web API on port" in l for l in d.log),
              "the web API is not reported")
        staging = os.path.join(tmp, "state", "staging")
        check(os.path.isdir(staging) and
              stat.S_IMODE(os.stat(staging).st_mode) == 0o700,
              "staging directory missing or not 0700")
        write_ini(ini, tmp, "bogus = 1\n")
        d.p.send_signal(signal.SIGHUP)
        check(d.wait_for("keeping the running one"),
              "bad reload not reported: " + "".join(d.log))
        check(d.p.poll() is None, "daemon died on a bad reload")
        write_ini(ini, tmp)
        d.p.send_signal(signal.SIGHUP)
        check(d.wait_for("configuration reloaded"), "good reload")
        d.p.send_signal(signal.SIGTERM)
        rc = d.finish()
        check(rc == 0, f"exit after SIGTERM: {rc}\n" + "".join(d.log))
        log = "".join(d.log)
        order = [log.find(t) for t in ("every worker has stopped",
                                       "stopping the Modbus buses",
                                       "run: stopped")]
        check(-1 not in order and order == sorted(order),
              f"shutdown order: {order}")

    if FAILS:
        print("\n".join(FAILS))
        return 1
    print("run_cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
