"""fleet.py: the acceptance harness of the sotagw daemon.

A Fleet runs the real programs, as a user would: fieldsim (one Modbus TCP
field device per modem, each on its own loopback endpoint), m531x-sim (the
M531x modules and the OneNET platform on ptys, with --trace) and
`sotagw run` on a generated configuration. It reads what they leave behind:
the m531x-sim report, the trace, fieldsim's state files and debug log, and
the daemon's database (read-only, through Python's sqlite3).

Standard library only. Nothing here sleeps for a fixed time to let something
happen: every wait polls a condition with a generous deadline, so a loaded
machine makes a test slower, never wrong.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77           # ctest SKIP_RETURN_CODE: the build has no `sotagw run`
POLL_S = 0.02


class FleetError(Exception):
    pass


def check(cond, what):
    """An assertion that survives python -O and names what failed."""
    if not cond:
        raise FleetError(what)


def wait_for(cond, timeout_s, what):
    """Poll cond() until it returns a true value; return that value."""
    end = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise FleetError("timed out after %ss waiting for %s"
                             % (timeout_s, what))
        time.sleep(POLL_S)


def parse_bins(argv=None):
    p = argparse.ArgumentParser()
    for b in ("sotagw", "fieldsim", "mkimage", "msim"):
        p.add_argument("--" + b, required=True)
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    p.add_argument("--seed", type=int, default=None,
                   help="m531x-sim seed (identities, faults, timing)")
    p.add_argument("--adversarial", action="store_true",
                   help="m531x-sim adversarial URC timing (README)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated seeds: one run of the test per "
                        "seed, side by side (tests that support it)")
    p.add_argument("--kills", type=int, default=20,
                   help="test_kill20: kills at least this many")
    return p.parse_args(argv)


def has_run(sotagw):
    """False when this build's sotagw has no `run` (no worker linked)."""
    r = subprocess.run([sotagw, "run", "--help"], capture_output=True,
                       text=True, timeout=30)
    return "not in this build" not in (r.stdout + r.stderr)


