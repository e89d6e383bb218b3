-- 0002_device_fault_readings.sql: why a modem is in state 'fault', and when
-- its signal and network registration were last read.
--
-- fault: what is wrong in state 'fault', e.g. "failed: registration:
--   +MIPLEVENT 7 (register failed)"; kept while 'absent'; '' otherwise.
-- readings_ms: when rssi and reg_status were read (0 never), so that a
-- reader can tell their age.

ALTER TABLE devices ADD COLUMN fault TEXT NOT NULL DEFAULT ''
    CHECK (length(fault) <= 120);
ALTER TABLE devices ADD COLUMN readings_ms INTEGER NOT NULL DEFAULT 0
    CHECK (readings_ms >= 0);
