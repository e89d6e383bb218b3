"""Test harness for m531x-sim: runs the simulator and plays the MCU.

Sim     starts m531x-sim on a scenario (a dict), gives the link paths, and
        returns the report once the simulator has exited.
Port    a raw serial-port view of one link: bytes in, lines out. Lines are
        split on CR/LF; empty lines are dropped unless raw bytes are asked for.
Mcu     a correct MCU written from the seed and the protocol reference
        (docs/M531X-REFERENCE.md), not from the gateway's code, with hooks
        the tests use to misbehave.

Every wait has a deadline; a test that hangs fails with the lines it saw.
"""
import atexit
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
import tty

SEED_DIR = None  # set by main()
SIM_BIN = None


class Fail(Exception):
    pass


def tmpdir(prefix):
    """A temporary directory removed when the test program exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def seed_scenario(**platform):
    """The seed's task with fast timing; platform keys override."""
    p = {"chunk_size": 1024, "first_request_ms": 50, "request_gap_ms": 10,
         "resend_ms": 3000, "max_resends": 3, "deadline_ms": 3000,
         "update_wait_s": 30, "task_timeout_s": 60, "reboot_banner_ms": 300}
    p.update(platform)
    return {
        "seed": 7,
        "platform": p,
        "software": [{"name": "fw", "target_version": "test000",
                      "package": {"file": os.path.join(SEED_DIR,
                                                       "seed-image.bin"),
                                  "md5": "1c3ec901b8e29f489738da8a777387ba"}}],
        "groups": [{"name": "g", "devices": "all"}],
        "tasks": [{"name": "t", "group": "g", "software": "fw",
                   "min_battery": 20, "start_s": 0}],
        "module_defaults": {"dialect": {"open_event_delays_ms":
                                        [10, 30, 10, 20]}},
    }


def seed_image():
    with open(os.path.join(SEED_DIR, "seed-image.bin"), "rb") as f:
        return f.read()


