#!/usr/bin/env python3
"""The seed conversation: a scripted MCU replays tests/data/seed/
seed-transcript.txt (the seed's steps 8 to 16) against m531x-sim and checks
that the simulator sends the same URCs, in the same order, with the same
chunk payloads, msgids aside, and accepts the seed's answers.

Two allowances, both documented in the README:
- events 1, 2 and 4 precede +MIPLEVENT:0,6 after AT+MIPLOPEN (SPEC24 and
  the captures show them; the seed prints only the last);
- the transcript's blank lines are framing: the module frames every line
  as CR LF text CR LF, so blank lines are not compared here (the dialect
  test checks the seed's raw layout byte for byte).
"""
import os
import re
import time

import mcu
from mcu import Fail, Port, Sim, check

MSGID_RE = re.compile(r"^(\+MIPL(?:READ|WRITE|EXECUTE):0,)(\d+)(,.*)$")
RSP_RE = re.compile(r"^(AT\+MIPL(?:READ|WRITE|EXECUTE)RSP=0,)(\d+)(,.*)$")


def load_transcript():
    items = []
    with open(os.path.join(mcu.SEED_DIR, "seed-transcript.txt")) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("<"):
                text = line[2:] if len(line) > 1 else ""
                if text:
                    items.append(("recv", text))
            elif line.startswith(">!") or line.startswith(">"):
                items.append(("send", line.split(" ", 1)[1]))
    return items


def test_seed_transcript():
    sc = mcu.seed_scenario()
    # The seed's step 15 executes 26550 with step 10's msgid (54077).
    sc["module_defaults"]["dialect"]["reuse_mode_msgid"] = True
    sim = Sim(sc)
    port = Port(sim.link(0))
    port.write("ATE0")
    while port.line() != "OK":
        pass
    ids = {}   # seed msgid -> simulator msgid
    items = load_transcript()
    check(len(items) > 100, "transcript too short: %d items" % len(items))
    n_urc = 0
    for kind, text in items:
        if kind == "send":
            m = RSP_RE.match(text)
            if m:
                seed_id = m.group(2)
                check(seed_id in ids, "answer to unseen msgid %s" % seed_id)
                text = m.group(1) + ids[seed_id] + m.group(3)
            port.write(text)
            continue
        got = port.line(5)
        while text == "+MIPLEVENT:0,6" and re.match(r"\+MIPLEVENT:0,[124]$",
                                                     got):
            got = port.line(5)
        m, g = MSGID_RE.match(text), MSGID_RE.match(got)
        if m:
            check(g is not None, "expected %r, got %r" % (text[:60], got[:60]))
            check(m.group(1) == g.group(1) and m.group(3) == g.group(3),
                  "expected %r, got %r" % (text[:80], got[:80]))
            if m.group(2) in ids and "26550" in text:
                check(ids[m.group(2)] == g.group(2),
                      "26550 msgid not reused as the seed shows")
            ids[m.group(2)] = g.group(2)
            n_urc += 1
        else:
            check(got == text, "expected %r, got %r" % (text[:80], got[:80]))
    check(n_urc == 26, "%d platform requests, want 26" % n_urc)
    rep = sim.wait(10)
    mod = rep["modules"][0]
    check(mod["outcome"] == "success", "outcome %s: %s" % (mod["outcome"],
                                                           mod["reason"]))
    check(mod["chunks"]["sent"] == 14, "chunks %s" % mod["chunks"])
    check(mod["protocol_violations"] == 0, "violations %s" % mod["violations"])
    check(mod["attempts"] == 1 and mod["resends"] == 0, "attempts/resends")
    check(mod["latency"]["count"] == 26, "latency %s" % mod["latency"])
    check(not os.path.exists(sim.link(0)), "link left behind")
    port.close()


def test_seed_mcu_model():
    """The reactive MCU of mcu.py on the same task: the image it stores is
    the package, byte for byte, and the flags run 1, 2, ..., 2, 0."""
    sim = Sim(mcu.seed_scenario())
    m = mcu.Mcu(sim.link(0))
    m.setup()
    m.serve(timeout=20)
    rep = sim.wait(10)
    check(bytes(m.image) == mcu.seed_image(), "stored image differs")
    flags = [c[1] for c in m.chunks]
    check(flags == [1] + [2] * 12 + [0], "flags %s" % flags)
    check(m.len_unit == "bytes", "len unit %s" % m.len_unit)
    mod = rep["modules"][0]
    check(mod["outcome"] == "success", mod["reason"])
    check(mod["reason"] == "version test000 reported after the update",
          mod["reason"])
    m.port.close()


if __name__ == "__main__":
    mcu.run_tests([test_seed_transcript, test_seed_mcu_model])
