#!/usr/bin/env python3
"""Each dialect knob changes what is on the wire, and the flow still works
for an MCU that speaks that dialect."""
import re

import mcu
from mcu import Mcu, Sim, check


def run(dialect, small=True, **mcu_kw):
    sc = mcu.seed_scenario(chunk_size=256) if small else mcu.seed_scenario()
    sc["module_defaults"]["dialect"].update(dialect)
    sim = Sim(sc)
    m = Mcu(sim.link(0), **mcu_kw)
    m.setup()
    m.serve()
    rep = sim.wait()
    check(bytes(m.image) == mcu.seed_image(), "image differs")
    mod = rep["modules"][0]
    check(mod["outcome"] == "success", mod["reason"])
    check(mod["protocol_violations"] == 0, str(mod["violations"]))
    return m, mod


def first_write(m):
    raw = m.port.raw.decode(errors="replace")
    i = raw.index("+MIPLWRITE")
    return raw[i:i + 80]


def test_default_seed_layout():
    m, _ = run({})
    check(re.match(r"\+MIPLWRITE:0,\d+,5,0,0,2,256,\r\n\r\n[0-9A-F]{8}",
                   first_write(m)), repr(first_write(m)))
    check(m.len_unit == "bytes", m.len_unit)


def test_value_same_line():
    m, _ = run({"value_next_line": False})
    check(re.match(r"\+MIPLWRITE:0,\d+,5,0,0,2,256,[0-9A-F]{8}",
                   first_write(m)), repr(first_write(m)))


def test_len_hex_chars():
    m, _ = run({"opaque_len": "hex", "value_next_line": False})
    check(re.match(r"\+MIPLWRITE:0,\d+,5,0,0,2,512,", first_write(m)),
          repr(first_write(m)))
    check(m.len_unit == "hex", m.len_unit)


def test_two_trailing_fields():
    m, _ = run({"write_index_field": True, "value_next_line": False})
    lines = [l for l in m.port.seen if l.startswith("+MIPLWRITE")]
    # flag, index: first 1,<n-1>; last 0,0; the final empty write too
    n = (len(mcu.seed_image()) + 255) // 256
    check(lines[0].endswith(",1,%d" % (n - 1)), lines[0][-12:])
    check(lines[n - 1].endswith(",0,0"), lines[n - 1][-12:])
    check(lines[-1].endswith(",2,0,,0,0"), lines[-1])


def test_spaced_separators():
    m, _ = run({"spaced": True, "value_next_line": False})
    reads = [l for l in m.port.seen if l.startswith("+MIPLREAD")]
    check(re.match(r"\+MIPLREAD: 0, \d+, 3, 0, 26261$", reads[0]), reads[0])
    ev = [l for l in m.port.seen if l.startswith("+MIPLEVENT")]
    check("+MIPLEVENT: 0, 6" in ev, str(ev))


def test_sota_values():
    """A firmware that numbers AT+MIPLSOTA like the CIS SDK (1 erase ok,
    3 write ok): an MCU using those values succeeds..."""
    run({"sota": {"erase_ok": 1, "write_ok": 3, "erase_fail": 2,
                  "write_fail": 4}}, erase_ok=1, write_ok=3, write_fail=4)


def test_sota_values_mismatch():
    """...and an MCU using the seed's values (3, 1) gets violations and
    the task fails, as it would on such a module."""
    sc = mcu.seed_scenario(chunk_size=256, resend_ms=200, max_resends=1)
    sc["module_defaults"]["dialect"]["sota"] = {
        "erase_ok": 1, "write_ok": 3, "erase_fail": 2, "write_fail": 4}
    sim = Sim(sc)
    m = Mcu(sim.link(0))
    m.setup()
    try:
        m.serve(timeout=3)
    except (mcu.Fail, EOFError):
        pass
    rep = sim.wait()
    mod = rep["modules"][0]
    check(mod["outcome"] == "failed", mod["outcome"])
    check(mod["protocol_violations"] >= 1 and
          "AT+MIPLSOTA=3 after execute 5/0/26501" in mod["violations"][0],
          str(mod["violations"]))


def test_create_prints_ref_and_read_count():
    sc = mcu.seed_scenario(chunk_size=256)
    sc["module_defaults"]["dialect"].update(
        {"create_prints_ref": True, "read_all_count": True})
    sim = Sim(sc)
    m = Mcu(sim.link(0))
    m.setup()
    check("+MIPLCREATE:0" in m.queue or "+MIPLCREATE:0" in m.port.seen,
          "no +MIPLCREATE:0 line")
    m.serve()
    sim.wait()
    reads = [l for l in m.port.seen if l.startswith("+MIPLREAD")]
    check(any(re.search(r",5,0,-1,3$", l) for l in reads), str(reads))


if __name__ == "__main__":
    mcu.run_tests([test_default_seed_layout, test_value_same_line,
                   test_len_hex_chars, test_two_trailing_fields,
                   test_spaced_separators, test_sota_values,
                   test_sota_values_mismatch,
                   test_create_prints_ref_and_read_count])
