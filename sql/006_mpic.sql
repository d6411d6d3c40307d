-- Multi-perspective issuance corroboration (R-16; BR 3.2.2.9): every corroboration asked of
-- the remote perspectives, with each perspective's answer kept as evidence, and the DCV
-- attempts and CAA checks that relied on one.

CREATE TABLE IF NOT EXISTS mpic_check (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  application_id INT UNSIGNED NOT NULL,
  purpose        ENUM('dcv', 'caa') NOT NULL,
  name           VARCHAR(255) NOT NULL,
  method         VARCHAR(64) NULL,                -- DCV method, or the CAA validationmethods label
  at             DATETIME NOT NULL,
  required       TINYINT UNSIGNED NOT NULL,       -- remote perspectives the BR required then
  remote         TINYINT UNSIGNED NOT NULL,       -- asked
  corroborating  TINYINT UNSIGNED NOT NULL,
  allowed        TINYINT UNSIGNED NOT NULL,       -- non-corroborations the quorum allowed
  outcome        ENUM('corroborated', 'not-corroborated', 'skipped') NOT NULL,
  detail         VARCHAR(1000) NOT NULL,
  KEY mpic_check_app (application_id, at),
  CONSTRAINT mpic_check_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mpic_answer (
  check_id       BIGINT UNSIGNED NOT NULL,
  perspective    VARCHAR(32) NOT NULL,
  rir            VARCHAR(8) NOT NULL,
  outcome        VARCHAR(16) NOT NULL,            -- corroborates, differs, timeout, unreachable, tls, http, forged, malformed
  result         VARCHAR(8) NULL,                 -- what it answered: pass, fail, permit, forbid, failed
  reason         VARCHAR(32) NULL,
  detail         VARCHAR(1000) NULL,              -- its sentence, or why there was no answer
  evidence       MEDIUMTEXT NULL,                 -- what it fetched and looked up
  ms             INT UNSIGNED NOT NULL,
  PRIMARY KEY (check_id, perspective),
  CONSTRAINT mpic_answer_check_fk FOREIGN KEY (check_id) REFERENCES mpic_check(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE dcv_attempt ADD COLUMN IF NOT EXISTS mpic_check_id BIGINT UNSIGNED NULL;
ALTER TABLE caa_check ADD COLUMN IF NOT EXISTS mpic_check_id BIGINT UNSIGNED NULL;

INSERT IGNORE INTO schema_version (version, description) VALUES (6, 'multi-perspective corroboration');
