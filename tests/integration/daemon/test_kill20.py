"""test_kill20: sotagw killed with SIGKILL at 20 and more points spread over
the download hop, the image check and the flash hop (and after APPLY),
restarted each time.

Kill points are chosen from what the daemon and the field devices durably
recorded, polled from outside: the chunk records in the database (download
at increasing byte counts), the last chunk durable (image check), the
field devices' state files (flash at increasing acknowledged counts, then
APPLY running), and the jobs' phase (confirm). At the end:
  - every job is done and every field device runs the target with the
    package's bytes;
  - no chunk the gateway had acknowledged (which it does only once the
    chunk is durable) was sent by the platform again: re-sent chunks are
    only the ones not yet durable at a kill; every resume point the gateway
    reports (5/0/26500) covers every acknowledged byte and no byte that was
    never sent (all read from m531x-sim's trace, so no clock is involved);
  - no field device was sent a block again that it had acknowledged
    (fieldsim logs a retransmission or a rejected block), and each device
    saw one new image and one APPLY;
  - the events table shows every restart and the jobs' resumes.

Options (fleet.parse_bins): --kills N kills at least N times over a thinned
plan (20: the whole plan); --adversarial runs m531x-sim's adversarial URC
timing (each restart then meets late events 15 of the deleted instance,
events 6 before the OPEN's OK, duplicates, URCs inside multi-line answers);
--seed S / --seeds A,B,... pick the simulator's seed(s). ctest runs the
whole plan plainly (daemon_kill20) and 10 kills under 5 seeds adversarially
(daemon_kill_adversarial)."""
import sys
import time

import fleet
from fleet import check

MODEMS = 4
SIZE = 24576
PHASES = ["download", "check", "flash", "confirm", "done", "failed"]


def unfinished(fl):
    return [j for j in fl.jobs() if j["phase"] not in ("done", "failed")]


def all_past(fl, phase):
    """Every modem has a job and every job is beyond phase."""
    jobs = fl.jobs()
    if len(jobs) < MODEMS:
        return False
    k = PHASES.index(phase)
    return all(PHASES.index(j["phase"]) > k for j in jobs)


def progressed(events, jid, k, nxt):
    """Did job jid record anything between kill k and the next kill? A job
    the next kill caught before its worker came back has nothing to show
    for that restart, and is checked at the following one."""
    return any(e["job_id"] == jid and k["event_id"] < e["id"] <= nxt
               for e in events)


def snapshot(fl):
    """What the daemon and the devices had durably recorded at a kill."""
    ev = fl.query("SELECT max(id) AS id FROM events")
    return {"event_id": (ev[0]["id"] or 0) if ev else 0,
            "durable": fl.durable_bytes(),
            "jobs": {j["device_imei"]: j for j in unfinished(fl)},
            "fs": {i: fl.fs_state(i) for i in range(MODEMS)}}


# Each condition fires only on progress made since the previous kill, so a
# kill never lands before the restarted daemon did anything, and each kill
# point is a distinct one. A condition returns (description, imei or unit).

def download_at(frac):
    def cond(fl, last):
        for imei, d in fl.durable_bytes().items():
            if frac * SIZE <= d < SIZE and d > last["durable"].get(imei, -1):
                return "download, %d bytes durable" % d, imei
        return None
    return ("download", cond)


def last_chunk(fl, last):
    """All bytes durable, the image not yet being flashed (the last chunk
    just stored, or the image check running or done and 5/0/2 not yet
    executed), and the job did something since the previous kill (its
    restart is in the audit trail)."""
    jobs = {j["device_imei"]: j for j in unfinished(fl)}
    for imei, d in fl.durable_bytes().items():
        j = jobs.get(imei)
        if d != SIZE or j is None or j["phase"] not in ("download", "check"):
            continue
        if last["durable"].get(imei, -1) < SIZE or fl.query(
                "SELECT 1 FROM events WHERE job_id = ? AND id > ? LIMIT 1",
                (j["id"], last["event_id"])):
            return "image check, all %d bytes durable, phase %s" % (
                d, j["phase"]), imei
    return None


def fs_moved(st, before):
    return before is None or (st["state"], st["received"]) != \
        (before["state"], before["received"])


def flash_at(frac):
    def cond(fl, last):
        for i in range(MODEMS):
            st = fl.fs_state(i)
            if st and st["state"] == 1 and st["image_size"] == SIZE and \
                    frac * SIZE <= st["received"] < SIZE and \
                    fs_moved(st, last["fs"][i]):
                return "flash, unit %d acked %d" % (i + 1,
                                                    st["received"]), i
        return None
    return ("flash", cond)


