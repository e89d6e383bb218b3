#!/usr/bin/env python3
"""Each fault knob is shown to act, and a correct MCU survives it."""
import os
import time

import mcu
from mcu import Mcu, Sim, check


def scenario(faults, **platform):
    sc = mcu.seed_scenario(**platform)
    sc["module_defaults"]["faults"] = faults
    return sc


def finish(sim, m, timeout=20):
    m.serve(timeout=timeout)
    rep = sim.wait()
    mod = rep["modules"][0]
    check(bytes(m.image) == mcu.seed_image(), "image differs")
    check(mod["outcome"] == "success", mod["reason"])
    return mod


def test_split_lines():
    sim = Sim(scenario({"split_lines": True}, chunk_size=256))
    m = Mcu(sim.link(0))
    m.setup()
    mod = finish(sim, m)
    mid_line = sum(1 for r in m.port.reads if not r.endswith(b"\n"))
    check(mid_line >= 10, "only %d reads ended mid-line" % mid_line)
    check(mod["protocol_violations"] == 0, str(mod["violations"]))


def test_noise():
    sim = Sim(scenario({"noise_permille": 400}))
    m = Mcu(sim.link(0))
    m.setup()
    finish(sim, m)
    noise = [l for l in m.port.seen
             if l in ("+CEREG: 1", "+CEREG: 5", "+CSCON: 1", "+CSCON: 0",
                      "NO CARRIER")]
    check(len(noise) >= 5, "only %d noise lines" % len(noise))


def test_corrupt_chunk_write_fail():
    """Chunk 2 arrives damaged; the MCU answers write-fail; the platform
    sends the same bytes again under a new msgid."""
    sim = Sim(scenario({"corrupt_chunks": [2]}))
    m = Mcu(sim.link(0))
    m.setup()
    mod = finish(sim, m)
    c = mod["chunks"]
    check(c["corrupted"] == 1 and c["write_fails"] == 1 and c["resent"] == 1,
          "chunks %s" % c)
    check(m.chunks[2][3] == 0 and m.chunks[3][2] == 2048,
          "the damaged chunk was stored: %s" % m.chunks[:4])
    check(m.chunks[2][0] != m.chunks[3][0], "write-fail resend reused msgid")


def test_corrupt_chunk_unanswered():
    """An MCU that stays silent on a damaged chunk gets it again after
    resend_ms, same msgid; the silence is a missed deadline."""
    def silent(mm, index, data, msgid, flag):
        return "ignore" if not data else None
    sim = Sim(scenario({"corrupt_chunks": [1]}, resend_ms=300))
    m = Mcu(sim.link(0), on_chunk=silent)
    m.setup()
    mod = finish(sim, m)
    check(m.chunks[1][0] == m.chunks[2][0], "resend changed msgid")
    check(mod["missed_deadlines"] == 1 and mod["resends"] == 1, str(mod))


def test_corrupt_chunk_acked_is_reported():
    def blind(mm, index, data, msgid, flag):
        if not data:
            mm.cmd("AT+MIPLSOTA=1")
            mm.image += bytes(1024)   # what a careless MCU would store
            return "ignore"
        return None
    sim = Sim(scenario({"corrupt_chunks": [0]}))
    m = Mcu(sim.link(0), on_chunk=blind)
    m.setup()
    m.serve()
    rep = sim.wait()
    # The platform cannot see the damage (the task succeeds), but the
    # report names the damaged chunk the MCU acknowledged.
    c = rep["modules"][0]["chunks"]
    check(bytes(m.image) != mcu.seed_image(), "image should differ")
    check(c["corrupted"] == 1 and c["corrupt_acked"] == 1, str(c))


def test_duplicate_chunk():
    sim = Sim(scenario({"duplicate_chunks": [1]}))
    m = Mcu(sim.link(0))
    m.setup()
    mod = finish(sim, m)
    ids = [c[0] for c in m.chunks]
    check(len(ids) == 15 and ids[1] == ids[2], "msgids %s" % ids)
    check(mod["chunks"]["duplicated"] == 1 and mod["duplicate_answers"] == 1,
          "report %s" % mod["chunks"])


def test_duplicate_chunk_ignored():
    """Ignoring a duplicate is allowed too (the CIS SDK may do so)."""
    seen = set()

    def once(mm, index, data, msgid, flag):
        if msgid in seen:
            return "ignore"
        seen.add(msgid)
        return None
    sim = Sim(scenario({"duplicate_chunks": [3]}, resend_ms=300))
    m = Mcu(sim.link(0), on_chunk=once)
    m.setup()
    mod = finish(sim, m)
    check(mod["missed_deadlines"] == 0, "ignored duplicate was penalised")


