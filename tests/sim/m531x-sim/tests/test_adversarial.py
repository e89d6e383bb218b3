"""End-to-end: the adversarial timing (README, "Adversarial timing"), the
registration lifetime and the module cap, over the ptys.

The MCU of mcu.py judges each URC by what it is, never by its position, so
a full upgrade must succeed under every seed; the report says what the
timing did. Lifetime: a registration nobody refreshes ends with event 9, one
refreshed by AT+MIPLUPDATE does not."""
import os

import mcu
from mcu import Mcu, Port, Sim, check

SEEDS = (1, 2, 3, 4, 5)


def adversarial_scenario():
    sc = mcu.seed_scenario()
    sc["module_defaults"]["timing"] = {
        "max_delay_ms": 200, "early_permille": 400,
        "duplicate_permille": 300, "interleave_permille": 1000}
    sc["module_defaults"]["dialect"]["create_prints_ref"] = True
    return sc


def restart_and_serve(sim):
    """A gateway that restarts once after registering: the instance
    survives (602), is deleted and made again; its late 15 and the new
    instance's events come in any order."""
    m = Mcu(sim.link(0))
    m.setup()
    m.port.close()
    m = Mcu(sim.link(0))
    check(m.cmd("ATE0") == "OK", "ATE0")
    check(m.cmd("AT+MIPLCREATE") == "+CIS ERROR:602", "instance survived")
    check(m.cmd("AT+MIPLDELETE=0") == "OK", "delete")
    m.setup()
    m.serve(timeout=40)
    return m


def test_upgrade_under_every_seed():
    img = mcu.seed_image()
    totals = {"delayed": 0, "early": 0, "duplicated": 0, "interleaved": 0}
    for seed in SEEDS:
        sim = Sim(adversarial_scenario(), seed=seed, args=["--adversarial"])
        m = restart_and_serve(sim)
        mod = sim.wait(30)["modules"][0]
        check(mod["adversarial"], "seed %d: timing not adversarial" % seed)
        check(mod["outcome"] == "success", "seed %d: %s (%s)"
              % (seed, mod["outcome"], mod["reason"]))
        check(bytes(m.image) == img, "seed %d: image differs" % seed)
        check(mod["protocol_violations"] == 0, "seed %d: %s"
              % (seed, mod["violations"]))
        check(mod["commands"]["create"] == 3 and
              mod["commands"]["delete"] == 1 and
              mod["commands"]["open"] == 2, "seed %d: %s"
              % (seed, mod["commands"]))
        check(mod["registration"]["registrations"] == 2, "seed %d: %s"
              % (seed, mod["registration"]))
        ev15 = [u for u in m.port.seen if u == "+MIPLEVENT:0,15"]
        check(1 <= len(ev15) <= 2, "seed %d: %d events 15" % (seed,
                                                              len(ev15)))
        for k in totals:
            totals[k] += mod["timing"][k]
    print("adversarial timing over %d seeds: %s" % (len(SEEDS), totals))
    for k, v in totals.items():
        check(v > 0, "no %s URC in %d seeds: %s" % (k, len(SEEDS), totals))


def test_off_by_default():
    sim = Sim(mcu.seed_scenario())
    m = Mcu(sim.link(0))
    m.setup()
    m.serve()
    mod = sim.wait()["modules"][0]
    check(not mod["adversarial"] and
          mod["timing"] == {"delayed": 0, "early": 0, "duplicated": 0,
                            "interleaved": 0}, str(mod["timing"]))


def test_lifetime_expires_unless_updated():
    sc = mcu.seed_scenario()
    sc["tasks"][0]["start_s"] = 3600   # the platform stays quiet
    sc["module_defaults"]["registration"] = {"lifetime_cap_s": 2}
    sc["modules"] = [{"index": 1, "registration": {
        "lifetime_cap_s": 2, "update_needed_event": True,
        "update_needed_lead_s": 1}}]
    sim = Sim(sc, modems=2)
    a, b = Mcu(sim.link(0)), Mcu(sim.link(1))
    a.setup()
    b.setup()
    # a: nothing refreshes it; 9 within the lifetime and a margin
    a.wait_urc(lambda l: l == "+MIPLEVENT:0,9", timeout=6)
    check(a.cmd("AT+MIPLUPDATE=0,0,0") == "+CIS ERROR:602",
          "UPDATE after expiry")
    # b: refreshed on each event 14, three times; never expires
    for _ in range(3):
        b.wait_urc(lambda l: l == "+MIPLEVENT:0,14", timeout=6)
        check(b.cmd("AT+MIPLUPDATE=0,0,0") == "OK", "UPDATE")
    rep = sim.stop()["modules"]
    check(rep[0]["registration"]["lifetime_expiries"] == 1 and
          rep[0]["registration"]["keepalives"] == 0, str(rep[0]))
    check(rep[1]["registration"]["lifetime_expiries"] == 0 and
          rep[1]["registration"]["keepalives"] == 3 and
          rep[1]["registration"]["update_needed_events"] >= 3, str(rep[1]))


def test_fleet_of_2048():
    """2048 modules: all links, the last answers, all in the report."""
    n = 2048
    sc = mcu.seed_scenario()
    sc["tasks"] = []
    sim = Sim(sc, modems=n)
    p = Port(sim.link(n - 1))
    p.write("AT+CGSN=1")
    check(p.line(10) == "AT+CGSN=1", "echo")
    check(p.line(10).startswith("+CGSN: 86"), "CGSN")
    p.close()
    check(len(os.listdir(sim.dir)) == n, "links")
    rep = sim.stop()
    check(len(rep["modules"]) == n, "%d modules" % len(rep["modules"]))


if __name__ == "__main__":
    mcu.run_tests([test_upgrade_under_every_seed, test_off_by_default,
                   test_lifetime_expires_unless_updated,
                   test_fleet_of_2048])
