-- OCSP at scale (issue 11): each responder node keeps a replica of every live answer and
-- copies in, several times a second, the answers stored since its last look (signed by any
-- child of any node): updated_at is that feed, and its index keeps it a short range scan.
-- ON UPDATE moves it only when a row really changes (a stale re-sign that the upsert keeps
-- out changes nothing, so it is not fed again).
ALTER TABLE ocsp_response
  ADD COLUMN IF NOT EXISTS updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ON UPDATE CURRENT_TIMESTAMP(6),
  ADD INDEX IF NOT EXISTS ocsp_updated (updated_at);

-- The re-sign queue is taken per issuer, oldest first: an index in that order turns each
-- take into a short range read instead of a sort of the whole queue.
ALTER TABLE ocsp_pending ADD INDEX IF NOT EXISTS ocsp_pending_take (issuer_id, queued_at);
-- Likewise the refresh sweep, per issuer, oldest thisUpdate first.
ALTER TABLE ocsp_response ADD INDEX IF NOT EXISTS ocsp_refresh_take (issuer_id, this_update);

-- The replica's change feed reads certificates in (status_changed, serial_hex) order: a mass
-- revocation gives thousands of rows one status_changed, and the serial lets a batch
-- boundary fall inside them without losing any.
ALTER TABLE certificate ADD INDEX IF NOT EXISTS certificate_changed_key (status_changed, serial_hex);
ALTER TABLE certificate DROP INDEX IF EXISTS certificate_changed;

INSERT IGNORE INTO schema_version (version, description) VALUES (7, 'OCSP: node replica feed, queue index');
