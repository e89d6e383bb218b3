#!/usr/bin/env python3
"""test_web_api.py: the REST API end to end, against web-fixture.

Two servers on filled databases (tests/unit/web/web_fixture.c):
  A: fake backend, reads need the token, the fleet ticks every 200 ms;
  B: no backend (no daemon attached), open reads, a 1 KiB body limit.

Every answer with status >= 400 is checked to be the JSON error shape.
The OpenAPI document is compared with the routes the server answers, and
every mutating route taken from it is called without, with a malformed
and with a wrong token.
"""
import argparse
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

FIXTURE = None
IMEI_RE = re.compile(r"^[0-9]{15}$")
VALID_UNKNOWN_IMEI = "860000000001239"   # Luhn-valid, not in the fixture


class Server:
    def __init__(self, name, args, tls=None):
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="gw-web-api-%s." % name)
        self.db = os.path.join(self.dir, "sotagw.db")
        tok = os.path.join(self.dir, "token")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            [FIXTURE, "--db", self.db, "--token-file", tok] + args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError("fixture did not start: %r, log: %s" % (
                line, open(os.path.join(self.dir, "log")).read()))
        self.port = int(line.split()[1])
        with open(tok) as f:
            self.token = f.read().strip()
        assert os.stat(tok).st_mode & 0o777 == 0o600

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.log.close()
        assert self.proc.returncode == 0, open(
            os.path.join(self.dir, "log")).read()
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def request(self, method, path, body=None, token=True, headers=None,
                raw_body=None):
        h = dict(headers or {})
        if token is True:
            h["Authorization"] = "Bearer " + self.token
        elif isinstance(token, str):
            h["Authorization"] = token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.tls:
            c = http.client.HTTPSConnection("127.0.0.1", self.port,
                                            timeout=30, context=self.tls)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=30)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        ctype = r.getheader("Content-Type", "")
        c.close()
        doc = None
        if ctype.startswith("application/json") and payload:
            doc = json.loads(payload)
        if r.status >= 400:
            # Every error is {"error": {"code": str, "message": str}}.
            assert ctype.startswith("application/json"), (path, ctype)
            assert set(doc) == {"error"}, doc
            assert isinstance(doc["error"]["code"], str), doc
            assert isinstance(doc["error"]["message"], str), doc
            assert doc["error"]["message"], doc
        return r.status, doc, payload, r


A = None
B = None


def setUpModule():
    global A, B
    A = Server("a", ["--backend", "--devices", "40", "--tick-ms", "200"])
    B = Server("b", ["--open-reads", "--devices", "12", "--body-max",
                     "1024", "--conn-per-ip", "12"])


def tearDownModule():
    A.stop()
    B.stop()


class Tls(unittest.TestCase):
    """The same server over HTTPS (GnuTLS in libmicrohttpd), with a
    self-signed certificate made for the test."""

    def test_https(self):
        d = tempfile.mkdtemp(prefix="gw-web-tls.")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        ctx = ssl.create_default_context(cafile=cert)
        srv = Server("tls", ["--devices", "3", "--tls-cert", cert,
                             "--tls-key", key], tls=ctx)
        try:
            st, doc, _, _ = srv.request("GET", "/api/v1/devices")
            self.assertEqual(st, 200)
            self.assertEqual(len(doc["items"]), 3)
            st, _, _, _ = srv.request("POST", "/api/v1/packages",
                                      token=False, body={})
            self.assertEqual(st, 401)
            # Plain HTTP to the TLS port gets no API answer.
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            try:
                c.request("GET", "/api/v1/healthz")
                self.assertNotEqual(c.getresponse().status, 200)
            except (http.client.HTTPException, OSError):
                pass
            finally:
                c.close()
        finally:
            srv.stop()
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)


