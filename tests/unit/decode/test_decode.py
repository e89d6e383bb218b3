#!/usr/bin/env python3
"""`sotagw decode` end to end: the built binary over the seed, over
terminal-program captures, over garbage, and with bad arguments.

usage: test_decode.py SOTAGW SEED_TRANSCRIPT
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

SOTAGW = None
SEED = None


def seed_raw():
    """The seed transcript as the module's serial output with ATE1: the
    commands echoed ("AT...\\r" then CR LF), every module line with CR LF.
    Returns the bytes and, for each object the decoder must emit, its
    (line number, raw text)."""
    out = bytearray()
    expect = []
    line = 1
    held = None
    with open(SEED, encoding="ascii") as f:
        for item in f:
            item = item.rstrip("\n")
            if item.startswith("<"):
                text = item[2:] if len(item) > 1 else ""
                out += text.encode() + b"\r\n"
                if held is not None and text:
                    expect.append((held[0], held[1] + text))
                    held = None
                elif text.startswith("+MIPLWRITE:") and text.endswith(","):
                    held = (line, text)
                elif text:
                    expect.append((line, text))
                line += 1
            elif item.startswith(">"):
                text = item[3:] if item.startswith(">!") else item[2:]
                out += text.encode() + b"\r\r\n"
                expect.append((line, text))
                line += 2
    return bytes(out), expect


def run(args, data=None):
    proc = subprocess.run([SOTAGW, "decode"] + args, input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120, check=False)
    return proc


def objects(stdout):
    objs = []
    for raw in stdout.decode("utf-8").splitlines():
        obj = json.loads(raw)
        for key in ("line", "raw", "kind"):
            assert key in obj, raw
        objs.append(obj)
    return objs


class Seed(unittest.TestCase):
    def setUp(self):
        self.raw, self.expect = seed_raw()
        proc = run(["-"], self.raw)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, b"")
        self.objs = objects(proc.stdout)

    def test_one_object_per_at_line_in_order(self):
        got = [(o["line"], o["raw"]) for o in self.objs]
        self.assertEqual(got, self.expect)

    def test_nothing_flagged(self):
        for o in self.objs:
            self.assertNotIn("error", o, o["raw"][:80])
            self.assertIn(o["kind"], ("command", "final", "urc"))

    def test_split_writes_come_out_joined_and_decoded(self):
        writes = [o for o in self.objs if o["raw"].startswith("+MIPLWRITE:")]
        self.assertEqual(len(writes), 15)
        f = writes[0]["fields"]
        self.assertEqual(writes[0]["line"], 41)
        self.assertEqual(f, {"urc": "write", "ref": 0, "msgid": 27496,
                             "obj": 5, "ins": 0, "res": 0, "type": 2,
                             "len": 1024, "len_unit": "bytes",
                             "data_len": 1024, "flag": 1})
        self.assertTrue(writes[0]["raw"].endswith("F8,1"))
        sizes = [w["fields"]["data_len"] for w in writes]
        self.assertEqual(sizes, [1024] * 13 + [346, 0])
        flags = [w["fields"]["flag"] for w in writes]
        self.assertEqual(flags, [1] + [2] * 12 + [0, 0])
        self.assertEqual(sum(sizes), os.path.getsize(
            os.path.join(os.path.dirname(SEED), "seed-image.bin")))

    def test_urcs_finals_and_commands(self):
        read = next(o for o in self.objs
                    if o["raw"] == "+MIPLREAD:0,54078,3,0,26261")
        self.assertEqual(read["fields"], {"urc": "read", "ref": 0,
                                          "msgid": 54078, "obj": 3, "ins": 0,
                                          "res": 26261})
        event = next(o for o in self.objs if o["raw"] == "+MIPLEVENT:0,6")
        self.assertEqual(event["fields"]["evt"], 6)
        ok = next(o for o in self.objs if o["kind"] == "final")
        self.assertEqual(ok["final"], "ok")
        self.assertNotIn("code", ok)
        rsp = next(o for o in self.objs if o["raw"].startswith(
            "AT+MIPLREADRSP=0,54079"))
        self.assertEqual(rsp["kind"], "command")
        self.assertEqual(rsp["fields"]["cmd"], "+MIPLREADRSP")
        self.assertEqual(rsp["fields"]["value"], "test0")
        self.assertEqual(rsp["fields"]["len"], 5)
        self.assertEqual(rsp["fields"]["flag"], 0)
        sota = [o["fields"]["value"] for o in self.objs
                if o["raw"].startswith("AT+MIPLSOTA=")]
        self.assertEqual(sota, [3] + [1] * 14)
        self.assertEqual(sum(o["kind"] == "command" for o in self.objs), 32)
        self.assertEqual(sum(o["kind"] == "final" for o in self.objs), 32)

    def test_file_argument_and_stdin_agree(self):
        with tempfile.NamedTemporaryFile(suffix=".raw") as f:
            f.write(self.raw)
            f.flush()
            proc = run([f.name])
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(objects(proc.stdout), self.objs)
        proc = run([], self.raw)
        self.assertEqual(objects(proc.stdout), self.objs)

    def test_lf_only_and_cr_only_line_ends(self):
        for end in (b"\n", b"\r"):
            data = self.raw.replace(b"\r\r\n", b"\r\n").replace(b"\r\n", end)
            objs = objects(run(["-"], data).stdout)
            self.assertEqual([o["raw"] for o in objs],
                             [e[1] for e in self.expect])


def transcript_expect():
    """What decoding the transcript file itself must give: for every "<"
    and ">" line with text, (file line, text, "rx" or "tx"); a split
    +MIPLWRITE comes out once, at its first line, joined."""
    expect = []
    held = None
    with open(SEED, encoding="ascii") as f:
        for no, item in enumerate(f, start=1):
            item = item.rstrip("\n")
            if item.startswith("<"):
                text = item[2:] if len(item) > 1 else ""
                if held is not None and text:
                    expect.append((held[0], held[1] + text, "rx"))
                    held = None
                elif text.startswith("+MIPLWRITE:") and text.endswith(","):
                    held = (no, text)
                elif text:
                    expect.append((no, text, "rx"))
            elif item.startswith(">"):
                text = item[3:] if item.startswith(">!") else item[2:]
                expect.append((no, text, "tx"))
    return expect


class SeedTranscriptFile(unittest.TestCase):
    """The transcript as it is committed: its "<"/">" marks are stripped,
    its '#' comments and '@' directives skipped, and every line decodes."""

    def setUp(self):
        proc = run([SEED])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, b"")
        self.objs = objects(proc.stdout)

    def test_every_line_decodes(self):
        self.assertEqual(len(self.objs), len(transcript_expect()))
        self.assertGreater(len(self.objs), 0)
        for o in self.objs:
            self.assertNotIn("error", o, o["raw"][:80])
            self.assertIn(o["kind"], ("command", "final", "urc"),
                          o["raw"][:80])

    def test_lines_text_and_direction(self):
        got = [(o["line"], o["raw"], o.get("dir")) for o in self.objs]
        self.assertEqual(got, transcript_expect())

    def test_marks_need_a_blank_and_annotations_are_whole_lines(self):
        data = (b"<OK\r\n>AT\r\n>! AT+CSQ\r\n< OK\r\n# AT+CSQ\r\n"
                b"  @ x\r\n")
        objs = objects(run(["-"], data).stdout)
        self.assertEqual([(o["raw"], o.get("dir")) for o in objs],
                         [("<OK", None), (">AT", None), ("AT+CSQ", "tx"),
                          ("OK", "rx")])


RX_UTF8 = "收←◆".encode("utf-8")
TX_UTF8 = "发→◇".encode("utf-8")
RX_GBK = "收←◆".encode("gbk")
TX_GBK = "发→◇".encode("gbk")


class TerminalCaptures(unittest.TestCase):
    CASES = [
        # (capture line, expected raw, expected dir or None)
        (b"[10:32:01.123]" + TX_UTF8 + b"AT+MIPLSOTA=1", "AT+MIPLSOTA=1",
         "tx"),
        (b"[10:32:01.456]" + RX_UTF8 + b"OK", "OK", "rx"),
        (b"[10:32:02.001]" + RX_GBK + b"+MIPLREAD:0,54079,3,0,19",
         "+MIPLREAD:0,54079,3,0,19", "rx"),
        (b"[10:32:02.101]" + TX_GBK + b"AT+MIPLREADRSP=0,54079,1,3,0,19,1,5,"
         b"\"test0\",0,0", "AT+MIPLREADRSP=0,54079,1,3,0,19,1,5,\"test0\",0,0",
         "tx"),
        (b"2024-01-02 10:32:01.123 RX: +MIPLEVENT:0,6", "+MIPLEVENT:0,6",
         "rx"),
        (b"2024-01-02T10:32:01.123+08:00 TX: AT+MIPLUPDATE=0,0,0",
         "AT+MIPLUPDATE=0,0,0", "tx"),
        (b"[2024-01-02 10:32:03] +MIPLEVENT:0,11", "+MIPLEVENT:0,11", None),
        (b"10:32:04.5 << +CEREG: 1", "+CEREG: 1", "rx"),
        (b">> AT+CSQ", "AT+CSQ", "tx"),
        (b"<< +CSQ: 20,99", "+CSQ: 20,99", "rx"),
        (b"RX:OK", "OK", "rx"),
        (b"[RX] *ATREADY: 1", "*ATREADY: 1", "rx"),
        (b"2024/01/02 10:32:05 - NO CARRIER", "NO CARRIER", None),
        (b"   +MIPLEXECUTE:0,27511,5,0,2,0,\"\"",
         "+MIPLEXECUTE:0,27511,5,0,2,0,\"\"", None),
        # No prefix: AT text that looks a little like one stays whole.
        (b"864215040123456", "864215040123456", None),
        (b"+CESQ: 24,99,255,255,26,87", "+CESQ: 24,99,255,255,26,87", None),
    ]

    def test_prefixes_are_stripped(self):
        data = b"\r\n".join(c[0] for c in self.CASES) + b"\r\n"
        proc = run(["-"], data)
        self.assertEqual(proc.returncode, 0)
        objs = objects(proc.stdout)
        self.assertEqual([o["raw"] for o in objs],
                         [c[1] for c in self.CASES])
        self.assertEqual([o.get("dir") for o in objs],
                         [c[2] for c in self.CASES])
        self.assertEqual([o["line"] for o in objs],
                         list(range(1, len(self.CASES) + 1)))

    def test_info_lines_are_decoded_after_a_command(self):
        data = (b"[10:00:00.000]" + TX_UTF8 + b"AT+CSQ\r\n"
                b"[10:00:00.100]" + RX_UTF8 + b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
                b">> AT+CIMI\r\n<< 460001234567890\r\n<< OK\r\n"
                b"+CIS ERROR: 602\r\n")
        objs = objects(run(["-"], data).stdout)
        self.assertEqual(objs[1]["kind"], "info")
        self.assertEqual(objs[1]["line"], 3)
        self.assertEqual(objs[1]["fields"],
                         {"reply": "csq", "rssi": 20, "ber": 99})
        self.assertEqual(objs[4]["fields"]["imsi"], "460001234567890")
        self.assertEqual(objs[6]["final"], "cis_error")
        self.assertEqual(objs[6]["code"], 602)

    def test_split_write_in_a_timestamped_capture(self):
        data = (b"[10:00:00.000]" + RX_UTF8 +
                b"+MIPLWRITE:0,27509,5,0,0,2,2,\r\n"
                b"[10:00:00.010]" + RX_UTF8 + b"\r\n"
                b"[10:00:00.020]" + RX_UTF8 + b"CFA3,0\r\n")
        objs = objects(run(["-"], data).stdout)
        self.assertEqual(len(objs), 1)
        self.assertEqual(objs[0]["line"], 1)
        self.assertEqual(objs[0]["raw"], "+MIPLWRITE:0,27509,5,0,0,2,2,CFA3,0")
        self.assertEqual(objs[0]["fields"]["data_len"], 2)


class BadInput(unittest.TestCase):
    def test_random_bytes_and_nuls_never_fail(self):
        rng = random.Random(20240102)
        pieces = [b"\0" * 64, b"\xff\xfe", b"+MIPLWRITE:0,1,5,0,0,2,4,\r\n",
                  b"OK\r\n", b"+MIPLREAD:0,", b"\r", b"\n", b"[12:00:00]",
                  RX_UTF8, b"AT+X=\"", b"+CME ERROR:"]
        data = bytearray()
        while len(data) < 200000:
            if rng.random() < 0.3:
                data += rng.choice(pieces)
            else:
                data += bytes(rng.getrandbits(8)
                              for _ in range(rng.randrange(1, 64)))
        proc = run(["-"], bytes(data))
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        objs = objects(proc.stdout)
        self.assertGreater(len(objs), 100)
        lines = [o["line"] for o in objs]
        self.assertEqual(lines, sorted(lines))
        for o in objs:
            self.assertIn(o["kind"], ("command", "final", "info", "urc",
                                      "unknown", "garbage", "overlong"))

    def test_garbage_and_unknown_are_flagged(self):
        data = (b"O\0K\r\n\x80\x81abc\r\nhello\r\n+MIPLREAD:0,-5,3,0,1\r\n"
                b"\0\0OK\r\n[10:\x0032]OK\r\n")
        objs = objects(run(["-"], data).stdout)
        self.assertEqual([o["kind"] for o in objs],
                         ["garbage", "garbage", "unknown", "urc", "final",
                          "garbage"])
        self.assertEqual(objs[0]["raw"], "O\0K")
        self.assertEqual(objs[1]["raw"], "\\x80\\x81abc")
        self.assertIn("error", objs[0])
        self.assertIn("msgid", objs[3]["error"])
        self.assertNotIn("fields", objs[3])

    def test_bad_commands_are_reported(self):
        data = (b"AT+MIPLWRITERSP=0,1\r\nAT+X=\"abc\r\nAT+MIPLSOTA=1,2\r\n"
                b"ATE0\r\nAT+CEREG?\r\nAT+MIPLSOTA=?\r\n")
        objs = objects(run(["-"], data).stdout)
        self.assertEqual(objs[0]["error"], "too few arguments")
        self.assertEqual(objs[1]["error"], "unterminated quoted argument")
        self.assertEqual(objs[2]["error"], "too many arguments")
        self.assertEqual(objs[3]["fields"], {"cmd": "E0", "op": "exec"})
        self.assertEqual(objs[4]["fields"], {"cmd": "+CEREG", "op": "read"})
        self.assertEqual(objs[5]["fields"], {"cmd": "+MIPLSOTA", "op": "test"})

    def test_overlong_line_then_a_good_line(self):
        for prefix in (b"", b"[10:00:00.000]" + RX_UTF8):
            data = (prefix + b"+MIPLWRITE:0,1,5,0,0,2,1024," + b"AB" * 60000 +
                    b",1\r\n" + prefix + b"+MIPLREAD:0,54079,3,0,19\r\n")
            proc = run(["-"], data)
            self.assertEqual(proc.returncode, 0)
            objs = objects(proc.stdout)
            self.assertEqual([o["kind"] for o in objs], ["overlong", "urc"])
            self.assertEqual(len(objs[0]["raw"]), 8192)
            self.assertTrue(objs[0]["raw"].startswith("+MIPLWRITE:0,1,"))
            self.assertEqual(objs[1]["raw"], "+MIPLREAD:0,54079,3,0,19")
            self.assertEqual(objs[1]["line"], 2)

    def test_unterminated_last_line_and_held_write_at_eof(self):
        objs = objects(run(["-"], b"+MIPLEVENT:0,6\r\nOK").stdout)
        self.assertEqual([o["raw"] for o in objs], ["+MIPLEVENT:0,6", "OK"])
        objs = objects(run(["-"], b"+MIPLWRITE:0,9,5,0,0,2,2,\r\n").stdout)
        self.assertEqual(len(objs), 1)
        self.assertEqual(objs[0]["raw"], "+MIPLWRITE:0,9,5,0,0,2,2,")
        self.assertIn("error", objs[0])

    def test_empty_input(self):
        proc = run(["-"], b"")
        self.assertEqual((proc.returncode, proc.stdout), (0, b""))


class Arguments(unittest.TestCase):
    def test_missing_file(self):
        proc = run(["/nonexistent/capture.log"])
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, b"")
        self.assertIn(b"/nonexistent/capture.log", proc.stderr)
        self.assertIn(b"No such file", proc.stderr)

    def test_usage_errors(self):
        for args in (["a", "b"], ["--bogus"], ["--opaque-len"],
                     ["--opaque-len", "words"]):
            proc = run(args, b"")
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn(b"usage: sotagw decode", proc.stderr)

    def test_help(self):
        proc = run(["--help"])
        self.assertEqual(proc.returncode, 0)
        self.assertIn(b"usage: sotagw decode", proc.stdout)

    def test_opaque_len_mode(self):
        data = b"+MIPLWRITE:0,1,5,0,0,2,4,0102,0\r\n"
        auto = objects(run(["-"], data).stdout)[0]
        self.assertEqual(auto["fields"]["len_unit"], "hexchars")
        hexm = objects(run(["--opaque-len", "hex", "-"], data).stdout)[0]
        self.assertEqual(hexm["fields"]["data_len"], 2)
        byt = objects(run(["--opaque-len", "bytes", "-"], data).stdout)[0]
        self.assertIn("error", byt)


if __name__ == "__main__":
    SOTAGW, SEED = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
