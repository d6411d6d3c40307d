-- Domain control validation (R-3; BR 3.2.2.4.4, .7, .18) and CAA (R-4; BR 3.2.2.8): the
-- validation codes, every attempt as evidence, the validations an organisation may reuse
-- (BR 4.2.1), the checks queued for the nodes' workers, and what each issuance relied on.

-- 001's placeholder was never written to.
DROP TABLE IF EXISTS dcv_attempt;

-- Website Change and DNS Change: one random value per application and method, shown to the
-- subscriber again whenever they come back (it is published, not secret). Constructed E-mail:
-- one code per message, kept only as its SHA-256 (it proves access to the mailbox).
CREATE TABLE IF NOT EXISTS dcv_code (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  application_id INT UNSIGNED NOT NULL,
  method         ENUM('website', 'dns', 'email') NOT NULL,
  code           VARCHAR(64) NULL,
  code_sha256    BINARY(32) NOT NULL,
  domain         VARCHAR(253) NULL,               -- e-mail: the domain the address is at
  email_to       VARCHAR(254) NULL,
  created_at     DATETIME NOT NULL,
  expires_at     DATETIME NOT NULL,
  tries          INT UNSIGNED NOT NULL DEFAULT 0,
  spent          BOOLEAN NOT NULL DEFAULT FALSE,  -- e-mail: used, replaced or out of tries
  UNIQUE KEY dcv_code_hash (code_sha256),
  KEY dcv_code_app (application_id, method, created_at),
  CONSTRAINT dcv_code_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every check of one name, passed or failed, with what the CA saw (BR 3.2.2.4: the evidence).
CREATE TABLE IF NOT EXISTS dcv_attempt (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  application_id INT UNSIGNED NOT NULL,
  code_id        BIGINT UNSIGNED NULL,
  name           VARCHAR(253) NOT NULL,           -- the name checked (a wildcard's base)
  method         ENUM('website', 'dns', 'email') NOT NULL,
  code_sha256    BINARY(32) NULL,
  at             DATETIME NOT NULL,
  passed         BOOLEAN NOT NULL,
  reason         VARCHAR(32) NOT NULL,            -- catalogue suffix: passed, not-found, code-absent, ...
  detail         VARCHAR(1000) NOT NULL,
  url            TEXT NULL,                       -- website: every URL fetched, in order
  email_to       VARCHAR(254) NULL,
  dns            MEDIUMTEXT NULL,                 -- DNS answers with their DNSSEC state
  method_ref     VARCHAR(40) NOT NULL,            -- the method as the BR name it: "BR 2.2.6 3.2.2.4.7"
  KEY dcv_attempt_app (application_id, name, at),
  CONSTRAINT dcv_attempt_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A completed validation: the domain whose control was shown (the Authorization Domain Name),
-- by whom (the organisation, for reuse by its later applications within BR 4.2.1's window)
-- and how. Website Change covers that name only (BR 3.2.2.4.18); the others cover the names
-- below it as well.
CREATE TABLE IF NOT EXISTS dcv_validation (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  org_key        BINARY(32) NOT NULL,
  application_id INT UNSIGNED NOT NULL,
  domain         VARCHAR(253) NOT NULL,
  method         ENUM('website', 'dns', 'email') NOT NULL,
  covers_below   BOOLEAN NOT NULL,
  method_ref     VARCHAR(40) NOT NULL,            -- BR version and section (BR 3.2.2.4 records)
  initiated_at   DATETIME NOT NULL,               -- the code's creation: BR 4.2.1 counts from here
  validated_at   DATETIME NOT NULL,
  attempt_id     BIGINT UNSIGNED NOT NULL,
  KEY dcv_validation_org (org_key, initiated_at),
  CONSTRAINT dcv_validation_attempt_fk FOREIGN KEY (attempt_id) REFERENCES dcv_attempt(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A check the subscriber asked for, run by the DCV worker of whichever node claims it first
-- (a committed single-row UPDATE: on Galera the second claimant's commit fails).
CREATE TABLE IF NOT EXISTS dcv_job (
  application_id INT UNSIGNED NOT NULL PRIMARY KEY,
  kind           ENUM('website', 'dns', 'caa') NOT NULL,
  state          ENUM('queued', 'running', 'done') NOT NULL,
  queued_at      DATETIME(6) NOT NULL,
  owner          VARCHAR(64) NULL,
  claimed_at     DATETIME(6) NULL,
  finished_at    DATETIME(6) NULL,
  KEY dcv_job_state (state, queued_at),
  CONSTRAINT dcv_job_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- CAA results: after a validation (shown to the subscriber) and just before signing (kept with
-- the certificate through issuance_evidence).
CREATE TABLE IF NOT EXISTS caa_check (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  application_id INT UNSIGNED NOT NULL,
  name           VARCHAR(255) NOT NULL,           -- as in the certificate ("*." kept)
  at             DATETIME NOT NULL,
  verdict        ENUM('permit', 'forbid', 'failed') NOT NULL,
  reason         VARCHAR(32) NOT NULL,
  detail         VARCHAR(1000) NULL,
  relevant_at    VARCHAR(253) NULL,
  dns            MEDIUMTEXT NOT NULL,
  KEY caa_check_app (application_id, name, at),
  CONSTRAINT caa_check_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Validation mails sent per application: the hourly limit's counter. Sending increments it in
-- the sending transaction, a real write, so on Galera two nodes' sends conflict at commit.
ALTER TABLE application ADD COLUMN IF NOT EXISTS dcv_mails INT UNSIGNED NOT NULL DEFAULT 0;

-- What an issuance relied on: one row per name and kind.
CREATE TABLE IF NOT EXISTS issuance_evidence (
  issuer_id      INT UNSIGNED NOT NULL,
  serial_hex     VARCHAR(42) NOT NULL,
  name           VARCHAR(255) NOT NULL,
  kind           ENUM('dcv', 'caa') NOT NULL,
  ref_id         BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (issuer_id, serial_hex, kind, name),
  CONSTRAINT issuance_evidence_cert_fk FOREIGN KEY (issuer_id, serial_hex)
    REFERENCES certificate(issuer_id, serial_hex)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (5, 'domain validation and CAA');