class Fleet:
    """One simulated gateway installation in a temporary directory.

    modules: {index: {"faults": {...}, "dialect": {...}}} for m531x-sim;
    devices: {index: "key=value,..."} extra fieldsim spec per field device;
    policy: extra [policy] keys for sotagw; modem_cfg: extra [modems] keys;
    defaults: extra module_defaults blocks for m531x-sim ("timing",
    "registration", "faults"); seed: m531x-sim's seed (else bins.seed,
    else 11); bins.adversarial turns the adversarial timing on;
    log_level: sotagw's and fieldsim's (the benchmarks run at info);
    fieldsim_args: more fieldsim options (the benchmark's --sync off).
    """

    def __init__(self, name, bins, modems, image_size=8192,
                 old_version="test0", target="test000", min_battery=20,
                 platform=None, modules=None, devices=None, policy=None,
                 battery=90, stagger_s=0, modem_cfg=None, defaults=None,
                 seed=None, start_s=0, log_level="debug", fieldsim_args=()):
        self.bins = bins
        self.fieldsim_args = list(fieldsim_args)
        self.log_level = log_level   # sotagw's and fieldsim's
        self.seed = seed if seed is not None else \
            getattr(bins, "seed", None)
        if self.seed is None:
            self.seed = 11
        self.defaults = dict(defaults or {})
        if getattr(bins, "adversarial", False):
            t = dict(self.defaults.get("timing", {}))
            t["adversarial"] = True
            self.defaults["timing"] = t
        self.modem_cfg = modem_cfg or {}
        self.n = modems
        self.image_size = image_size
        self.old_version = old_version
        self.target = target
        self.min_battery = min_battery
        self.platform = {"chunk_size": 512, "first_request_ms": 100,
                         "request_gap_ms": 20, "resend_ms": 3000,
                         "max_resends": 3, "deadline_ms": 3000,
                         "update_wait_s": 120, "task_timeout_s": 600,
                         "reboot_banner_ms": 300}
        self.platform.update(platform or {})
        self.modules = modules or {}
        self.devices = devices or {}
        self.policy = {"min_staging_free_kib": 0, "retry_backoff_min": 1,
                       "retry_backoff_max": 5}
        self.policy.update(policy or {})
        self.battery = battery
        self.stagger_s = stagger_s   # module i's task starts at i * this
        self.start_s = start_s       # the fleet's one task starts then
        self.dir = tempfile.mkdtemp(prefix="sotagw-%s." % name)
        self.fs_dir = os.path.join(self.dir, "fs")
        self.sim_dir = os.path.join(self.dir, "sim")
        self.state_dir = os.path.join(self.dir, "state")
        self.db_path = os.path.join(self.state_dir, "sotagw.db")
        self.report_path = os.path.join(self.dir, "report.json")
        self.trace_path = os.path.join(self.dir, "trace.txt")
        self.gw_log = os.path.join(self.dir, "sotagw.log")
        self.fs_log = os.path.join(self.dir, "fieldsim.log")
        for d in (self.fs_dir, self.sim_dir, self.state_dir):
            os.makedirs(d)
        self.fieldsim = None
        self.msim = None
        self.gw = None
        self.ports = []
        self.gw_starts = 0
        self.package = None
        self.pkg = {}
        self.report = None
        self.mounts = []
        self._con = None

    # ---- set-up ---------------------------------------------------------

    def make_image(self):
        self.package = os.path.join(self.dir, "pkg.bin")
        out = subprocess.run([self.bins.mkimage, "--version", self.target,
                              "--size", str(self.image_size), "-o",
                              self.package], check=True, capture_output=True,
                             text=True).stdout
        self.pkg = dict(kv.split("=", 1) for kv in out.split())
        with open(self.package, "rb") as f:
            self.image = f.read()
        check(len(self.image) == self.image_size, "image size")
        check(hashlib.md5(self.image).hexdigest() == self.pkg["md5"],
              "mkimage md5 agrees with hashlib")
        self.n_chunks = -(-self.image_size // self.platform["chunk_size"])

    def start_fieldsim(self):
        argv = [self.bins.fieldsim, "--state-dir", self.fs_dir,
                "--log-level", self.log_level] + self.fieldsim_args
        for i in range(self.n):
            spec = ("unit=%d,tcp=127.0.0.1:0,version=%s,battery=%d,"
                    "verify_ms=50,apply_ms=300"
                    % (self.unit(i), self.old_version, self.battery))
            if i in self.devices:
                spec += "," + self.devices[i]
            argv += ["--device", spec]
        log = open(self.fs_log, "ab")
        self.fieldsim = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         stderr=log)
        log.close()
        ports = []
        for raw in self.fieldsim.stdout:
            line = raw.decode(errors="replace").strip()
            m = re.match(r"fieldsim: tcp 127\.0\.0\.1:(\d+)$", line)
            if m:
                ports.append(int(m.group(1)))
            if line == "fieldsim: ready":
                break
        check(len(ports) == self.n,
              "fieldsim serves %d endpoints, want %d" % (len(ports), self.n))
        self.ports = ports    # endpoint order is spec order

    # One group and one task for the fleet; with stagger_s, one per module
    # so module i's task starts at i * stagger_s (the simulator takes at
    # most 16 tasks: a staggered fleet is at most 16 modules).
    def groups(self):
        if not self.stagger_s:
            return [{"name": "g", "devices": "all"}]
        return [{"name": "g%d" % i, "devices": [i]} for i in range(self.n)]

    def tasks(self):
        if not self.stagger_s:
            return [{"name": "t", "group": "g", "software": "fw",
                     "min_battery": self.min_battery,
                     "start_s": self.start_s}]
        if self.n > 16:
            raise FleetError("stagger_s needs one task per module: "
                             "at most 16 modules")
        return [{"name": "t%d" % i, "group": "g%d" % i, "software": "fw",
                 "min_battery": self.min_battery,
                 "start_s": i * self.stagger_s} for i in range(self.n)]

    def write_scenario(self):
        dflt = {"dialect": {"open_event_delays_ms": [10, 30, 10, 20]}}
        dflt.update(self.defaults)
        mods = []
        for i, m in sorted(self.modules.items()):
            e = {"index": i}
            e.update(m)
            mods.append(e)
        scn = {"seed": self.seed, "platform": self.platform,
               "software": [{"name": "fw", "target_version": self.target,
                             "package": {"file": self.package,
                                         "md5": self.pkg["md5"]}}],
               "groups": self.groups(),
               "tasks": self.tasks(),
               "module_defaults": dflt, "modules": mods}
        self.scenario = os.path.join(self.dir, "scenario.json")
        with open(self.scenario, "w") as f:
            json.dump(scn, f, indent=1)

    def start_msim(self):
        self.msim = subprocess.Popen(
            [self.bins.msim, "--dir", self.sim_dir, "--modems", str(self.n),
             "--scenario", self.scenario, "--report", self.report_path,
             "--trace", self.trace_path],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "msim.log"), "ab"))
        wait_for(lambda: all(os.path.exists(self.link(i))
                             for i in range(self.n)), 30, "m531x-sim links")

    @staticmethod
    def unit(i):
        """Field device i's Modbus unit id: 1..247, then again from 1
        (each device has its own endpoint, so ids may repeat)."""
        return i % 247 + 1

    def fs_name(self, i):
        """fieldsim's state file name of device i: unit-<id>, and
        unit-<id>-<k> for the k-th device with that id (fsim_store.h)."""
        k = i // 247
        return "unit-%d" % self.unit(i) + ("-%d" % (k + 1) if k else "")

    def link(self, i):
        return os.path.join(self.sim_dir, "ttyM%03d" % i)

    def write_config(self):
        lines = ["[gateway]", "state_dir = " + self.state_dir,
                 "log_level = " + self.log_level, "[modems]",
                 "ports = %s/ttyM*" % self.sim_dir]
        lines += ["%s = %s" % kv for kv in sorted(self.modem_cfg.items())]
        lines += [
                 "[web]", "listen = 127.0.0.1:%d" % free_port(),
                 "read_requires_token = false", "[policy]"]
        lines += ["%s = %s" % kv for kv in sorted(self.policy.items())]
        for i in range(self.n):
            lines += ["[target port:%s]" % self.link(i),
                      "uri = modbus-tcp://127.0.0.1:%d?unit=%d"
                      % (self.ports[i], self.unit(i))]
        self.config = os.path.join(self.dir, "sotagw.ini")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Everything up, the daemon last."""
        self.make_image()
        self.start_fieldsim()
        self.write_scenario()
        self.start_msim()
        self.write_config()
        self.start_gw()

    # ---- the daemon ------------------------------------------------------

    def start_gw(self):
        log = open(self.gw_log, "ab")
        log.write(b"==== start %d\n" % (self.gw_starts + 1))
        log.flush()
        self.gw = subprocess.Popen(
            [self.bins.sotagw, "run", "--config", self.config],
            stdout=log, stderr=log)
        log.close()
        self.gw_starts += 1

    def gw_alive(self):
        return self.gw is not None and self.gw.poll() is None

    def kill_gw(self):
        """SIGKILL: a power cut of the gateway process."""
        check(self.gw_alive(), "sotagw died on its own (see %s)"
              % self.gw_log)
        self.gw.send_signal(signal.SIGKILL)
        self.gw.wait()
        self.gw = None

    def stop_gw(self, timeout_s=30):
        """SIGTERM: a clean stop; returns the exit status."""
        if self.gw is None:
            return 0
        self.gw.send_signal(signal.SIGTERM)
        try:
            rc = self.gw.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.gw.kill()
            self.gw.wait()
            raise FleetError("sotagw did not stop within %ss of SIGTERM"
                             % timeout_s)
        self.gw = None
        return rc

    def wait_msim(self, timeout_s):
        """m531x-sim exits when every task has ended; the daemon must
        stay up all along."""
        end = time.monotonic() + timeout_s
        while self.msim.poll() is None:
            check(self.gw_alive(), "sotagw exited (status %s) while the "
                  "fleet was upgrading; see %s"
                  % (self.gw.returncode if self.gw else "?", self.gw_log))
            if time.monotonic() > end:
                raise FleetError("fleet not done after %ss; see %s"
                                 % (timeout_s, self.gw_log))
            time.sleep(0.1)
        return self._read_report()

    def _read_report(self):
        check(self.msim.returncode == 0, "m531x-sim exit status %d"
              % self.msim.returncode)
        with open(self.report_path) as f:
            self.report = json.load(f)
        return self.report

    def stop_msim(self):
        """SIGTERM to m531x-sim (its tasks have not all ended); returns the
        report it writes on the way out."""
        self.msim.send_signal(signal.SIGTERM)
        try:
            self.msim.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.msim.kill()
            self.msim.wait()
            raise FleetError("m531x-sim did not stop on SIGTERM")
        return self._read_report()

    def status_lines(self):
        """`sotagw status --show-imei` beside the running daemon: its lines
        (the header first)."""
        r = subprocess.run([self.bins.sotagw, "status", "--config",
                            self.config, "--show-imei"], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, "sotagw status exit %d: %s"
              % (r.returncode, r.stderr.strip()))
        return r.stdout.splitlines()

    def trace_lines(self, i, direction):
        """The non-empty lines module i received ('>') or sent ('<'),
        rebuilt from the trace's byte records (a record may hold part of
        a line or several)."""
        text = "".join(s for d, s in self._trace_records(i)
                       if d == direction)
        return [x.strip() for x in re.split(r"[\r\n]+", text) if x.strip()]

    def _trace_records(self, i):
        """(direction, bytes unescaped) of module i's trace records."""
        me = "M%03d" % i
        with open(self.trace_path, errors="replace") as f:
            for ln in f:
                parts = ln.rstrip("\n").split(" ", 3)
                if len(parts) < 4 or parts[1] != me:
                    continue
                s = parts[3].replace("\\r", "\r").replace("\\n", "\n")
                yield parts[2], s.replace("\\\\", "\\")

    def mount_tmpfs(self, path, kib):
        """A small tmpfs at path (root only): a disk that can fill up.
        False when this machine does not allow it."""
        os.makedirs(path, exist_ok=True)
        if os.geteuid() != 0:
            return False
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dk" % kib,
                            "tmpfs", path], capture_output=True)
        if r.returncode != 0:
            return False
        self.mounts.append(path)
        return True

    def close(self, ok):
        if self._con is not None:
            self._con.close()
            self._con = None
        for p in (self.gw, self.msim, self.fieldsim):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for m in reversed(self.mounts):
            subprocess.run(["umount", m], check=False)
        if ok and not getattr(self.bins, "keep", False):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept %s (sotagw.log, fieldsim.log, trace.txt, report.json)"
                  % self.dir)

    # ---- what the programs left behind ----------------------------------

    def query(self, sql, args=()):
        """Rows from the daemon's database through one read-only
        connection (WAL: readers never block the writer, each query is its
        own snapshot). [] while the database or its schema does not exist
        yet."""
        if self._con is None:
            if not os.path.exists(self.db_path):
                return []
            try:
                self._con = sqlite3.connect("file:%s?mode=ro" % self.db_path,
                                            uri=True, timeout=10)
            except sqlite3.OperationalError:
                return []
            self._con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in self._con.execute(sql, args)]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return []
            raise

    def jobs(self):
        return self.query("SELECT * FROM jobs ORDER BY id")

    def durable_bytes(self):
        """Per unfinished job's device: the bytes its chunk records say are
        durable (the contiguous prefix from offset 0)."""
        out = {}
        for r in self.query("SELECT j.device_imei AS imei, p.offset AS off, "
                            "p.length AS len FROM jobs j LEFT JOIN progress "
                            "p ON p.job_id = j.id WHERE j.phase NOT IN "
                            "('done', 'failed') ORDER BY j.id, p.idx"):
            end = out.setdefault(r["imei"], 0)
            if r["off"] is not None and r["off"] == end:
                out[r["imei"]] = end + r["len"]
        return out

    def events(self, kind=None):
        if kind is None:
            return self.query("SELECT * FROM events ORDER BY id")
        return self.query("SELECT * FROM events WHERE kind = ? ORDER BY id",
                          (kind,))

    def fs_state(self, i):
        path = os.path.join(self.fs_dir, self.fs_name(i) + ".json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None     # not written yet, or being replaced

    def fs_image(self, i, size):
        with open(os.path.join(self.fs_dir, self.fs_name(i) + ".img"),
                  "rb") as f:
            return f.read(size)

    def fs_log_lines(self, i):
        """fieldsim's log lines about unit i (its log object unit-<id>)."""
        tag = "unit-%d" % self.unit(i)
        pat = re.compile(r"\b%s\b" % re.escape(tag))
        with open(self.fs_log, errors="replace") as f:
            return [ln for ln in f if pat.search(ln)]

    def gw_log_text(self):
        with open(self.gw_log, errors="replace") as f:
            return f.read()

    def module(self, i):
        return self.report["modules"][i]

    # ---- the trace: which chunks each module was sent ------------------

    def chunk_history(self):
        """Per module, the ordered list of ("chunk", offset, msgid) for
        every chunk the platform sent, ("ack", None, None) for every
        write-ok the gateway answered and ("resume", N, msgid) for every
        5/0/26500 (bytes received) it reported, rebuilt from the trace. A chunk's
        offset is found by locating its bytes in the package (chunks are
        chunk_size-aligned), so no clock is involved."""
        ok = 1
        for m in self.modules.values():
            ok = m.get("dialect", {}).get("sota", {}).get("write_ok", ok)
        urc = re.compile(r"\+MIPLWRITE:\s*0,\s*(\d+),\s*5,\s*0,\s*0,")
        return {i: self._ordered(i, urc, ok, self.platform["chunk_size"])
                for i in range(self.n)}

    def _ordered(self, i, urc, write_ok, cs):
        bufs = {"<": "", ">": ""}
        out = []
        resume = re.compile(r'AT\+MIPLREADRSP=0,(\d+),\d+,5,0,26500,\d+,'
                            r'\d+,"?(\d+)"?,')
        pending_value = {}     # a header whose value comes on a later line
        for d, s in self._trace_records(i):
            bufs[d] += s
            while True:
                cut = re.search(r"[\r\n]", bufs[d])
                if cut is None:
                    break
                line, bufs[d] = bufs[d][:cut.start()], \
                    bufs[d][cut.end():]
                line = line.strip()
                if not line:
                    continue
                if d == ">":
                    if re.fullmatch(r"AT\+MIPLSOTA=%d" % write_ok, line):
                        out.append(("ack", None, None))
                    r = resume.match(line)
                    if r:
                        out.append(("resume", int(r.group(2)),
                                    int(r.group(1))))
                    continue
                m = urc.match(line)
                if m:
                    msgid = int(m.group(1))
                    hexv = self._hex_in(line)
                    if hexv is None:
                        pending_value[d] = msgid
                        continue
                    out.append(("chunk", self._offset(hexv, cs), msgid))
                elif d in pending_value:
                    hexv = self._hex_in(line)
                    if hexv is not None:
                        out.append(("chunk", self._offset(hexv, cs),
                                    pending_value.pop(d)))
        return out

    @staticmethod
    def _hex_in(line):
        m = re.search(r"(?:^|,)([0-9A-Fa-f]{8,})(?:,|$)", line)
        return m.group(1) if m else None

    def _offset(self, hexv, cs):
        """Offset of a chunk's bytes in the package; -1 when they are not
        a chunk of it (a corrupted send)."""
        try:
            data = bytes.fromhex(hexv)
        except ValueError:
            return -1
        for off in range(0, self.image_size, cs):
            if self.image[off:off + len(data)] == data:
                return off
        return -1


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- checks shared by the tests ------------------------------------------

def check_device_upgraded(fl, i):
    """Field device i holds the package's bytes (CRC-32 and MD5 of the
    package) and runs the target version."""
    st = fl.fs_state(i)
    check(st is not None, "unit %d has no state file" % (i + 1))
    check(st["sw_version"] == fl.target, "unit %d version %r, want %r"
          % (i + 1, st["sw_version"], fl.target))
    check(st["state"] == 0, "unit %d in state %s" % (i + 1,
                                                     st["state_name"]))
    check(st["image_size"] == fl.image_size and
          st["received"] == fl.image_size,
          "unit %d received %d of %d" % (i + 1, st["received"],
                                         st["image_size"]))
    img = fl.fs_image(i, fl.image_size)
    crc = "0x%08x" % (zlib.crc32(img) & 0xFFFFFFFF)
    check(crc == fl.pkg["crc32"].lower(), "unit %d image crc %s, package %s"
          % (i + 1, crc, fl.pkg["crc32"]))
    check(st["image_crc"] == int(fl.pkg["crc32"], 16),
          "unit %d recorded crc" % (i + 1))
    check(hashlib.md5(img).hexdigest() == fl.pkg["md5"],
          "unit %d image md5" % (i + 1))


def check_module_clean(fl, i, outcome="success"):
    """Module i's task ended as expected, every request answered inside
    the deadline, no protocol violation, no damaged chunk acknowledged."""
    check_module_sound(fl, i, outcome)
    m = fl.module(i)
    check(m["unknown_commands"] == 0, "module %d unknown commands" % i)
    check(m["missed_deadlines"] == 0, "module %d missed %d deadlines"
          % (i, m["missed_deadlines"]))
    check(m["output_dropped"] == 0, "module %d output dropped" % i)


def check_module_sound(fl, i, outcome, killed=False):
    """Module i ended as outcome with no protocol violation and no damaged
    or unheld bytes acknowledged (faulted modules: resends expected).
    killed: the gateway was killed between storing a chunk and its
    acknowledgement, so a resume point may exceed what the simulator saw
    acknowledged; test_kill20 checks resume points against the durable
    bytes instead."""
    m = fl.module(i)
    check(m["outcome"] == outcome, "module %d: %s (%s), want %s"
          % (i, m["outcome"], m["reason"], outcome))
    check(m["protocol_violations"] == 0, "module %d violations: %s"
          % (i, m["violations"]))
    check(m["chunks"]["corrupt_acked"] == 0, "module %d chunks %s"
          % (i, m["chunks"]))
    check(killed or m["chunks"]["resume_beyond_acked"] == 0,
          "module %d: resumed beyond the acknowledged bytes: %s"
          % (i, m["chunks"]))


def stop_clean(fl):
    """The daemon is still up, stops with status 0 on SIGTERM, and its log
    has no sanitizer report."""
    check(fl.gw_alive(), "sotagw exited during the run; see " + fl.gw_log)
    rc = fl.stop_gw()
    check(rc == 0, "sotagw exit status %d on SIGTERM" % rc)
    check_no_sanitizer_report(fl)


def check_no_sanitizer_report(fl):
    text = fl.gw_log_text()
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                "ThreadSanitizer"):
        check(bad not in text, "sanitizer report in %s" % fl.gw_log)


