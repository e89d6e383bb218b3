#!/usr/bin/env python3
"""sotagw status / events / package against a temporary database.

The binary creates the database (package add opens it read-write, which
migrates it); the test then writes device, job and event rows with the
stdlib sqlite3 module, as the daemon would, and checks what the commands
print and their exit codes (0 ok, 1 runtime error, 2 usage error)."""
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

SOTAGW = sys.argv[1]
IMEI = "490154203237518"
IMEI2 = "356938035643809"
MD5 = "0123456789abcdef0123456789abcdef"
FAILS = []


def run(*args, want=0, stdin=None):
    p = subprocess.run([SOTAGW, *args], capture_output=True, text=True,
                       input=stdin, timeout=60)
    if p.returncode != want:
        FAILS.append(f"{args}: exit {p.returncode}, want {want}\n"
                     f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def check(cond, what):
    if not cond:
        FAILS.append(what)


def main():
    with tempfile.TemporaryDirectory(prefix="sotagw-cli-") as tmp:
        db = os.path.join(tmp, "sotagw.db")

        # Reading a database that does not exist is a runtime error, and
        # creates nothing.
        p = run("status", "--db", db, want=1)
        check("sotagw.db" in p.stderr, "status: the message names the file")
        check(not os.path.exists(db), "status created the database")

        # Usage errors: exit 2, nothing created.
        run("status", "--db", db, "extra", want=2)
        run("status", "--db", db, "--config", "/x.ini", want=2)
        run("package", "--db", db, want=2)
        run("package", "--db", db, "frobnicate", want=2)
        for bad in (["--version", "", "--md5", MD5, "--size", "1"],
                    ["--version", "a b", "--md5", MD5, "--size", "1"],
                    ["--version", "x" * 33, "--md5", MD5, "--size", "1"],
                    ["--version", "1", "--md5", MD5[:-1], "--size", "1"],
                    ["--version", "1", "--md5", MD5[:-1] + "g", "--size", "1"],
                    ["--version", "1", "--md5", MD5, "--size", "0"],
                    ["--version", "1", "--md5", MD5, "--size", "-5"],
                    ["--version", "1", "--md5", MD5, "--size", "12x"],
                    ["--version", "1", "--md5", MD5, "--size", "4294967296"],
                    ["--version", "1", "--md5", MD5, "--size", "1",
                     "--sha256", "ab"],
                    ["--version", "1", "--md5", MD5, "--size", "1",
                     "--notes", "n" * 1025],
                    ["--version", "1", "--md5", MD5],
                    ["--md5", MD5, "--size", "1"]):
            run("package", "--db", db, "add", *bad, want=2)
        run("package", "--db", db, "remove", "x", want=2)
        run("package", "--db", db, "remove", "0", want=2)
        run("events", "--db", db, "--limit", "0", want=2)
        run("events", "--db", db, "--since", "-1", want=2)
        run("events", "--db", db, "--device", "490154203237519", want=2)
        check(not os.path.exists(db), "a usage error created the database")

        # A config that does not parse: exit 2 with file:line: reason.
        ini = os.path.join(tmp, "bad.ini")
        with open(ini, "w") as f:
            f.write("[modems]\nports = /dev/ttyUSB*\nbogus = 1\n")
        p = run("status", "--config", ini, want=2)
        check("bad.ini:3" in p.stderr, f"config error: {p.stderr!r}")

        # package add (upper-case hex is accepted and stored lower-case)
        p = run("package", "--db", db, "add", "--version", "2.0.0", "--md5",
                MD5.upper(), "--size", "6000", "--notes", "pilot\x1b[2J")
        check("package 1 added" in p.stdout, p.stdout)
        run("package", "--db", db, "add", "--version", "2.0.0", "--md5",
            MD5, "--size", "6000", want=1)   # the same image again
        p = run("package", "--db", db, "list")
        check(MD5 in p.stdout and "2.0.0" in p.stdout, p.stdout)
        check("\x1b" not in p.stdout and "\\x1b[2J" in p.stdout,
              "notes are printed with control characters escaped")

        # Rows as the daemon writes them.
        con = sqlite3.connect(db)
        now = int(time.time() * 1000)
        con.execute("INSERT INTO devices (imei, state, port, usb_hub, "
                    "usb_port, sw_version, battery, first_seen_ms, "
                    "last_seen_ms) VALUES (?, 'upgrading', '/dev/ttyUSB3', "
                    "'1-1.2', 3, '1.0.0', 80, ?, ?)", (IMEI, now, now))
        con.execute("INSERT INTO devices (imei, state, fault, first_seen_ms,"
                    " last_seen_ms) VALUES (?, 'fault', ?, ?, ?)",
                    (IMEI2, "registration: +MIPLEVENT 7 (register failed)",
                     now, now))
        con.execute("INSERT INTO jobs (device_imei, package_id, version, "
                    "phase, bytes_durable, image_size, attempt, created_ms) "
                    "VALUES (?, 1, '2.0.0', 'download', 2048, 6000, 1, ?)",
                    (IMEI, now))
        con.execute("INSERT INTO jobs (device_imei, version, phase, reason, "
                    "attempt, created_ms, ended_ms) VALUES (?, '9.9', "
                    "'failed', 'integrity: md5 mismatch', 1, ?, ?)",
                    (IMEI2, now, now))
        for i in range(5):
            con.execute("INSERT INTO events (time_ms, device_imei, job_id, "
                        "kind, actor, detail) VALUES (?, ?, 1, "
                        "'job.progress', 'daemon', ?)",
                        (now, IMEI, f"step {i}\nforged line"))
        con.execute("INSERT INTO events (time_ms, device_imei, kind, actor)"
                    " VALUES (?, ?, 'device.seen', 'daemon')", (now, IMEI2))
        con.commit()

        p = run("status", "--db", db)
        lines = p.stdout.splitlines()
        check(len(lines) == 4 and lines[-1] == "2 devices", p.stdout)
        check(IMEI not in p.stdout and "49...7518" in p.stdout,
              "status masks the IMEI by default")
        row = next((l for l in lines if "49...7518" in l), "")
        for want in ("/dev/ttyUSB3", "1-1.2:3", "upgrading", "1.0.0", "80%",
                     "download", "2048/6000"):
            check(want in row, f"status row lacks {want!r}: {row!r}")
        row2 = next((l for l in lines if "35...3809" in l), "")
        check("failed" in row2 and "integrity: md5 mismatch" in row2, row2)
        check(" fault " in row2 and
              "fault: registration: +MIPLEVENT 7 (register failed)" in row2,
              f"status shows the fault and why: {row2!r}")
        p = run("status", "--db", db, "--show-imei")
        check(IMEI in p.stdout and IMEI2 in p.stdout, p.stdout)

        # events: all, by device, since, limit; escaped details
        p = run("events", "--db", db)
        ev = p.stdout.splitlines()
        check(len(ev) == 7, p.stdout)   # package.added + 5 + 1
        check(all("\n" not in l for l in ev) and "\\x0aforged" in p.stdout,
              "a newline in a detail cannot forge a line")
        check(IMEI not in p.stdout, "events mask the IMEI by default")
        p = run("events", "--db", db, "--device", IMEI)
        check(len(p.stdout.splitlines()) == 5, p.stdout)
        p = run("events", "--db", db, "--since", "3", "--limit", "2")
        ids = [l.split()[0] for l in p.stdout.splitlines()]
        check(ids == ["4", "5"], f"--since 3 --limit 2 gave {ids}")
        p = run("events", "--db", db, "--since", "100")
        check(p.stdout == "", p.stdout)

        # A package used by an unfinished job cannot go; a missing one is
        # reported.
        p = run("package", "--db", db, "remove", "1", want=1)
        check("unfinished job" in p.stderr, p.stderr)
        run("package", "--db", db, "remove", "42", want=1)

        # Readers and writers work while another connection holds the
        # write lock for a moment (the daemon's group commit): status reads
        # (WAL), package add waits for the lock (busy timeout).
        holder = sqlite3.connect(db, isolation_level=None,
                                 check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO events (time_ms, kind, actor) VALUES "
                       "(1, 'lock.test', 'test')")
        release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
        release.start()
        run("status", "--db", db)
        p = run("package", "--db", db, "add", "--version", "3.0", "--md5",
                "f" * 32, "--size", "10")
        check("package 2 added" in p.stdout, p.stdout)
        release.join()
        holder.close()

        # A database from a newer sotagw is refused with a clear message.
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        p = run("status", "--db", db, want=1)
        check("newer" in p.stderr, p.stderr)
        p = run("package", "--db", db, "list", want=1)

        # A file that is not a database.
        junk = os.path.join(tmp, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"not a database at all" * 100)
        run("status", "--db", junk, want=1)

    if FAILS:
        print("\n".join(FAILS))
        return 1
    print("cli_db: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
