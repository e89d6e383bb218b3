#!/usr/bin/env python3
"""Resume (docs/M531X-REFERENCE.md 3.4) and the "no entity" rule (seed step 7)."""
import os
import re
import time

import mcu
from mcu import Mcu, Sim, check


def execs(m):
    return [int(mcu.fields(u.split(":", 1)[1])[4]) for u in m.urcs
            if u.startswith("+MIPLEXECUTE")]


def test_resume_from_26500():
    """State 1 with N bytes: still execute 26501 (erase-ok expected), then
    chunks from byte N, the first one with flag 2."""
    img = mcu.seed_image()
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0), state=(1, 0, 5120))
    m.image = bytearray(img[:5120])
    m.setup()
    m.serve()
    rep = sim.wait()
    check(bytes(m.image) == img, "image differs after resume")
    check(26501 in execs(m), "no execute 26501 before the resumed chunks")
    check(m.chunks[0][1] == 2, "first resumed flag %d" % m.chunks[0][1])
    check(len(m.chunks) == 9, "%d chunks, want 9" % len(m.chunks))
    c = rep["modules"][0]["chunks"]
    check(c["resumed"] == 5 and c["resume_offset"] == 5120 and
          c["sent"] == 9, "report chunks %s" % c)
    # Nothing was acknowledged in this run: the resume point is unverified,
    # not flagged.
    check(c["resume_beyond_acked"] == 0, "flagged %s" % c)
    check(rep["modules"][0]["outcome"] == "success", "outcome")


def test_resume_downloaded():
    """State 2 with all bytes: no 26501, no chunks; battery, then 5/0/2."""
    img = mcu.seed_image()
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0), state=(2, 0, len(img)))
    m.image = bytearray(img)
    m.setup()
    m.serve()
    rep = sim.wait()
    check(m.chunks == [], "chunks sent for a downloaded image")
    check(execs(m) == [26550, 2, 26550], "executes %s" % execs(m))
    reads = [u for u in m.urcs if u.startswith("+MIPLREAD")]
    check(reads[3].endswith(",3,0,9"), "battery read before 5/0/2: %s" %
          reads)
    check(rep["modules"][0]["outcome"] == "success", "outcome")


def test_no_entity():
    """AT+MIPLOPEN without AT+MIPLSOTAVER: no task, "no entity"."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup(sotaver=False)
    try:
        m.port.quiet(0.5)   # until the simulator exits and the port goes
    except EOFError:
        pass
    rep = sim.wait(5)
    mod = rep["modules"][0]
    check(mod["outcome"] == "failed" and "no entity" in mod["reason"],
          "report %s %s" % (mod["outcome"], mod["reason"]))
    check(not any(l.startswith("+MIPLEXECUTE") for l in m.port.seen),
          "the platform sent a request to a device without an entity")


def test_gateway_restart_keeps_instance():
    """The gateway dies mid-download and comes back: the module kept its
    instance (+CIS ERROR:602 on AT+MIPLCREATE) and registration; the platform
    resends the unanswered request, the gateway answers it."""
    img = mcu.seed_image()
    sim = Sim(mcu.seed_scenario(resend_ms=1000))
    m = Mcu(sim.link(0))
    m.setup()
    m.serve(until=lambda x: len(x.chunks) == 4)
    # The 5th chunk arrives unanswered while the gateway is down. The
    # sleep is the outage itself (a duration the test chooses, shorter
    # than resend_ms), not a wait for something to happen.
    m.port.close()
    time.sleep(0.9)
    m2 = Mcu(sim.link(0))
    m2.image, m2.state = m.image, m.state
    check(m2.cmd("ATE0") == "OK", "ATE0 after restart")
    check(m2.cmd("AT+MIPLCREATE") == "+CIS ERROR:602",
          "second AT+MIPLCREATE: %s" % m2.errors)
    m2.serve()
    rep = sim.wait()
    mod = rep["modules"][0]
    check(bytes(m2.image) == img, "image differs")
    check(mod["outcome"] == "success" and mod["attempts"] == 1,
          "%s attempts %d" % (mod["reason"], mod["attempts"]))
    check(mod["resends"] >= 1 and mod["chunks"]["resent"] >= 1,
          "no resend counted: %s" % mod["chunks"])


def test_gateway_recreates_instance():
    """Delete, create, SOTAVER, OPEN: the platform drops the attempt and
    starts a new one at execute 26550 that reads 5/0/-1 and resumes."""
    img = mcu.seed_image()
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup()
    m.serve(until=lambda x: len(x.chunks) == 3)
    check(m.cmd("AT+MIPLDELETE=0") == "OK", "delete")
    m.queue = [l for l in m.queue if not l.startswith("+MIPL") or
               l.startswith("+MIPLEVENT")]
    m.setup()
    m.serve()
    rep = sim.wait()
    mod = rep["modules"][0]
    check(bytes(m.image) == img, "image differs")
    check(mod["attempts"] == 2, "attempts %d" % mod["attempts"])
    check(mod["chunks"]["resume_offset"] == 3072, "resume %s" % mod["chunks"])
    check(mod["chunks"]["resume_beyond_acked"] == 0, str(mod["chunks"]))
    resumed = [c for c in m.chunks if c[2] == 3072]
    check(resumed and resumed[0][1] == 2, "first resumed chunk flag")
    check(mod["outcome"] == "success", mod["reason"])


def test_close_and_reopen():
    """AT+MIPLCLOSE deregisters (event 15) and drops the attempt; the next
    AT+MIPLOPEN (the instance and its SOTAVER are kept) starts a new one."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup()
    m.serve(until=lambda x: len(x.chunks) == 2)
    check(m.cmd("AT+MIPLCLOSE=0") == "OK", "close")
    m.wait_urc(lambda l: l == "+MIPLEVENT:0,15")
    check(m.cmd("AT+MIPLOPEN=0,600,60") == "OK", "reopen")
    m.serve()
    mod = sim.wait()["modules"][0]
    check(mod["attempts"] == 2 and mod["outcome"] == "success", str(mod))
    check(mod["chunks"]["resume_offset"] == 2048, str(mod["chunks"]))


def test_resume_beyond_acked_is_reported():
    """An MCU that claims more bytes than it acknowledged: the platform
    resumes from there (it cannot know), the report flags it."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup()
    m.serve(until=lambda x: len(x.chunks) == 2)
    check(m.cmd("AT+MIPLDELETE=0") == "OK", "delete")
    img = mcu.seed_image()
    m.image, m.state = bytearray(img[:4096]), [1, 0, 4096]
    m.setup()
    m.serve()
    mod = sim.wait()["modules"][0]
    check(mod["chunks"]["resume_beyond_acked"] == 1, str(mod["chunks"]))


if __name__ == "__main__":
    mcu.run_tests([test_resume_from_26500, test_resume_downloaded,
                   test_no_entity, test_gateway_restart_keeps_instance,
                   test_gateway_recreates_instance, test_close_and_reopen,
                   test_resume_beyond_acked_is_reported])
