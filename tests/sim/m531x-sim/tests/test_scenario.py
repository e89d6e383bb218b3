#!/usr/bin/env python3
"""Scenario rules, identities, the module's AT side and its protocol
violation accounting, and the simulator's own input checks."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import mcu
from mcu import Mcu, Port, Sim, check


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def test_identities_and_basic_commands():
    sim = Sim(mcu.seed_scenario(), modems=3, seed=42)
    seen = set()
    for i in range(3):
        m = Mcu(sim.link(i))
        check(m.cmd("ATE0") == "OK", "ATE0")
        imei = m.info("AT+CGSN=1")[0]
        imsi = m.info("AT+CIMI")[0]
        iccid = m.info("AT+ICCID")[0]
        check(re.fullmatch(r"\+CGSN: \d{15}", imei), imei)
        check(luhn_ok(imei[7:]), "IMEI Luhn " + imei)
        check(re.fullmatch(r"46004\d{10}", imsi), imsi)
        check(re.fullmatch(r"\+ICCID: 898604\d{14}", iccid), iccid)
        check(luhn_ok(iccid[8:]), "ICCID Luhn " + iccid)
        seen.add(imei)
        check(m.info("AT+CSQ") == ["+CSQ: 20,99"], "CSQ")
        check(m.info("AT+CESQ")[0].startswith("+CESQ: "), "CESQ")
        check(m.info("AT+CEREG?") == ["+CEREG: 0,1"], "CEREG")
        check(m.info("AT+CGATT?") == ["+CGATT: 1"], "CGATT")
        check(m.cmd("AT+SM=LOCK") == "OK" and m.cmd("AT+SM=UNLOCK") == "OK",
              "SM")
        check(m.cmd("AT") == "OK", "AT")
        m.port.close()
    check(len(seen) == 3, "IMEIs collide")
    rep = sim.stop()
    check({"+CGSN: " + x["imei"] for x in rep["modules"]} == seen,
          "report IMEIs differ from AT+CGSN")
    # Same seed, same identities.
    sim2 = Sim(mcu.seed_scenario(), modems=3, seed=42)
    rep2 = sim2.stop()
    check([x["imei"] for x in rep["modules"]] ==
          [x["imei"] for x in rep2["modules"]], "identities not stable")


def test_echo_and_reboot_banner():
    sim = Sim(mcu.seed_scenario())
    p = Port(sim.link(0))
    p.write("AT")
    check(p.line() == "AT" and p.line() == "OK", "echo on by default")
    p.write("ATE0")
    check(p.line() == "ATE0" and p.line() == "OK", "ATE0 echoed once")
    p.write("AT+MIPLCREATE")
    check(p.line() == "OK", "create")
    p.write("AT+CMRB")
    check(p.line() == "OK" and p.line() == "REBOOTING..", "reboot start")
    banner = [p.line(3) for _ in range(4)]
    check(banner[:3] == ["*ATREADY: 1", "+CFUN: 1", "+CPIN: READY"] and
          banner[3].startswith("+IP: "), str(banner))
    p.write("AT+MIPLCREATE")   # the instance is gone; echo is back on
    check(p.line() == "AT+MIPLCREATE" and p.line() == "OK",
          "instance kept across reboot")
    p.close()
    sim.stop()


def test_violations():
    """Malformed command, wrong msgid, answer to nothing: +CIS ERROR:601,
    each counted."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup()
    check(m.cmd("AT+MIPLCREATE") == "+CIS ERROR:602", "second create")
    check(m.cmd("AT+MIPLSOTA=1") == "+CIS ERROR:601", "answer to nothing")
    check(m.cmd("AT+MIPLOPEN=0,abc") == "+CIS ERROR:601", "malformed")
    check(m.cmd('AT+MIPLSOTAVER="unterminated') == "+CIS ERROR:601",
          "quote")
    line = m.wait_urc(lambda l: l.startswith("+MIPLEXECUTE"))
    msgid = int(mcu.fields(line.split(":", 1)[1])[1])
    check(m.cmd("AT+MIPLEXECUTERSP=0,%d,2" % ((msgid + 7) % 65536)) ==
          "+CIS ERROR:601", "wrong msgid")
    check(m.cmd("AT+FOO") == "ERROR", "unknown command")
    m.handle(line)
    m.serve()
    mod = sim.wait()["modules"][0]
    check(mod["protocol_violations"] == 4, "%d: %s" % (
        mod["protocol_violations"], mod["violations"]))
    check(mod["unknown_commands"] == 1, "unknown")
    check(mod["outcome"] == "success", mod["reason"])


