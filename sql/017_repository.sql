-- The public repository (CPS 2.1, 4.4.2): a certificate is published when its subscriber
-- accepts it, and stays listed after it is revoked. The status alone cannot say so once a
-- certificate is revoked (a rejected certificate is revoked without ever being published), so
-- the time of publication is kept. Existing rows: accepted ones from the acceptance's audit
-- event (else their last status change); revoked ones only when that event exists.
ALTER TABLE certificate ADD COLUMN IF NOT EXISTS published_at DATETIME NULL AFTER status;
-- The repository's search by serial, which names no issuer.
ALTER TABLE certificate ADD INDEX IF NOT EXISTS certificate_serial (serial_hex);

UPDATE certificate c JOIN (
    SELECT SUBSTRING_INDEX(SUBSTRING_INDEX(detail, ' issuer ', -1), ' ', 1) AS issuer_id,
           SUBSTRING_INDEX(SUBSTRING_INDEX(detail, ' serial ', -1), ' ', 1) AS serial_hex,
           MIN(at) AS at
    FROM audit_event WHERE event = 'certificate.accept' GROUP BY 1, 2) e
  ON e.issuer_id = c.issuer_id AND e.serial_hex = c.serial_hex
  SET c.published_at = e.at
  WHERE c.published_at IS NULL AND c.status IN ('accepted', 'revoked');
UPDATE certificate SET published_at = status_changed WHERE status = 'accepted' AND published_at IS NULL;

INSERT IGNORE INTO schema_version (version, description) VALUES (17, 'repository: time of publication');
