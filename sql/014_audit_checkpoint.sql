-- The audit chain anchored outside the database (CPS 5.4.4): at every N events or M seconds a
-- checkpoint (sequence, chain hash, time) signed in the token by the audit key the key ceremony
-- made. A rewrite of the events, even with their hashes and audit_head recomputed, no longer
-- matches a checkpoint nobody without the token can sign again (ecertctl audit verify).
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  seq        BIGINT UNSIGNED NOT NULL PRIMARY KEY,   -- the last event it covers
  hash       BINARY(32) NOT NULL,                    -- that event's chain hash
  signed_at  BIGINT UNSIGNED NOT NULL,               -- seconds since the epoch, signed
  signature  VARBINARY(1024) NOT NULL                -- sha256WithRSAEncryption over ec_audit_anchor.h's text
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (14, 'audit checkpoints signed in the token');