def test_seed_slip_answer_with_erase_msgid():
    """The seed answers execute 5/0/2 with the msgid of execute 26501
    (27495). That request was answered by AT+MIPLSOTA, so the module
    rejects it as a wrong msgid; the correct answer then completes."""
    class Slip(Mcu):
        def on_execute(self, msgid, res):
            if res == 26501:
                self.erase_msgid = msgid
            if res == 2:
                got = self.cmd("AT+MIPLEXECUTERSP=0,%d,2" % self.erase_msgid)
                check(got == "+CIS ERROR:601", "slip accepted: %s" % got)
            Mcu.on_execute(self, msgid, res)
    sim = Sim(mcu.seed_scenario())
    m = Slip(sim.link(0))
    m.setup()
    m.serve()
    mod = sim.wait()["modules"][0]
    check(mod["protocol_violations"] == 1 and
          "waits for nothing" in mod["violations"][0], str(mod["violations"]))
    check(mod["outcome"] == "success", mod["reason"])


def test_version_mismatch():
    """After AT+MIPLUPDATE the MCU still reports the old version: failed,
    "version mismatch", and the final empty write is still sent."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0), new_version="test0")
    m.setup()
    m.serve()
    mod = sim.wait()["modules"][0]
    check(m.done, "no final empty write")
    check(mod["outcome"] == "failed" and "version mismatch" in mod["reason"],
          mod["reason"])


def test_update_keepalive_and_rejected_update():
    """AT+MIPLUPDATE before 5/0/2 is a keep-alive; 5/0/2 answered 14 fails
    the task with that reason."""
    class Rejecting(Mcu):
        def on_execute(self, msgid, res):
            if res == 2:
                self.cmd("AT+MIPLEXECUTERSP=0,%d,14" % msgid)
                return
            if res == 26550 and not hasattr(self, "kept"):
                self.kept = True
                check(self.cmd("AT+MIPLUPDATE=0,0,0") == "OK", "keepalive")
            Mcu.on_execute(self, msgid, res)
    sim = Sim(mcu.seed_scenario())
    m = Rejecting(sim.link(0))
    m.setup()
    try:
        m.serve(timeout=10)
    except (mcu.Fail, EOFError):
        pass
    mod = sim.wait()["modules"][0]
    check(mod["outcome"] == "failed" and "result 14" in mod["reason"],
          mod["reason"])
    check(len(m.chunks) == 14, "the keep-alive disturbed the download")


def test_groups_by_imei_and_md5_refusal():
    sc = mcu.seed_scenario()
    probe = Sim(sc, modems=2, seed=5)
    rep = probe.stop()
    imei1 = rep["modules"][1]["imei"]
    sc["groups"] = [{"name": "g", "devices": [imei1]},
                    {"name": "bad", "devices": [0]}]
    sc["software"].append({"name": "broken", "target_version": "x",
                           "package": {"file": sc["software"][0]["package"]
                                       ["file"], "md5": "0" * 32}})
    sc["tasks"].append({"name": "t-bad", "group": "bad",
                        "software": "broken"})
    sim = Sim(sc, modems=2, seed=5)
    m = Mcu(sim.link(1))
    m.setup()
    m.serve()
    rep = sim.wait()
    mods = rep["modules"]
    check(mods[1]["outcome"] == "success", mods[1]["reason"])
    check(mods[0]["outcome"] == "no_task" and "MD5" in mods[0]["reason"],
          "%s %s" % (mods[0]["outcome"], mods[0]["reason"]))
    check(rep["summary"]["success"] == 1, str(rep["summary"]))


def test_bad_scenarios_are_rejected():
    cases = [({"faults_typo": 1}, "unknown key"),
             ({"platform": {"chunk_size": 5}}, "chunk_size"),
             ({"tasks": [{"name": "t", "group": "nope", "software": "fw"}]},
              "names no group")]
    for change, want in cases:
        sc = mcu.seed_scenario()
        sc.update(change)
        tmp = mcu.tmpdir("msim-bad-")
        path = os.path.join(tmp, "s.json")
        with open(path, "w") as f:
            json.dump(sc, f)
        r = subprocess.run([mcu.SIM_BIN, "--dir", os.path.join(tmp, "d"),
                            "--modems", "1", "--scenario", path],
                           capture_output=True, timeout=10)
        check(r.returncode == 2 and want in r.stderr.decode(),
              "%s: rc %d, %s" % (want, r.returncode, r.stderr.decode()))


def test_long_line_is_bounded():
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    check(m.cmd("ATE0") == "OK", "ATE0")
    check(m.cmd("AT+" + "X" * 5000) == "ERROR", "over-long line")
    check(m.cmd("AT") == "OK", "module alive after a long line")
    rep = sim.stop()
    check(rep["modules"][0]["protocol_violations"] == 1, "not counted")


def test_fleet_in_parallel():
    """Six modules upgraded at once by six MCUs: one poll loop serves all."""
    import threading
    sim = Sim(mcu.seed_scenario(), modems=6)
    errors = []

    def one(i):
        try:
            m = Mcu(sim.link(i))
            m.setup()
            m.serve(timeout=30)
            if bytes(m.image) != mcu.seed_image():
                errors.append("module %d: image differs" % i)
        except Exception as e:  # collected and reported below
            errors.append("module %d: %s" % (i, e))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    check(not errors, str(errors))
    rep = sim.wait()
    check(rep["summary"]["success"] == 6, str(rep["summary"]))


def test_trace():
    tmp = mcu.tmpdir("msim-trace-")
    trace = os.path.join(tmp, "wire.log")
    sim = Sim(mcu.seed_scenario(), args=["--trace", trace])
    m = Mcu(sim.link(0))
    m.setup()
    m.serve()
    sim.wait()
    with open(trace) as f:
        text = f.read()
    check(re.search(r"^\d+\.\d{3} M000 > AT\+MIPLCREATE\\r$", text, re.M),
          "no command in the trace")
    check(re.search(r"^\d+\.\d{3} M000 < .*\+MIPLEVENT:0,6\\r\\n", text,
                    re.M), "no URC in the trace")


def test_random_faults_follow_the_seed():
    sc = mcu.seed_scenario()
    sc["random_faults"] = {"permille": 500, "faults": {"split_lines": True}}

    def picked(seed):
        rep = Sim(sc, modems=20, seed=seed).stop()
        return [x["index"] for x in rep["modules"]
                if "split_lines" in x["faults"]]
    a, b, c = picked(11), picked(11), picked(12)
    check(0 < len(a) < 20, "picked %s" % a)
    check(a == b, "same seed, different modules: %s %s" % (a, b))
    check(a != c, "different seeds picked the same modules")


def test_start_time():
    sc = mcu.seed_scenario()
    sc["tasks"][0]["start_s"] = 1
    t0 = time.monotonic()
    sim = Sim(sc)
    m = Mcu(sim.link(0))
    m.setup()
    m.wait_urc(lambda l: l.startswith("+MIPLEXECUTE"), timeout=5)
    check(time.monotonic() - t0 >= 1.0, "task started before start_s")
    sim.stop()


def answers_at(link, timeout=10.0):
    """The simulator's loop runs: its module at link answers AT."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(link):
        check(time.monotonic() < deadline, "no link %s" % link)
        time.sleep(0.01)
    p = mcu.Port(link)
    try:
        p.write("AT")
        while p.line(max(deadline - time.monotonic(), 0.01)) != "OK":
            pass
    finally:
        p.close()


