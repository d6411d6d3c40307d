-- OCSP responder (R-13): what the responder nodes poll for status changes.
-- Every node asks, several times a second, for the rows whose status_changed is newer than
-- the newest it has seen: an index keeps that a short range scan with a million rows.
ALTER TABLE certificate ADD INDEX IF NOT EXISTS certificate_changed (status_changed);

-- The root's responder answers for the Sub CAs (CPS 7.3): their status is table ca's,
-- and a change of it must reach the responders like a certificate's.
ALTER TABLE ca ADD COLUMN IF NOT EXISTS status_changed DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6);
ALTER TABLE ca ADD INDEX IF NOT EXISTS ca_changed (status_changed);

INSERT IGNORE INTO schema_version (version, description) VALUES (2, 'OCSP: status change polling');