def run_sections(sections):
    """Run every (title, fn) check section; report all that fail, so one
    run shows every broken property, not just the first."""
    failed = []
    for title, fn in sections:
        try:
            fn()
        except FleetError as e:
            print("  %s: FAIL: %s" % (title, e))
            failed.append(title)
    check(not failed, "failed: " + ", ".join(failed))


def run_seeds(name, seeds):
    """This test program once per seed (--seed S instead of --seeds),
    side by side: the fleets share nothing but the machine, and mostly
    wait. Prints each run's output in seed order; 0 when all passed."""
    argv = sys.argv[1:]
    k = argv.index("--seeds")
    base = argv[:k] + argv[k + 2:]
    runs = []
    for s in seeds:
        out = tempfile.TemporaryFile(mode="w+")
        runs.append((s, out, subprocess.Popen(
            [sys.executable, sys.argv[0]] + base + ["--seed", str(s)],
            stdout=out, stderr=subprocess.STDOUT, text=True)))
    failed = []
    for s, out, p in runs:
        rc = p.wait()
        out.seek(0)
        print("---- %s, seed %d: exit %d" % (name, s, rc))
        print(out.read(), end="")
        out.close()
        if rc != 0:
            failed.append(s)
    if failed:
        print("FAIL %s: seeds %s" % (name, failed))
        return 1
    print("PASS %s: seeds %s" % (name, list(seeds)))
    return 0


def run_test(name, body):
    """Run body(bins) and map the outcome to an exit status."""
    bins = parse_bins()
    if not has_run(bins.sotagw):
        print("SKIP: this build's sotagw has no `run` command")
        return SKIP
    if bins.seeds is not None:
        try:
            seeds = [int(x) for x in bins.seeds.split(",") if x.strip()]
        except ValueError:
            print("FAIL %s: --seeds wants numbers: %r" % (name, bins.seeds))
            return 1
        return run_seeds(name, seeds)
    try:
        body(bins)
    except FleetError as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    print("PASS %s" % name)
    return 0


if __name__ == "__main__":
    sys.exit("fleet.py is a library; run the test_*.py files")
