"""test_faults: one fault per modem, two clean modems beside them, then a
full staging disk.

Fleet of 8: unplug and replug of a modem mid-download, a module reboot
mid-download, a field device busy after BEGIN and VERIFY, a failed APPLY,
a CRC mismatch at VERIFY, corrupted chunks; modems 6 and 7 have no fault.
  - unplug, reboot, busy, corrupted chunks: the upgrade completes, the
    device holds the package and the target version, no damaged chunk is
    acknowledged;
  - failed APPLY and CRC mismatch: the attempt fails (the platform's task
    ends failed, the job is failed with the flash's reason) and the device
    keeps its old version;
  - the clean modems succeed with every request answered inside the
    deadline: the faults of the others do not hold them up; sotagw never
    exits.
Fleet of 2 with min_staging_free_kib above any disk: the gateway reports
no room, the platform skips both devices, nothing reaches the field
devices, and the daemon keeps running. Fleet of 2 whose staging disk (a
tmpfs, when run as root) fills up mid-download: see staging_fills_up."""
import os
import sys

import fleet
from fleet import check

FAULTY = {
    0: ("unplug", {"faults": {"unplug_after_chunk": 4, "unplug_ms": 1500}},
        None),
    1: ("reboot", {"faults": {"reboot_after_chunk": 6}}, None),
    2: ("busy", {}, "busy_ms=1500"),
    3: ("apply fails", {}, "apply_fail=1"),
    4: ("crc mismatch", {}, "verify_fail=1"),
    5: ("corrupt chunks", {"faults": {"corrupt_chunks": [2, 7]}}, None),
}
CLEAN = (6, 7)


def faults_fleet(bins):
    fl = fleet.Fleet("faults", bins, 8, image_size=8192,
                     platform={"resend_ms": 1500, "max_resends": 5},
                     modules={i: f[1] for i, f in FAULTY.items() if f[1]},
                     devices={i: f[2] for i, f in FAULTY.items() if f[2]})
    ok = False
    try:
        fl.start()
        fl.wait_msim(300)
        for i, (name, _, _) in sorted(FAULTY.items()):
            m = fl.module(i)
            print("module %d (%s): %s (%s), %d attempts, %d resends"
                  % (i, name, m["outcome"], m["reason"], m["attempts"],
                     m["resends"]))
        jobs = {}
        for j in fl.jobs():
            jobs.setdefault(j["device_imei"], []).append(j)
        sections = [("modem %d (%s)" % (i, FAULTY[i][0]),
                     lambda i=i: check_upgraded(fl, jobs, i))
                    for i in (0, 1, 2, 5)]
        sections += [("modem %d (%s)" % (i, FAULTY[i][0]),
                      lambda i=i, e=e: check_flash_failed(fl, jobs, i, e))
                     for i, e in ((3, 6), (4, 2))]
        sections += [("modem %d (no fault)" % i,
                      lambda i=i: check_clean(fl, jobs, i)) for i in CLEAN]
        sections.append(("clean stop", lambda: fleet.stop_clean(fl)))
        fleet.run_sections(sections)
        ok = True
    finally:
        fl.close(ok)


def last_job(fl, jobs, i):
    js = jobs.get(fl.module(i)["imei"], [])
    return js[-1] if js else None


def check_clean(fl, jobs, i):
    """A modem without a fault beside faulty ones: served as if alone."""
    fleet.check_module_clean(fl, i)
    fleet.check_device_upgraded(fl, i)
    j = last_job(fl, jobs, i)
    check(j is not None and j["phase"] == "done", "module %d job %s"
          % (i, j))


def check_upgraded(fl, jobs, i):
    """The fault was recovered from: the upgrade completed."""
    fleet.check_module_sound(fl, i, "success")
    fleet.check_device_upgraded(fl, i)
    m = fl.module(i)
    if i == 0:
        check(m["unplugs"] == 1, "module 0 was not unplugged")
    if i == 1:
        check(m["reboots"] == 1, "module 1 did not reboot")
    if i == 5:
        check(m["chunks"]["corrupted"] == 2, "module 5: %s" % m["chunks"])
    j = last_job(fl, jobs, i)
    check(j is not None and j["phase"] == "done", "module %d job %s"
          % (i, j))