def applying(fl, last):
    for i in range(MODEMS):
        st = fl.fs_state(i)
        if st and st["state"] in (2, 3, 4) and st["image_size"] == SIZE \
                and fs_moved(st, last["fs"][i]):
            return "flash, unit %d in %s" % (i + 1, st["state_name"]), i
    return None


def confirm(fl, last):
    for j in unfinished(fl):
        before = last["jobs"].get(j["device_imei"])
        if j["phase"] == "confirm" and (before is None or
                                        before["phase"] != "confirm"):
            return "confirm, job %d" % j["id"], j["device_imei"]
    return None


# 34 candidate points; a point whose moment passed unseen (every job
# beyond it) is skipped, and at least 20 must have happened.
PLAN = ([download_at(f / 100) for f in range(3, 100, 6)] +
        [("check", last_chunk)] * 3 +
        [flash_at(f / 100) for f in range(0, 100, 10)] +
        [("flash", applying)] * 2 +
        [("confirm", confirm)] * 2)


def plan(kills):
    """The kill points: all of PLAN for 20 kills; for fewer, every n-th,
    still spread over every hop."""
    if kills >= 20:
        return PLAN
    stride = max(1, round(len(PLAN) / (1.6 * kills)))
    return PLAN[::stride]


def body(bins):
    # staggered starts: the modems reach each hop at different times, so
    # the short image-check window is caught more than once
    fl = fleet.Fleet("kill20", bins, MODEMS, image_size=SIZE, stagger_s=3,
                     platform={"chunk_size": 512, "request_gap_ms": 120,
                               "resend_ms": 2000, "max_resends": 5},
                     # 16-byte blocks: 1536 per image, so a flash lasts
                     # long enough to be caught at ten points
                     devices={i: "max_block=16,apply_ms=600"
                              for i in range(MODEMS)},
                     # +MIPLCREATE:0 before OK on two modules (M5310-DOC):
                     # under adversarial timing a late 15 comes between
                     modules={i: {"dialect": {"create_prints_ref": True}}
                              for i in (1, 3)} if bins.adversarial else None,
                     # held URCs (late 15s, repeated 6s) live up to 1.5 s:
                     # long enough to meet the first chunks of a resumed
                     # download and come between a head and its value
                     defaults={"timing": {"max_delay_ms": 1500}})
    ok = False
    kills = []
    try:
        fl.start()
        last = snapshot(fl)
        for hop, cond in plan(bins.kills):
            hit = None
            end = time.monotonic() + 30
            while hit is None and time.monotonic() < end and \
                    not all_past(fl, hop) and fl.msim.poll() is None:
                check(fl.gw_alive(), "sotagw died on its own; see "
                      + fl.gw_log)
                hit = cond(fl, last)
                if hit is None:
                    time.sleep(fleet.POLL_S)
            if hit is None:
                continue
            fl.kill_gw()
            last = snapshot(fl)
            kills.append({"hop": hop, "what": hit[0], "key": hit[1],
                          "event_id": last["event_id"],
                          "open": {j["id"]: i for i, j in
                                   last["jobs"].items()}})
            print("kill %2d: %s" % (len(kills), hit[0]))
            fl.start_gw()
        rep = fl.wait_msim(420)
        fleet.run_sections([
            ("kill points", lambda: check_kills(kills, bins.kills)),
            ("outcomes", lambda: check_outcomes(fl)),
            ("modem downloads", lambda: check_downloads(fl)),
            ("field device flashes", lambda: check_flashes(fl)),
            ("audit trail", lambda: check_events(fl, kills)),
            ("clean stop", lambda: fleet.stop_clean(fl))])
        print("kill20: %d kills, fleet done in %.1f s"
              % (len(kills), rep["elapsed_s"]))
        ok = True
    finally:
        fl.close(ok)


def check_kills(kills, want):
    by_hop = {h: sum(1 for k in kills if k["hop"] == h)
              for h in ("download", "check", "flash", "confirm")}
    print("kills per hop: %s" % by_hop)
    check(len(kills) >= want, "only %d kills happened" % len(kills))
    for h in ("download", "check", "flash"):
        check(by_hop[h] >= (2 if want >= 20 else 1), "only %d kills in %s"
              % (by_hop[h], h))