def replug(sim, m):
    """Waits for the link to come back; a new MCU keeps m's stored bytes."""
    m.port.close()
    deadline = time.monotonic() + 3
    while not os.path.exists(sim.link(0)):
        check(time.monotonic() < deadline, "link did not come back")
        time.sleep(0.02)
    m2 = Mcu(sim.link(0))
    m2.image, m2.state = m.image, m.state
    return m2


def test_unplug():
    sim = Sim(scenario({"unplug_after_chunk": 2, "unplug_ms": 400},
                       resend_ms=500))
    m = Mcu(sim.link(0))
    m.setup()
    try:
        m.serve(timeout=5)
        raise mcu.Fail("the port did not vanish")
    except EOFError:
        pass
    check(len(m.chunks) == 3, "unplugged after %d chunks" % len(m.chunks))
    m2 = replug(sim, m)
    mod = finish(sim, m2)
    check(mod["unplugs"] == 1 and mod["resends"] >= 1, str(mod))


def test_unplug_with_power_loss():
    """unplug_reboots: the module comes back booting, instance lost."""
    sim = Sim(scenario({"unplug_after_chunk": 1, "unplug_ms": 300,
                        "unplug_reboots": True}))
    m = Mcu(sim.link(0))
    m.setup()
    try:
        m.serve(timeout=5)
    except EOFError:
        pass
    m2 = replug(sim, m)
    m2.wait_urc(lambda l: l == "*ATREADY: 1", timeout=3)
    m2.setup()      # AT+MIPLCREATE must succeed: the instance is gone
    mod = finish(sim, m2)
    check(mod["reboots"] == 1 and mod["attempts"] == 2, str(mod))


def test_reboot_mid_flow():
    """The module reboots after chunk 4: banner, instance lost. The MCU
    registers again and the platform resumes from what it reports."""
    sim = Sim(scenario({"reboot_after_chunk": 4}))
    m = Mcu(sim.link(0))
    m.setup()
    m.serve(until=lambda x: len(x.chunks) == 5)
    m.wait_urc(lambda l: l == "*ATREADY: 1", timeout=3)
    m.wait_urc(lambda l: l == "+CPIN: READY", timeout=1)
    m.setup()   # echo is back on after a reboot; setup sends ATE0 again
    mod = finish(sim, m)
    check(mod["reboots"] == 1 and mod["attempts"] == 2, str(mod))
    check(mod["chunks"]["resume_offset"] == 5120, str(mod["chunks"]))


def run_skipped(**mcu_kw):
    """The platform leaves the device out; returns (mcu, report entry)."""
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0), **mcu_kw)
    m.setup()
    try:
        m.serve(timeout=3)
    except (mcu.Fail, EOFError):
        pass   # the simulator exits once the task has ended
    mod = sim.wait()["modules"][0]
    check(mod["outcome"] == "skipped", mod["outcome"])
    check(m.chunks == [], "chunks sent to a skipped device")
    return m, mod


def test_low_battery():
    _, mod = run_skipped(battery=10)
    check("low battery" in mod["reason"], mod["reason"])


def test_too_little_space():
    _, mod = run_skipped(free_kib=8)
    check("too little space" in mod["reason"], mod["reason"])


def test_pacing_9600():
    """At 9600 baud a 512-byte chunk URC (about 1060 bytes) cannot arrive
    faster than 10 bits a byte allow."""
    sim = Sim(scenario({"baud": 9600}, chunk_size=512))
    m = Mcu(sim.link(0))
    m.setup()
    t0 = time.monotonic()
    n0 = len(m.port.raw)
    m.serve(until=lambda x: len(x.chunks) == 2, timeout=20)
    dt = time.monotonic() - t0
    nbytes = len(m.port.raw) - n0
    check(dt >= 0.9 * nbytes * 10 / 9600,
          "%d bytes in %.2fs: faster than 9600 baud" % (nbytes, dt))
    # The other direction: a READRSP of about 48 bytes takes 50 ms to
    # reach the module, so no read can be answered faster.
    lat = sim.stop()["modules"][0]["latency"]
    check(lat["max_ms"] >= 0.9 * 48 * 10 / 9600 * 1000, str(lat))


def test_unattended_port():
    """No one opens the link: the module still exists and the task waits;
    SIGTERM ends the run with a report and removes the links."""
    sim = Sim(mcu.seed_scenario())
    time.sleep(0.3)
    rep = sim.stop()
    check(rep["modules"][0]["outcome"] == "pending", "outcome")
    check(not os.path.exists(sim.link(0)), "link left behind")


if __name__ == "__main__":
    mcu.run_tests([test_split_lines, test_noise, test_corrupt_chunk_write_fail,
                   test_corrupt_chunk_unanswered,
                   test_corrupt_chunk_acked_is_reported, test_duplicate_chunk,
                   test_duplicate_chunk_ignored, test_unplug,
                   test_unplug_with_power_loss,
                   test_reboot_mid_flow, test_low_battery,
                   test_too_little_space, test_pacing_9600,
                   test_unattended_port])