def check_flash_failed(fl, jobs, i, want_err):
    """The attempt failed and says why; the device kept its version."""
    fleet.check_module_sound(fl, i, "failed")
    st = fl.fs_state(i)
    check(st["sw_version"] == fl.old_version,
          "unit %d version %s" % (i + 1, st["sw_version"]))
    check(st["state"] == 5 and st["error"] == want_err,
          "unit %d state %d error %d" % (i + 1, st["state"], st["error"]))
    j = last_job(fl, jobs, i)
    check(j is not None and j["phase"] == "failed" and
          "flash" in j["reason"], "module %d job %s" % (i, j))


def full_staging(bins):
    fl = fleet.Fleet("staging", bins, 2, image_size=8192,
                     policy={"min_staging_free_kib": 4294967296})
    ok = False
    try:
        fl.start()
        fl.wait_msim(120)
        for i in range(2):
            m = fl.module(i)
            print("module %d (full staging): %s (%s)"
                  % (i, m["outcome"], m["reason"]))
            fleet.check_module_clean(fl, i, outcome="skipped")
            check("space" in m["reason"], "module %d reason %s"
                  % (i, m["reason"]))
            check(m["chunks"]["sent"] == 0, "module %d got chunks" % i)
            st = fl.fs_state(i)
            check(st is None or st["sw_version"] == fl.old_version,
                  "unit %d changed" % (i + 1))
            check(not any("BEGIN" in ln for ln in fl.fs_log_lines(i)),
                  "unit %d was sent a BEGIN" % (i + 1))
        fleet.stop_clean(fl)
        ok = True
    finally:
        fl.close(ok)


def staging_fills_up(bins):
    """The staging disk (a 128 KiB tmpfs) fills up in the middle of two
    downloads: the chunk that does not fit is refused with write-fail and
    recorded (sota.bad-chunk), the platform sends it again, and once space
    is freed both downloads go on and both devices are upgraded. Without
    root (no tmpfs) this part is skipped with a message."""
    fl = fleet.Fleet("diskfull", bins, 2, image_size=32768,
                     platform={"chunk_size": 1024, "request_gap_ms": 200,
                               "max_resends": 30})
    ok = False
    try:
        staging = fl.state_dir + "/staging"
        if not fl.mount_tmpfs(staging, 128):
            print("full staging disk mid-download: skipped (needs root "
                  "to mount a tmpfs)")
            ok = True
            return
        fl.start()
        fleet.wait_for(lambda: any(d >= 8192 for d in
                                   fl.durable_bytes().values()),
                       120, "8 KiB durable")
        check(os.listdir(staging), "no staging file in %s" % staging)
        ballast = os.path.join(staging, "ballast")
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass        # ENOSPC: the disk is full
        finally:
            os.close(fd)
        fleet.wait_for(lambda: [e for e in fl.events("sota.bad-chunk")
                                if "space" in e["detail"].lower()],
                       60, "a chunk refused for want of space")
        os.unlink(ballast)
        fl.wait_msim(180)
        for i in range(2):
            fleet.check_module_sound(fl, i, "success")
            fleet.check_device_upgraded(fl, i)
        fails = sum(fl.module(i)["chunks"]["write_fails"] for i in range(2))
        check(fails >= 1, "no write-fail answered while the disk was full")
        print("full staging disk: %d chunks refused, then both done" % fails)
        fleet.stop_clean(fl)
        ok = True
    finally:
        fl.close(ok)


def body(bins):
    faults_fleet(bins)
    full_staging(bins)
    staging_fills_up(bins)


if __name__ == "__main__":
    sys.exit(fleet.run_test("test_faults", body))