def check_outcomes(fl):
    """Every job completes."""
    for i in range(MODEMS):
        m = fl.module(i)
        print("module %d: %d registrations, adversarial URCs %s"
              % (i, m["registration"]["registrations"], m["timing"]))
        fleet.check_module_sound(fl, i, "success", killed=True)
        fleet.check_device_upgraded(fl, i)
    for j in fl.jobs():
        check(j["phase"] == "done", "job %d %s (%s)"
              % (j["id"], j["phase"], j["reason"]))
    check(len(fl.jobs()) == MODEMS, "a kill made a new job")


def check_downloads(fl):
    """No acknowledged chunk (the gateway acknowledges only durable ones)
    is downloaded again, and every resume point (5/0/26500) holds all
    acknowledged bytes and none that were never sent: at most the chunk
    whose acknowledgement a kill cut off is durable beyond them."""
    hist = fl.chunk_history()
    cs = fl.platform["chunk_size"]
    for i in range(MODEMS):
        # A resend under the msgid just acknowledged crossed the answer on
        # the wire (CoAP retransmission): not a new download.
        acked, seen, pending, again = {}, set(), None, 0
        acked_end = sent_end = held = 0
        for kind, off, msgid in hist[i]:
            if kind == "resume":
                check(acked_end <= off <= sent_end,
                      "module %d: resume from %d with %d bytes acknowledged "
                      "and %d sent" % (i, off, acked_end, sent_end))
                held = max(held, off)
                continue
            if kind == "ack":
                if pending is not None:
                    acked[pending[0]] = pending[1]
                    acked_end = max(acked_end, min(pending[0] + cs,
                                                   fl.image_size))
                continue
            check(off >= 0, "module %d: a chunk not from the package" % i)
            if off in seen:
                again += 1
            check(acked.get(off, msgid) == msgid,
                  "module %d: chunk at %d sent again after the gateway had "
                  "acknowledged it (%d chunks sent again so far)"
                  % (i, off, again))
            seen.add(off)
            sent_end = max(sent_end, min(off + cs, fl.image_size))
            pending = (off, msgid)
        m = fl.module(i)
        print("module %d: %d chunks, %d sent again (not yet durable), "
              "%d attempts" % (i, fl.n_chunks, again, m["attempts"]))
        # the last chunk may be durable at a kill, never acknowledged, and
        # covered by the next attempt's resume point instead
        check(max(acked_end, held) == fl.image_size,
              "module %d: %d bytes acknowledged, %d reported held, of %d"
              % (i, acked_end, held, fl.image_size))


def check_flashes(fl):
    """No block a field device had acknowledged is sent to it again: one
    new image, resumes only, no retransmission or rejected block, one
    APPLY."""
    for i in range(MODEMS):
        log = fl.fs_log_lines(i)
        n_new = sum("BEGIN: new image" in ln for ln in log)
        n_res = sum("BEGIN: resume at" in ln for ln in log)
        n_apply = sum("APPLY: version" in ln for ln in log)
        n_again = sum("retransmission" in ln for ln in log)
        n_rej = sum("rejected" in ln for ln in log)
        print("unit %d: %d new image, %d resumes, %d APPLY, %d blocks "
              "again, %d rejected" % (i + 1, n_new, n_res, n_apply,
                                      n_again, n_rej))
        check(n_new == 1, "unit %d: %d BEGINs of a new image"
              % (i + 1, n_new))
        check(n_apply == 1, "unit %d: %d APPLYs" % (i + 1, n_apply))
        check(n_again == 0 and n_rej == 0,
              "unit %d: blocks sent again after their ack" % (i + 1))


def check_events(fl, kills):
    """After each kill, every job open at that kill is restarted from its
    checkpoint and resumed: sota.restart and job.resumed events of that
    job after the kill's last event."""
    events = fl.events()
    print("events: %d sota.restart, %d job.resumed, %d sota.resume"
          % tuple(sum(e["kind"] == k for e in events)
                  for k in ("sota.restart", "job.resumed", "sota.resume")))
    for n, k in enumerate(kills):
        nxt = kills[n + 1]["event_id"] if n + 1 < len(kills) else 1 << 62
        for jid in k["open"]:
            if not progressed(events, jid, k, nxt):
                continue
            for kind in ("sota.restart", "job.resumed"):
                check(any(e["kind"] == kind and e["job_id"] == jid and
                          k["event_id"] < e["id"] <= nxt for e in events),
                      "no %s event for job %d after kill %d (%s)"
                      % (kind, jid, n + 1, k["what"]))


if __name__ == "__main__":
    sys.exit(fleet.run_test("test_kill20", body))