class Sim:
    def __init__(self, scenario, modems=1, seed=None, args=()):
        self.tmp = tmpdir("msim-")
        self.dir = os.path.join(self.tmp, "dev")
        self.report_path = os.path.join(self.tmp, "report.json")
        path = os.path.join(self.tmp, "scenario.json")
        with open(path, "w") as f:
            json.dump(scenario, f)
        cmd = [SIM_BIN, "--dir", self.dir, "--modems", str(modems),
               "--scenario", path, "--report", self.report_path]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        self.modems = modems
        deadline = time.monotonic() + 5 + modems / 100
        while not all(os.path.exists(self.link(i)) for i in range(modems)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Fail("simulator did not create its links: %s" %
                           self.proc.stderr.read().decode())
            time.sleep(0.01)

    def link(self, i):
        return os.path.join(self.dir, "ttyM%03d" % i)

    def wait(self, timeout=20):
        """Waits for the simulator to exit on its own; returns the report."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)
            raise Fail("simulator still running after %ss" % timeout)
        return self._report()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)
        return self._report()

    def _report(self):
        err = self.proc.stderr.read().decode()
        check(self.proc.returncode == 0,
              "simulator exit %s: %s" % (self.proc.returncode, err))
        with open(self.report_path) as f:
            return json.load(f)


class Port:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)
        self.buf = b""
        self.lines = []     # complete lines not yet taken
        self.seen = []      # every non-empty line, for diagnostics
        self.reads = []     # sizes and tails of each read (split tests)
        self.raw = b""

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def write(self, text):
        os.write(self.fd, (text + "\r").encode())

    def _fill(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            raise EOFError("port %s gone" % self.path)
        if not data:
            raise EOFError("port %s gone" % self.path)
        self.reads.append(data)
        self.raw += data
        self.buf += data
        while True:
            m = re.search(rb"\r\n|\n|\r", self.buf)
            if m is None:
                break
            line = self.buf[:m.start()].decode(errors="replace")
            self.buf = self.buf[m.end():]
            if line.strip():
                self.lines.append(line)
                self.seen.append(line)
        return True

    def line(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("no line within %.1fs on %s; last lines: %s" %
                           (timeout, self.path, self.seen[-8:]))
            self._fill(left)
        return self.lines.pop(0)

    def quiet(self, seconds):
        """Collects lines for a while; returns them."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._fill(deadline - time.monotonic())
        out, self.lines = self.lines, []
        return out


URC_RE = re.compile(r"^\+MIPL(READ|WRITE|EXECUTE|EVENT): ?(.*)$")


def fields(s):
    return [x.strip() for x in s.split(",")]


class Mcu:
    """A correct MCU. Knobs: version, battery, free_kib, new_version, the
    5/0/-1 answer (state, result, bytes), the AT+MIPLSOTA values, and hooks:
    on_chunk(mcu, index, data, msgid, flag) -> "ok" | "fail" | "ignore"."""

    FINAL = ("OK", "ERROR")

    def __init__(self, path, version="test0", new_version="test000",
                 battery=100, free_kib=256, state=(0, 0, 0), erase_ok=3,
                 write_ok=1, write_fail=2, on_chunk=None, strict_len=None):
        self.port = Port(path)
        self.path = path
        self.version = version
        self.new_version = new_version
        self.battery = battery
        self.free_kib = free_kib
        self.state = list(state)
        self.erase_ok, self.write_ok, self.write_fail = (erase_ok, write_ok,
                                                         write_fail)
        self.on_chunk = on_chunk
        self.image = bytearray()
        self.urcs = []        # every URC handled, in order
        self.queue = []       # URCs seen while waiting for a final result
        self.errors = []      # +CIS ERROR / ERROR finals
        self.chunks = []      # (msgid, flag, offset, len)
        self.done = False
        self.len_unit = None  # "bytes" or "hex", as seen on the wire
        self.answered_msgids = {}

    # -- commands ---------------------------------------------------------
    def cmd(self, text, timeout=5.0):
        """Sends a command and waits for its final result line."""
        self.port.write(text)
        while True:
            line = self.port.line(timeout)
            if line == text:          # echo
                continue
            if line in self.FINAL or line.startswith("+CIS ERROR") or \
                    line.startswith("+CME ERROR"):
                if line != "OK":
                    self.errors.append((text, line))
                return line
            self.queue.append(line)

    def info(self, text):
        """A command with one information line; returns that line."""
        before = len(self.queue)
        final = self.cmd(text)
        check(final == "OK", "%s -> %s" % (text, final))
        got = self.queue[before:]
        del self.queue[before:]
        return got

    def setup(self, sotaver=True, create_ok=("OK",)):
        check(self.cmd("ATE0") == "OK", "ATE0")
        final = self.cmd("AT+MIPLCREATE")
        check(final in create_ok, "AT+MIPLCREATE -> %s" % final)
        if sotaver:
            check(self.cmd('AT+MIPLSOTAVER="%s"' % self.version) == "OK",
                  "SOTAVER")
        check(self.cmd("AT+MIPLOPEN=0,600,60") == "OK", "OPEN")
        self.wait_urc(lambda l: re.match(r"\+MIPLEVENT: ?0, ?6$", l))

    def next_line(self, timeout):
        if self.queue:
            return self.queue.pop(0)
        return self.port.line(timeout)

    def wait_urc(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(deadline - time.monotonic(), 0.01))
            if pred(line):
                return line

    # -- serving the platform ----------------------------------------------
    def serve(self, timeout=20.0, until=None):
        """Answers platform requests until the final empty write (or until
        until(self) is true, checked after each request)."""
        deadline = time.monotonic() + timeout
        while not self.done:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("serve timed out; last lines %s" %
                           self.port.seen[-10:])
            line = self.next_line(left)
            if not self.handle(line, deadline):
                continue
            if until is not None and until(self):
                return

    def handle(self, line, deadline=None):
        m = URC_RE.match(line)
        if m is None:
            return False
        kind, rest = m.group(1), m.group(2)
        self.urcs.append(line)
        f = fields(rest)
        if kind == "EVENT":
            return False
        msgid = int(f[1])
        if kind == "EXECUTE":
            self.on_execute(msgid, int(f[4]))
        elif kind == "READ":
            self.on_read(msgid, int(f[2]), int(f[4]))
        else:
            self.on_write(msgid, f, line, deadline)
        return True

    def on_execute(self, msgid, res):
        if res == 26550:
            self.cmd("AT+MIPLEXECUTERSP=0,%d,2" % msgid)
        elif res == 26501:
            # Resume (reference 3.4): keep the staged bytes of this image.
            if self.state[0] != 1:
                self.image = bytearray()
            self.cmd("AT+MIPLSOTA=%d" % self.erase_ok)
        elif res == 2:
            self.cmd("AT+MIPLEXECUTERSP=0,%d,2" % msgid)
            self.flash()
            self.cmd("AT+MIPLUPDATE=0,0,0")

    def flash(self):
        self.version = self.new_version
        self.free_kib = 128

    def on_read(self, msgid, obj, res):
        def rsp(res_, typ, val, index, flag):
            n = len(val)
            self.cmd('AT+MIPLREADRSP=0,%d,1,%d,0,%d,%d,%d,"%s",%d,%d' %
                     (msgid, obj, res_, typ, n, val, index, flag))
        if (obj, res) == (3, 26261):
            rsp(26261, 3, str(self.free_kib), 0, 0)
        elif (obj, res) == (3, 19):
            rsp(19, 1, self.version, 0, 0)
        elif (obj, res) == (3, 9):
            rsp(9, 3, str(self.battery), 0, 0)
        elif (obj, res) == (5, -1):
            st, result, got = self.state
            rsp(3, 3, str(st), 2, 1)
            rsp(5, 3, str(result), 1, 2)
            rsp(26500, 3, str(got), 0, 0)

    def on_write(self, msgid, f, line, deadline):
        # +MIPLWRITE:0,<msgid>,5,0,0,2,<len>,[<hex>,<flag>[,<index>]]
        length = int(f[6])
        if len(f) <= 8 or (len(f) == 8 and f[7] == ""):
            # the value is on the next non-empty line
            # (a URC may come in between: reference 7.6)
            while True:
                nxt = self.next_line(max(deadline - time.monotonic(), 0.1)
                                     if deadline else 5)
                if not URC_RE.match(nxt):
                    break
                self.urcs.append(nxt)
            tail = fields(nxt)
        else:
            tail = f[7:]
        if length == 0:
            self.cmd("AT+MIPLWRITERSP=0,%d,2" % msgid)
            self.done = True
            return
        hexstr, flag = tail[0], int(tail[1])
        ok = re.fullmatch(r"[0-9A-Fa-f]*", hexstr) and len(hexstr) % 2 == 0
        if ok and length == len(hexstr):
            self.len_unit = "hex"
        elif ok and length * 2 == len(hexstr):
            self.len_unit = "bytes"
        else:
            ok = False
        data = bytes.fromhex(hexstr) if ok else b""
        index = len(self.chunks)
        self.chunks.append((msgid, flag, len(self.image), len(data)))
        action = "ok" if ok else "fail"
        if self.on_chunk is not None:
            action = self.on_chunk(self, index, data, msgid, flag) or action
        if action == "ignore":
            return
        if action == "fail" or not ok:
            self.cmd("AT+MIPLSOTA=%d" % self.write_fail)
            return
        if msgid in self.answered_msgids:   # duplicate: store once, ack
            self.cmd("AT+MIPLSOTA=%d" % self.write_ok)
            return
        self.answered_msgids[msgid] = True
        self.image += data
        self.state = [1, 0, len(self.image)]
        self.cmd("AT+MIPLSOTA=%d" % self.write_ok)


def run_tests(tests):
    """main() for each test file: argv = [sim binary, seed data dir]."""
    global SIM_BIN, SEED_DIR
    SIM_BIN, SEED_DIR = sys.argv[1], sys.argv[2]
    only = sys.argv[3:] or None
    failed = 0
    for t in tests:
        if only and t.__name__ not in only:
            continue
        t0 = time.monotonic()
        try:
            t()
            print("ok   %s (%.2fs)" % (t.__name__, time.monotonic() - t0))
        except Exception as e:  # report every test, then fail the run
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
    sys.exit(1 if failed else 0)