def test_progress_only_on_a_terminal():
    path = mcu.seed_scenario()
    tmp = mcu.tmpdir("msim-tty-")
    spath = os.path.join(tmp, "s.json")
    with open(spath, "w") as f:
        json.dump(path, f)
    args = [mcu.SIM_BIN, "--dir", os.path.join(tmp, "d"), "--modems", "2",
            "--scenario", spath]
    want = b"m531x-sim: 0/2 tasks ended"
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(mcu.SIM_BIN, args)
    out = b""
    deadline = time.monotonic() + 10
    try:
        while want not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                out += os.read(fd, 4096)
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            while True:
                d = os.read(fd, 4096)
                if not d:
                    break
                out += d
        except OSError:
            pass
        os.waitpid(pid, 0)
    check(want in out, repr(out[-120:]))
    # Without a terminal: nothing, although the loop ran (it answers AT;
    # on a terminal the first pass of the loop prints the line).
    p = subprocess.Popen(args, stderr=subprocess.PIPE)
    try:
        answers_at(os.path.join(tmp, "d", "ttyM000"))
    finally:
        p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=5)
    check(err == b"", "output without a terminal: %r" % err[:80])


if __name__ == "__main__":
    mcu.run_tests([test_identities_and_basic_commands,
                   test_echo_and_reboot_banner, test_violations,
                   test_seed_slip_answer_with_erase_msgid,
                   test_version_mismatch,
                   test_update_keepalive_and_rejected_update,
                   test_groups_by_imei_and_md5_refusal,
                   test_bad_scenarios_are_rejected, test_long_line_is_bounded,
                   test_fleet_in_parallel, test_trace,
                   test_random_faults_follow_the_seed, test_start_time,
                   test_progress_only_on_a_terminal])
