-- CRLs and ARLs (R-12; CPS 4.9.7, App. C; BR 4.9.7, 7.2).
-- A CRL is stored in chunks of at most 256 KiB: a million entries make some 50 MB, larger than
-- a default max_allowed_packet, and every chunk stays a plain prepared statement in hex.
-- Nothing wrote table crl before this version: its inline DER column goes.
ALTER TABLE crl DROP COLUMN IF EXISTS crl_der;
ALTER TABLE crl
  ADD COLUMN IF NOT EXISTS file      VARCHAR(100) NOT NULL DEFAULT '' AFTER crl_number,  -- published name
  ADD COLUMN IF NOT EXISTS shard     SMALLINT UNSIGNED NULL AFTER file,      -- NULL: the full CRL / ARL
  ADD COLUMN IF NOT EXISTS entries   INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS size      INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS chunks    INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS sha256    BINARY(32) NULL,
  ADD COLUMN IF NOT EXISTS scheduled BOOLEAN NOT NULL DEFAULT FALSE,         -- a regularly scheduled one (BR 7.2)
  ADD COLUMN IF NOT EXISTS cause     VARCHAR(32) NOT NULL DEFAULT '',
  ADD INDEX IF NOT EXISTS crl_file (issuer_id, file, crl_number);

CREATE TABLE IF NOT EXISTS crl_chunk (
  issuer_id  INT UNSIGNED NOT NULL,
  crl_number BIGINT UNSIGNED NOT NULL,
  seq        INT UNSIGNED NOT NULL,
  data       MEDIUMBLOB NOT NULL,
  PRIMARY KEY (issuer_id, crl_number, seq),
  CONSTRAINT crl_chunk_crl FOREIGN KEY (issuer_id, crl_number) REFERENCES crl (issuer_id, crl_number)
) ENGINE=InnoDB;

-- One row per CA that issues CRLs: the numbering, what the schedule has done, and the lease
-- that lets exactly one node (of many sharing this database) produce the next CRLs. The lease
-- is taken and renewed by single-row UPDATEs that commit at once, so on Galera a second node
-- loses it at certification instead of signing the same number.
CREATE TABLE IF NOT EXISTS crl_state (
  issuer_id         INT UNSIGNED NOT NULL PRIMARY KEY,
  last_number       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_this_update  DATETIME NULL,
  last_slot         DATETIME NULL,       -- the schedule time the last scheduled CRL answered
  last_scheduled    DATETIME NULL,       -- thisUpdate of the last regularly scheduled CRL
  last_scheduled_db DATETIME(6) NULL,    -- the database's NOW(6) when it was committed
  lease_owner       VARCHAR(120) NULL,
  lease_until       DATETIME(6) NULL,
  CONSTRAINT crl_state_ca FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Revocations not yet on a CRL, written in the revocation's own transaction (one row per
-- certificate: no counter row that every revocation on every node would fight over). The CRL
-- job claims the rows it covers and deletes exactly those when its CRL commits.
CREATE TABLE IF NOT EXISTS crl_pending (
  issuer_id  INT UNSIGNED NOT NULL,
  serial_hex VARCHAR(42) NOT NULL,
  queued_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  claimed    CHAR(32) NULL,
  PRIMARY KEY (issuer_id, serial_hex),
  KEY crl_pending_claim (issuer_id, claimed)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Partitioned CRLs (ECertCRLShards): the shard a certificate's CRL distribution point names,
-- kept so that changing the number of shards never orphans an issued certificate.
ALTER TABLE certificate
  ADD COLUMN IF NOT EXISTS crl_shard SMALLINT UNSIGNED NULL,
  ADD INDEX IF NOT EXISTS certificate_shard (issuer_id, crl_shard, not_after);

-- What a CRL lists, in the order it is read (by notAfter, then serial), straight from the index:
-- a million revoked certificates are read without touching the rows.
ALTER TABLE certificate ADD INDEX IF NOT EXISTS certificate_crl
  (issuer_id, status, not_after, serial_hex, revoked_at, revocation_reason, crl_shard);

INSERT IGNORE INTO schema_version (version, description) VALUES (3, 'CRL and ARL publishing');
