"""test_fleet16: 16 modems and their 16 field devices, one SOTA task.

Every field device must end with the package's bytes (checked against the
package's CRC-32 and MD5) and the target version; every platform request
answered inside the simulator's deadline; zero protocol violations; every
job done in the database; a clean stop on SIGTERM."""
import sys

import fleet
from fleet import check

MODEMS = 16


def body(bins):
    fl = fleet.Fleet("fleet16", bins, MODEMS, image_size=16384,
                     platform={"chunk_size": 1024})
    ok = False
    try:
        fl.start()
        rep = fl.wait_msim(480)
        for i in range(MODEMS):
            fleet.check_module_clean(fl, i)
            m = fl.module(i)
            check(m["chunks"]["sent"] == fl.n_chunks,
                  "module %d: %d chunk sends for %d chunks"
                  % (i, m["chunks"]["sent"], fl.n_chunks))
            check(m["resends"] == 0, "module %d: %d resends"
                  % (i, m["resends"]))
            fleet.check_device_upgraded(fl, i)
        check(rep["summary"].get("success") == MODEMS,
              "summary %s" % rep["summary"])
        jobs = fl.jobs()
        check(len(jobs) == MODEMS, "%d jobs for %d modems"
              % (len(jobs), MODEMS))
        imeis = {m["imei"] for m in rep["modules"]}
        for j in jobs:
            check(j["phase"] == "done", "job %d %s (%s)"
                  % (j["id"], j["phase"], j["reason"]))
            check(j["device_imei"] in imeis, "job %d: unknown imei" % j["id"])
            check(j["md5"] == fl.pkg["md5"], "job %d md5" % j["id"])
            check(j["version"] == fl.target, "job %d version" % j["id"])
            check(j["bytes_durable"] == fl.image_size,
                  "job %d durable bytes" % j["id"])
        devs = fl.query("SELECT imei, sw_version FROM devices")
        check(len(devs) == MODEMS, "%d device rows" % len(devs))
        for d in devs:
            check(d["sw_version"] == fl.target, "device row %s version %r"
                  % (d["imei"][-4:], d["sw_version"]))
        lat = max(m["latency"]["max_ms"] for m in rep["modules"])
        p99 = max(m["latency"]["p99_ms"] for m in rep["modules"])
        print("fleet16: %.1f s, %d requests, worst p99 %d ms, max %d ms"
              % (rep["elapsed_s"], sum(m["requests"] for m in rep["modules"]),
                 p99, lat))
        fleet.stop_clean(fl)
        ok = True
    finally:
        fl.close(ok)


if __name__ == "__main__":
    sys.exit(fleet.run_test("test_fleet16", body))