class Listen(unittest.TestCase):
    def test_host_name_and_bad_address(self):
        srv = Server("host", ["--devices", "1", "--host", "localhost"])
        try:
            c = http.client.HTTPConnection("localhost", srv.port, timeout=10)
            c.request("GET", "/api/v1/healthz")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            srv.stop()
        d = tempfile.mkdtemp(prefix="gw-web-badhost.")
        r = subprocess.run([FIXTURE, "--db", os.path.join(d, "db"),
                            "--token-file", os.path.join(d, "token"),
                            "--host", "no-such-host.invalid"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-host.invalid", r.stderr)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


class Limits(unittest.TestCase):
    def hold(self):
        """A connection the server has certainly counted: one keep-alive
        request answered on it. A connection refused because an earlier
        test's connections are still being released is tried again."""
        end = time.monotonic() + 30
        while True:
            c = http.client.HTTPConnection("127.0.0.1", B.port, timeout=10)
            try:
                c.request("GET", "/api/v1/healthz")
                r = c.getresponse()
                r.read()
                if r.status == 200 and not r.will_close:
                    return c
            except (ConnectionError, http.client.HTTPException):
                pass
            c.close()
            self.assertLess(time.monotonic(), end, "no connection slot")
            time.sleep(0.05)

    def test_connections_per_ip(self):
        # B allows 12 connections per IP: hold 12 open, the 13th is
        # refused (closed without an answer), and a slot frees on close.
        held = []
        try:
            for _ in range(12):
                held.append(self.hold())
            s13 = socket.create_connection(("127.0.0.1", B.port),
                                           timeout=10)
            s13.sendall(b"GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                got = s13.recv(100)
            except ConnectionResetError:
                got = b""
            self.assertEqual(got, b"")
            s13.close()
        finally:
            for c in held:
                c.close()
        end = time.monotonic() + 30
        while True:
            try:
                st, _, _, _ = B.request("GET", "/api/v1/healthz")
                if st == 200:
                    break
            except (ConnectionError, http.client.HTTPException):
                pass
            self.assertLess(time.monotonic(), end, "slots never freed")
            time.sleep(0.05)


def all_devices(srv, query="", limit=7):
    items, cursor, pages = [], "", 0
    while True:
        q = "?limit=%d" % limit + query + (
            "&cursor=" + cursor if cursor else "")
        st, doc, _, _ = srv.request("GET", "/api/v1/devices" + q)
        assert st == 200, (st, doc)
        items += doc["items"]
        pages += 1
        assert pages < 100
        if doc["next"] is None:
            return items
        cursor = doc["next"]


def fill(pattern, imei, ident="1"):
    return pattern.replace("{imei}", imei).replace("{id}", ident)


class OpenApi(unittest.TestCase):
    def test_document_is_public_and_v3(self):
        st, doc, _, _ = A.request("GET", "/api/v1/openapi.json", token=False)
        self.assertEqual(st, 200)
        self.assertTrue(doc["openapi"].startswith("3."))
        for p in ("/api/v1/devices", "/api/v1/devices/{imei}",
                  "/api/v1/devices/{imei}/events", "/api/v1/jobs",
                  "/api/v1/jobs/{id}", "/api/v1/summary", "/api/v1/events",
                  "/api/v1/packages", "/api/v1/packages/{id}",
                  "/api/v1/devices/{imei}/target", "/api/v1/stream",
                  "/api/v1/healthz", "/api/v1/metrics",
                  "/api/v1/openapi.json"):
            self.assertIn(p, doc["paths"])
        for a in ("pause", "resume", "cancel", "retry"):
            self.assertIn("post", doc["paths"]["/api/v1/devices/{imei}/" + a])

    def test_document_matches_served_routes(self):
        _, doc, _, _ = A.request("GET", "/api/v1/openapi.json")
        imei = all_devices(A)[1]["imei"]
        methods = {"get", "post", "put", "delete"}
        for path, item in doc["paths"].items():
            url = fill(path, imei, "999999")
            for m in methods:
                if path.endswith("/stream") and m == "get":
                    continue    # endless; test_stream covers it
                st, _, _, _ = A.request(m.upper(), url, raw_body=b"{}")
                if m in item:
                    self.assertNotIn(st, (404, 405) if "{" not in path
                                     else (405,), (m, url, st))
                    if st == 404:
                        self.assertIn("{", path)
                else:
                    self.assertEqual(st, 405, (m, url))
        for url in ("/api/v1/device", "/api/v1/devices/%s/nothing" % imei,
                    "/api/v1/jobs/1/events", "/api/v1", "/api/v2/devices"):
            st, _, _, _ = A.request("GET", url)
            self.assertEqual(st, 404, url)


class Access(unittest.TestCase):
    def mutating(self):
        _, doc, _, _ = A.request("GET", "/api/v1/openapi.json")
        out = []
        for path, item in doc["paths"].items():
            for m in item:
                if m != "get":
                    out.append((m.upper(), path))
        return out

    def test_every_mutating_route_refuses_without_token(self):
        imei = all_devices(A)[2]["imei"]
        ops = self.mutating()
        self.assertGreaterEqual(len(ops), 7)
        _, before, _, _ = A.request("GET", "/api/v1/events?tail=1")
        for m, path in ops:
            url = fill(path, imei, "1")
            body = {"uri": None} if path.endswith("target") else {
                "version": "X", "md5": "0" * 32, "size": 5}
            for tok, want in ((False, 401), ("Bearer", 401),
                              ("Basic abc", 401),
                              ("Bearer " + "x" * 64, 403),
                              ("Bearer " + A.token[:-1], 403),
                              ("Bearer " + A.token + "0", 403)):
                st, doc, _, r = A.request(m, url, body=body, token=tok)
                self.assertEqual(st, want, (m, url, tok))
                if want == 401:
                    self.assertIn("Bearer",
                                  r.getheader("WWW-Authenticate", ""))
        # Nothing happened: no audit event, packages unchanged.
        _, after, _, _ = A.request("GET", "/api/v1/events?tail=1")
        self.assertEqual(before["items"][-1:][0]["id"] if before["items"]
                         else 0,
                         after["items"][-1:][0]["id"] if after["items"]
                         else 0)
        _, pk, _, _ = A.request("GET", "/api/v1/packages")
        self.assertFalse(any(p["version"] == "X" for p in pk["items"]))
        self.assertFalse(any(d["paused"] for d in all_devices(A)))

    def test_reads_need_token_when_configured(self):
        for url in ("/api/v1/devices", "/api/v1/jobs", "/api/v1/summary",
                    "/api/v1/events", "/api/v1/packages", "/api/v1/metrics"):
            st, _, _, _ = A.request("GET", url, token=False)
            self.assertEqual(st, 401, url)
            st, _, _, _ = A.request("GET", url, token="Bearer nope-nope-nope")
            self.assertEqual(st, 403, url)
            st, _, _, _ = B.request("GET", url, token=False)
            self.assertEqual(st, 200, url)
        st, _, _, _ = A.request("GET", "/api/v1/healthz", token=False)
        self.assertEqual(st, 200)

    def test_open_reads_still_guard_writes(self):
        st, _, _, _ = B.request("POST", "/api/v1/packages", token=False,
                                body={"version": "V", "md5": "1" * 32,
                                      "size": 1})
        self.assertEqual(st, 401)

    def test_personal_needs_token(self):
        st, _, _, _ = B.request("GET", "/api/v1/devices?personal=1",
                                token=False)
        self.assertEqual(st, 401)
        st, doc, _, _ = B.request("GET", "/api/v1/devices?personal=1")
        self.assertEqual(st, 200)
        self.assertNotIn("*", doc["items"][0]["iccid"])


class Devices(unittest.TestCase):
    KEYS = {"imei", "imei_masked", "iccid", "imsi", "state", "connected",
            "paused", "port", "usb_hub", "usb_port", "rssi", "reg_status",
            "sw_version", "battery", "free_kib", "target", "job",
            "first_seen_ms", "last_seen_ms"}
    JOB_KEYS = {"id", "imei", "version", "phase", "bytes", "total", "result",
                "started_ms", "progress_ms", "ended_ms", "overdue", "reason",
                "oma_state", "attempt"}

    def test_list_shape_order_and_paging(self):
        items = all_devices(A, limit=7)
        self.assertEqual(len(items), 40)
        imeis = [d["imei"] for d in items]
        self.assertEqual(imeis, sorted(imeis))
        self.assertEqual(len(set(imeis)), 40)
        st, one, _, _ = A.request("GET", "/api/v1/devices?limit=1000")
        self.assertEqual([d["imei"] for d in one["items"]], imeis)
        self.assertIsNone(one["next"])
        phases = set()
        for d in items:
            self.assertTrue(self.KEYS <= set(d), set(d) ^ self.KEYS)
            self.assertRegex(d["imei"], IMEI_RE)
            self.assertTrue(d["iccid"].startswith("****"))
            self.assertTrue(d["imei_masked"].endswith(d["imei"][-4:]))
            self.assertIn(d["state"], ("absent", "idle", "upgrading",
                                       "fault"))
            self.assertIn("uri", d["target"])
            self.assertIn("reachable", d["target"])
            if d["job"] is not None:
                self.assertTrue(self.JOB_KEYS <= set(d["job"]))
                phases.add(d["job"]["phase"])
                self.assertLessEqual(d["job"]["bytes"], d["job"]["total"])
        self.assertEqual(phases, {"download", "check", "flash", "done",
                                  "failed"})
        # The live record (fake backend) shows through.
        self.assertTrue(all(d["rssi"] is not None for d in items))
        self.assertTrue(any(d["target"]["reachable"] is False
                            for d in items))
        # An overdue job (the fixture's "check" jobs) is flagged.
        self.assertTrue(any(d["job"] and d["job"]["overdue"] for d in items))

    def test_filters(self):
        absent = all_devices(A, "&state=absent")
        self.assertTrue(absent)
        self.assertTrue(all(d["state"] == "absent" for d in absent))
        hub = all_devices(A, "&hub=1-1.2")
        self.assertEqual(len(hub), 16)
        self.assertTrue(all(d["usb_hub"] == "1-1.2" for d in hub))
        self.assertEqual(all_devices(A, "&hub=9-9"), [])
        every = all_devices(A, limit=1000)
        for ph in ("download", "flash", "done", "failed", "check", "idle"):
            want = [d["imei"] for d in every
                    if (d["job"]["phase"] if d["job"] else "idle") == ph]
            self.assertTrue(want, ph)
            for lim in (1000, 3):
                got = all_devices(A, "&phase=" + ph, limit=lim)
                self.assertEqual([d["imei"] for d in got], want, (ph, lim))
        st, doc, _, _ = A.request("GET", "/api/v1/devices?phase=flash&"
                                  "limit=%d" % len([
                                      d for d in every if d["job"] and
                                      d["job"]["phase"] == "flash"]))
        self.assertIsNone(doc["next"])    # exact: no empty last page
        for q in ("phase=flashing", "phase=", "state=sleeping", "limit=0", "limit=1001", "limit=x",
                  "cursor=abc", "cursor=1%27%20OR%201=1", "personal=2"):
            st, doc, _, _ = A.request("GET", "/api/v1/devices?" + q)
            self.assertEqual(st, 400, q)

    def test_one_device_and_its_events(self):
        d = all_devices(A)[3]
        st, doc, _, _ = A.request("GET", "/api/v1/devices/" + d["imei"])
        self.assertEqual(st, 200)
        self.assertEqual(doc["imei"], d["imei"])
        self.assertTrue(self.KEYS <= set(doc))
        st, ev, _, _ = A.request("GET", "/api/v1/devices/%s/events"
                                 % d["imei"])
        self.assertEqual(st, 200)
        self.assertTrue(ev["items"])
        self.assertTrue(all(e["imei"] == d["imei"] for e in ev["items"]))
        st, _, _, _ = A.request("GET", "/api/v1/devices/"
                                + VALID_UNKNOWN_IMEI)
        self.assertEqual(st, 404)
        st, _, _, _ = A.request("GET", "/api/v1/devices/%s/events"
                                % VALID_UNKNOWN_IMEI)
        self.assertEqual(st, 404)

    def test_bad_path_parameters_are_400(self):
        for p in ("/api/v1/devices/123", "/api/v1/devices/860000000001238",
                  "/api/v1/devices/86000000000123x",
                  "/api/v1/devices/../../../etc/passwd",
                  "/api/v1/devices/%2e%2e/%2e%2e/etc/passwd",
                  "/api/v1/devices/..%2f..%2fetc%2fpasswd",
                  "/api/v1/jobs/0", "/api/v1/jobs/-3", "/api/v1/jobs/1.5",
                  "/api/v1/devices/%00", "/api/v1//devices",
                  "/api/v1/devices/860000000001239%00"):
            st, doc, _, _ = A.request("GET", p)
            self.assertEqual(st, 400, p)
        for p in ("/../etc/passwd", "/%2e%2e/etc/passwd",
                  "/static/..%2f..%2fetc%2fpasswd"):
            st, _, body, _ = A.request("GET", p)
            self.assertIn(st, (400, 404), p)
            self.assertNotIn(b"root:", body)


class Jobs(unittest.TestCase):
    def test_list_get_and_paging(self):
        got, cursor = [], None
        while True:
            url = "/api/v1/jobs?limit=5" + ("&cursor=" + cursor
                                            if cursor else "")
            st, doc, _, _ = A.request("GET", url)
            self.assertEqual(st, 200)
            got += doc["items"]
            if doc["next"] is None:
                break
            cursor = doc["next"]
        ids = [j["id"] for j in got]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertGreater(len(ids), 20)
        st, j, _, _ = A.request("GET", "/api/v1/jobs/%d" % ids[0])
        self.assertEqual(st, 200)
        self.assertEqual(j["id"], ids[0])
        self.assertIn(j["phase"], ("download", "check", "flash", "confirm",
                                   "done", "failed"))
        st, _, _, _ = A.request("GET", "/api/v1/jobs/999999")
        self.assertEqual(st, 404)
        st, one, _, _ = A.request("GET", "/api/v1/jobs?imei=" + j["imei"])
        self.assertTrue(all(x["imei"] == j["imei"] for x in one["items"]))
        st, _, _, _ = A.request("GET", "/api/v1/jobs?imei=123")
        self.assertEqual(st, 400)

    def test_summary(self):
        st, s, _, _ = A.request("GET", "/api/v1/summary")
        self.assertEqual(st, 200)
        self.assertEqual(set(s["jobs_by_phase"]),
                         {"download", "check", "flash", "confirm", "done",
                          "failed"})
        self.assertGreater(s["jobs_by_phase"]["failed"], 0)
        self.assertIn("5", s["finished_by_result"])
        self.assertGreater(s["overdue"], 0)
        self.assertIsInstance(s["throughput_bytes_per_s"], (int, float))
        self.assertTrue(s["daemon_attached"])
        _, s2, _, _ = B.request("GET", "/api/v1/summary")
        self.assertFalse(s2["daemon_attached"])


class Events(unittest.TestCase):
    def test_resumable_cursor(self):
        seen, since = [], 0
        while True:
            st, doc, _, _ = B.request("GET", "/api/v1/events?limit=4&since=%d"
                                      % since)
            self.assertEqual(st, 200)
            if not doc["items"]:
                self.assertEqual(doc["next"], since)
                break
            seen += [e["id"] for e in doc["items"]]
            since = doc["next"]
        self.assertEqual(seen, sorted(set(seen)))
        st, tail, _, _ = B.request("GET", "/api/v1/events?tail=3")
        self.assertEqual([e["id"] for e in tail["items"]], seen[-3:])
        for q in ("since=-1", "since=x", "tail=0", "limit=99999"):
            st, _, _, _ = B.request("GET", "/api/v1/events?" + q)
            self.assertEqual(st, 400, q)


class Packages(unittest.TestCase):
    def test_register_list_delete_and_audit(self):
        body = {"version": "V9.9.9", "md5": "ABCDEF0123456789abcdef0123456789",
                "size": 123456, "notes": "from the API test"}
        st, p, _, _ = A.request("POST", "/api/v1/packages", body=body)
        self.assertEqual(st, 201, p)
        self.assertEqual(p["md5"], body["md5"].lower())
        self.assertEqual(p["size"], 123456)
        st, _, _, _ = A.request("POST", "/api/v1/packages", body=body)
        self.assertEqual(st, 409)
        st, lst, _, _ = A.request("GET", "/api/v1/packages")
        self.assertIn(p["id"], [x["id"] for x in lst["items"]])
        st, ev, _, _ = A.request("GET", "/api/v1/events?tail=5")
        added = [e for e in ev["items"] if e["kind"] == "package.added"]
        self.assertTrue(added)
        self.assertRegex(added[-1]["actor"], r"^api:[0-9a-f]{8}$")
        self.assertNotIn(A.token[:8], json.dumps(ev))
        st, _, raw, _ = A.request("DELETE", "/api/v1/packages/%d" % p["id"])
        self.assertEqual(st, 204)
        self.assertEqual(raw, b"")
        st, _, _, _ = A.request("DELETE", "/api/v1/packages/%d" % p["id"])
        self.assertEqual(st, 404)
        # The fixture's package is used by unfinished jobs.
        st, doc, _, _ = A.request("DELETE", "/api/v1/packages/1")
        self.assertEqual(st, 409)

    def test_bad_bodies(self):
        url = "/api/v1/packages"
        for raw in (b"", b"{", b"not json", b"[]", b"null", b"\xff\xfe",
                    b'{"version": "V", "md5": "' + b"0" * 32 + b'"}',
                    b'{"version": 5, "md5": "' + b"0" * 32 + b'", "size": 1}',
                    b'{"version": "V", "md5": "xyz", "size": 1}',
                    b'{"version": "V", "md5": "' + b"0" * 32
                    + b'", "size": "1"}',
                    b'{"version": "V", "md5": "' + b"0" * 32
                    + b'", "size": -5}',
                    b'{"version": "V", "md5": "' + b"0" * 32
                    + b'", "size": 1, "admin": true}'):
            st, doc, _, _ = A.request("POST", url, raw_body=raw,
                                      headers={"Content-Type":
                                               "application/json"})
            self.assertEqual(st, 400, raw)

    def test_oversized_body(self):
        big = {"version": "V", "md5": "0" * 32, "size": 1,
               "notes": "n" * 5000}
        st, doc, _, _ = B.request("POST", "/api/v1/packages", body=big)
        self.assertEqual(st, 413)
        self.assertEqual(doc["error"]["code"], "payload_too_large")
        # Streamed without Content-Length (chunked) too.
        c = http.client.HTTPConnection("127.0.0.1", B.port, timeout=30)
        c.putrequest("POST", "/api/v1/packages")
        c.putheader("Authorization", "Bearer " + B.token)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for _ in range(8):
            c.send(b"200\r\n" + b"x" * 512 + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        self.assertEqual(r.status, 413)
        c.close()
        # The server is still there.
        st, _, _, _ = B.request("GET", "/api/v1/healthz")
        self.assertEqual(st, 200)


class Target(unittest.TestCase):
    def test_set_replace_clear(self):
        imei = all_devices(A)[5]["imei"]
        url = "/api/v1/devices/%s/target" % imei
        uri = "modbus-tcp://10.1.2.3:1502?unit=7"
        st, d, _, _ = A.request("PUT", url, body={"uri": uri})
        self.assertEqual(st, 200, d)
        self.assertEqual(d["target"], {"uri": uri, "source": "api",
                                       "reachable": d["target"]["reachable"]})
        st, d, _, _ = A.request("GET", "/api/v1/devices/" + imei)
        self.assertEqual(d["target"]["uri"], uri)
        for bad in ({"uri": "http://evil"}, {"uri": 5}, {"url": uri},
                    {"uri": uri, "x": 1}, {"uri": "modbus-tcp://h?unit=999"}):
            st, _, _, _ = A.request("PUT", url, body=bad)
            self.assertEqual(st, 400, bad)
        st, d, _, _ = A.request("PUT", url, body={"uri": None})
        self.assertEqual(st, 200)
        self.assertEqual(d["target"]["source"], "config")
        st, ev, _, _ = A.request("GET", "/api/v1/devices/%s/events" % imei)
        kinds = [e for e in ev["items"] if e["kind"] == "device.target"]
        self.assertEqual(len(kinds), 2)
        self.assertEqual(kinds[0]["detail"]["new"], uri)
        st, _, _, _ = A.request("PUT", "/api/v1/devices/%s/target"
                                % VALID_UNKNOWN_IMEI, body={"uri": uri})
        self.assertEqual(st, 404)


class Actions(unittest.TestCase):
    def test_pause_resume_and_audit(self):
        d = [x for x in all_devices(A) if not x["imei"].endswith("0")][7]
        base = "/api/v1/devices/%s/" % d["imei"]
        st, doc, _, _ = A.request("POST", base + "pause")
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["paused"])
        st, doc, _, _ = A.request("POST", base + "pause")
        self.assertEqual(st, 409)
        self.assertIn("already paused", doc["error"]["message"])
        st, doc, _, _ = A.request("POST", base + "resume")
        self.assertEqual(st, 200)
        self.assertFalse(doc["paused"])
        for a in ("cancel", "retry"):
            st, _, _, _ = A.request("POST", base + a)
            self.assertEqual(st, 200, a)
        st, ev, _, _ = A.request("GET", base + "events?limit=1000")
        acts = [(e["kind"], e["detail"]["outcome"]) for e in ev["items"]
                if e["kind"].startswith("action.")]
        self.assertEqual(acts, [("action.pause", "done"),
                                ("action.pause", "conflict"),
                                ("action.resume", "done"),
                                ("action.cancel", "done"),
                                ("action.retry", "done")])
        self.assertTrue(all(e["actor"].startswith("api:")
                            for e in ev["items"]
                            if e["kind"].startswith("action.")))

    def test_daemon_timeout_and_absent_daemon(self):
        d = [x for x in all_devices(A) if x["imei"].endswith("0")][0]
        st, doc, _, _ = A.request("POST", "/api/v1/devices/%s/pause"
                                  % d["imei"])
        self.assertEqual(st, 504)
        bd = all_devices(B)[0]["imei"]
        for a in ("pause", "resume", "cancel", "retry"):
            st, doc, _, _ = B.request("POST", "/api/v1/devices/%s/%s"
                                      % (bd, a))
            self.assertEqual(st, 503)
            self.assertEqual(doc["error"]["code"], "daemon_not_attached")
        st, _, _, _ = A.request("POST", "/api/v1/devices/%s/pause"
                                % VALID_UNKNOWN_IMEI)
        self.assertEqual(st, 404)


class Health(unittest.TestCase):
    def test_healthz(self):
        st, h, _, _ = A.request("GET", "/api/v1/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(h["status"], "ok")
        self.assertTrue(h["database"]["ok"])
        self.assertTrue(h["daemon"])
        self.assertEqual(h["ports"]["open"], 7)
        st, h, _, _ = B.request("GET", "/api/v1/healthz")
        self.assertFalse(h["daemon"])
        self.assertIsNone(h["ports"])

    def test_metrics(self):
        st, _, text, r = A.request("GET", "/api/v1/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain"))
        text = text.decode()
        for needle in ('sotagw_jobs{phase="download"}',
                       "sotagw_chunks_stored_total 1234",
                       "sotagw_resumes_total 2",
                       'sotagw_failures_total{result="5"} 1',
                       'sotagw_answer_seconds_bucket{le="+Inf"} 111',
                       "sotagw_answer_seconds_count 111"):
            self.assertIn(needle, text)
        # Every sample line is NAME{labels} VALUE.
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[a-z]+="[^"]*"\})? '
                                       r'[0-9.e+-]+$')


class Stream(unittest.TestCase):
    def setUp(self):
        self.state = {}

    def open(self, srv):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.sendall(("GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % srv.token).encode())
        return s

    def read_until(self, s, needle, limit=1 << 20):
        buf = b""
        while needle not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            self.assertLess(len(buf), limit)
        return buf

    def messages(self, s, want, limit=1 << 20):
        """Read the chunked SSE body of socket s until a message satisfies
        want(); return the messages read by this call, each as (event,
        data-dict). The socket's unread bytes are kept between calls."""
        st = self.state.setdefault(s, {"raw": b"", "body": b"",
                                        "head": False})
        out = []
        while True:
            if not st["head"] and b"\r\n\r\n" in st["raw"]:
                head, st["raw"] = st["raw"].split(b"\r\n\r\n", 1)
                self.assertIn(b"200 OK", head)
                self.assertIn(b"text/event-stream", head)
                self.assertIn(b"chunked", head.lower())
                st["head"] = True
            while st["head"]:
                raw = st["raw"]
                nl = raw.find(b"\r\n")
                if nl < 0:
                    break
                size = int(raw[:nl], 16)
                if len(raw) < nl + 2 + size + 2:
                    break
                st["body"] += raw[nl + 2:nl + 2 + size]
                st["raw"] = raw[nl + 2 + size + 2:]
            # A blank line ends a message.
            while b"\n\n" in st["body"]:
                msg, st["body"] = st["body"].split(b"\n\n", 1)
                ev, data = None, b""
                for line in msg.split(b"\n"):
                    if line.startswith(b"event: "):
                        ev = line[7:].decode()
                    elif line.startswith(b"data: "):
                        data += line[6:]
                    elif line.startswith(b":") or line.startswith(b"retry"):
                        continue
                    else:
                        self.fail("not an SSE line: %r" % line[:80])
                if ev is None:
                    continue
                out.append((ev, json.loads(data)))
                if want(out[-1]):
                    return out
            chunk = s.recv(65536)
            self.assertTrue(chunk, "stream closed")
            st["raw"] += chunk
            self.assertLess(len(st["raw"]) + len(st["body"]), limit)

    def test_progress_arrives_live(self):
        s = self.open(A)
        msgs = self.messages(s, lambda m: m[0] == "hello")
        self.assertEqual(msgs[-1][1]["poll_ms"], 500)
        # The fixture advances downloads every 200 ms: a device document
        # with more bytes than the device had must follow (the socket
        # timeout bounds the wait; no sleep decides the outcome).
        start = {d["imei"]: d["job"]["bytes"] for d in all_devices(A)
                 if d["job"] and d["job"]["phase"] == "download"}
        msgs = self.messages(
            s, lambda m: m[0] == "device" and m[1]["imei"] in start
            and m[1]["job"]["bytes"] != start[m[1]["imei"]])
        for ev, doc in msgs:
            if ev == "device":
                self.assertRegex(doc["imei"], IMEI_RE)
                self.assertIn("job", doc)
        # An action shows up as an audit event on the stream.
        d = [x for x in all_devices(A) if not x["imei"].endswith("0")][9]
        A.request("POST", "/api/v1/devices/%s/retry" % d["imei"])
        msgs = self.messages(s, lambda m: m[0] == "event"
                             and m[1]["kind"] == "action.retry")
        self.assertEqual(msgs[-1][1]["imei"], d["imei"])
        self.assertRegex(msgs[-1][1]["actor"], r"^api:[0-9a-f]{8}$")
        s.close()

    def test_stream_clients_are_bounded(self):
        socks = []
        try:
            for _ in range(8):
                s = self.open(B)
                self.read_until(s, b"event: hello")
                socks.append(s)
            st, doc, _, _ = B.request("GET", "/api/v1/stream")
            self.assertEqual(st, 503)
        finally:
            for s in socks:
                s.close()


class Dashboard(unittest.TestCase):
    def test_assets_are_served(self):
        st, _, body, r = B.request("GET", "/", token=False)
        self.assertEqual(st, 200)
        self.assertIn("text/html", r.getheader("Content-Type"))
        self.assertIn("default-src 'self'",
                      r.getheader("Content-Security-Policy"))
        self.assertIn(b"app.js", body)
        self.assertNotIn(b"http://", body.replace(b"http://www.w3.org", b""))
        st, _, js, _ = B.request("GET", "/app.js", token=False)
        self.assertEqual(st, 200)
        self.assertIn(b"/api/v1/stream", js)
        st, _, _, _ = B.request("GET", "/missing.js", token=False)
        self.assertEqual(st, 404)
        st, _, _, _ = B.request("POST", "/", token=False)
        self.assertEqual(st, 405)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixture", required=True)
    a, rest = ap.parse_known_args()
    FIXTURE = a.fixture
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
