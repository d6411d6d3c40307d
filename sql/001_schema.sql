-- e-Cert CA services: the whole store, version 1.
-- Every later change is a new file sql/NNN_*.sql that ends by recording its version;
-- scripts/stack.py (and an operator, with the mariadb client) applies the files above
-- the highest recorded version, in order.
-- Binary values (DER, hashes) are VARBINARY/BLOB; the code passes them as hex through
-- UNHEX()/HEX() so every statement stays a plain prepared statement with text parameters.

CREATE TABLE IF NOT EXISTS schema_version (
  version     INT UNSIGNED NOT NULL PRIMARY KEY,
  applied_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  description VARCHAR(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The CA hierarchy made by the key ceremony (CPS App. H): roots, Sub CAs, OCSP responders,
-- cross certificates. Private keys stay in the HSM; key_uri names them (RFC 7512).
CREATE TABLE IF NOT EXISTS ca (
  id            INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  role          ENUM('root','ssl','ev','ocsp','cross') NOT NULL,
  name          VARCHAR(200) NOT NULL,           -- CN
  parent_id     INT UNSIGNED NULL,               -- issuer (NULL for a self-signed root)
  serial_hex    VARCHAR(64) NOT NULL,
  spki_sha256   BINARY(32) NOT NULL,
  key_sha1      BINARY(20) NOT NULL,             -- SHA-1 of the subjectPublicKey BIT STRING (OCSP byKey)
  name_sha1     BINARY(20) NOT NULL,             -- SHA-1 of the DER subject (OCSP issuerNameHash)
  key_uri       VARCHAR(500) NULL,
  cert_der      BLOB NOT NULL,
  not_before    DATETIME NOT NULL,
  not_after     DATETIME NOT NULL,
  status        ENUM('active','revoked') NOT NULL DEFAULT 'active',
  revoked_at    DATETIME NULL,
  revocation_reason TINYINT UNSIGNED NULL,
  created_at    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY ca_name_role (name, role),
  KEY ca_key (key_sha1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Approved applications (CPS 3.2, 4.1, 4.2) and their PIN envelopes.
CREATE TABLE IF NOT EXISTS application (
  id                 INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  subscriber_ref     CHAR(10) NOT NULL,           -- subscriber reference number
  envelope_ref       CHAR(9) NOT NULL,            -- PIN envelope reference number
  pin_hash           VARCHAR(200) NOT NULL,       -- scrypt, salted; the PIN itself is never stored
  server_name        VARCHAR(253) NOT NULL,       -- CN as applied for (U-label or A-label)
  cert_type          ENUM('standard','wildcard','multi-domain','ev') NOT NULL,
  org_name_en        VARCHAR(200) NULL,
  org_name_zh        VARCHAR(200) NULL,
  branch_name_en     VARCHAR(200) NULL,
  branch_name_zh     VARCHAR(200) NULL,
  br_no              VARCHAR(16) NULL,
  ci_cr_no           VARCHAR(8) NULL,
  other_reg_doc      VARCHAR(30) NULL,
  period_years       TINYINT UNSIGNED NOT NULL DEFAULT 1,
  government         BOOLEAN NOT NULL DEFAULT FALSE,
  email              VARCHAR(254) NOT NULL,
  ev_street          VARCHAR(200) NULL,
  ev_reg_no          VARCHAR(64) NULL,
  ev_business_category VARCHAR(64) NULL,
  ev_jurisdiction_c  CHAR(2) NULL,
  status             ENUM('approved','confirmed','issued','accepted','rejected','cancelled') NOT NULL DEFAULT 'approved',
  confirm_chinese    BOOLEAN NOT NULL DEFAULT FALSE,
  failed_logins      INT UNSIGNED NOT NULL DEFAULT 0,
  locked             BOOLEAN NOT NULL DEFAULT FALSE,
  renewal_of         INT UNSIGNED NULL,           -- previous application on renewal (CPS 4.6.3)
  created_at         DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at         DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY application_envelope (envelope_ref),
  UNIQUE KEY application_subscriber (subscriber_ref),
  KEY application_server (server_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Additional server names of a multi-domain application (0..49), in the applied order.
CREATE TABLE IF NOT EXISTS application_name (
  application_id INT UNSIGNED NOT NULL,
  position       TINYINT UNSIGNED NOT NULL,
  name           VARCHAR(253) NOT NULL,
  PRIMARY KEY (application_id, position),
  CONSTRAINT application_name_app FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Subscriber web sessions: in the database so any httpd node serves the next step.
CREATE TABLE IF NOT EXISTS session (
  id_sha256      BINARY(32) NOT NULL PRIMARY KEY, -- hash of the cookie value, never the value
  application_id INT UNSIGNED NULL,
  csrf_token     CHAR(64) NOT NULL,
  client_addr    VARCHAR(64) NOT NULL,
  lang           CHAR(2) NOT NULL DEFAULT 'en',
  created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_seen      DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY session_app (application_id),
  KEY session_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Login attempts per client address, for the rate limit (R-1).
CREATE TABLE IF NOT EXISTS login_attempt (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  client_addr VARCHAR(64) NOT NULL,
  at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  success     BOOLEAN NOT NULL,
  KEY login_attempt_addr (client_addr, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Domain control validation (R-3): one row per name and method attempt.
CREATE TABLE IF NOT EXISTS dcv_attempt (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  application_id INT UNSIGNED NOT NULL,
  domain         VARCHAR(253) NOT NULL,          -- A-label; wildcard: the base domain
  method         ENUM('http','dns','email') NOT NULL,
  email_to       VARCHAR(254) NULL,
  code_sha256    BINARY(32) NOT NULL,
  code           VARCHAR(64) NOT NULL,           -- shown to the subscriber; unique per request
  created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at     DATETIME NOT NULL,
  status         ENUM('pending','passed','failed','expired') NOT NULL DEFAULT 'pending',
  checked_at     DATETIME NULL,
  detail         VARCHAR(1000) NULL,
  UNIQUE KEY dcv_code (code_sha256),
  KEY dcv_app (application_id, domain),
  CONSTRAINT dcv_app_fk FOREIGN KEY (application_id) REFERENCES application(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Issued certificates (R-6) and their status (R-9, R-13).
CREATE TABLE IF NOT EXISTS certificate (
  serial_hex        VARCHAR(42) NOT NULL,         -- lower-case hex of the positive INTEGER
  issuer_id         INT UNSIGNED NOT NULL,
  application_id    INT UNSIGNED NULL,
  server_name       VARCHAR(253) NOT NULL,        -- A-label CN
  spki_sha256       BINARY(32) NOT NULL,
  cert_der          BLOB NOT NULL,
  not_before        DATETIME NOT NULL,
  not_after         DATETIME NOT NULL,
  status            ENUM('issued','accepted','revoked') NOT NULL DEFAULT 'issued',
  revoked_at        DATETIME NULL,
  revocation_reason TINYINT UNSIGNED NULL,        -- NULL: unspecified (no reasonCode)
  status_changed    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  created_at        DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (issuer_id, serial_hex),
  KEY certificate_app (application_id),
  KEY certificate_spki (spki_sha256),
  KEY certificate_name (server_name),
  KEY certificate_status (issuer_id, status, not_after),
  CONSTRAINT certificate_issuer FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Names in each certificate's SAN, for the public search page.
CREATE TABLE IF NOT EXISTS certificate_name (
  issuer_id  INT UNSIGNED NOT NULL,
  serial_hex VARCHAR(42) NOT NULL,
  name       VARCHAR(253) NOT NULL,
  PRIMARY KEY (issuer_id, serial_hex, name),
  KEY certificate_name_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- CRLs and ARLs (R-12): every one kept (CPS 4.9.5: at least 7 years).
CREATE TABLE IF NOT EXISTS crl (
  issuer_id   INT UNSIGNED NOT NULL,
  crl_number  BIGINT UNSIGNED NOT NULL,
  this_update DATETIME NOT NULL,
  next_update DATETIME NOT NULL,
  crl_der     LONGBLOB NOT NULL,
  created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (issuer_id, crl_number),
  CONSTRAINT crl_issuer FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Pre-signed OCSP responses (R-13), one per certificate and CertID hash algorithm.
-- status_changed copies certificate.status_changed at signing time: a response older
-- than the certificate's last status change is never served.
CREATE TABLE IF NOT EXISTS ocsp_response (
  issuer_id      INT UNSIGNED NOT NULL,
  serial_hex     VARCHAR(42) NOT NULL,
  hash_alg       ENUM('sha1','sha256') NOT NULL,
  this_update    DATETIME NOT NULL,
  next_update    DATETIME NOT NULL,
  status_changed DATETIME(6) NOT NULL,
  response_der   BLOB NOT NULL,
  PRIMARY KEY (issuer_id, serial_hex, hash_alg),
  KEY ocsp_refresh (this_update)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Work queue: certificates whose OCSP responses must be (re-)signed now.
CREATE TABLE IF NOT EXISTS ocsp_pending (
  issuer_id  INT UNSIGNED NOT NULL,
  serial_hex VARCHAR(42) NOT NULL,
  queued_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (issuer_id, serial_hex)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Keys proven compromised or weak: refused in every future CSR (R-10).
CREATE TABLE IF NOT EXISTS blocked_key (
  spki_sha256 BINARY(32) NOT NULL PRIMARY KEY,
  reason      VARCHAR(200) NOT NULL,
  blocked_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Certificate problem reports (R-11) and key-compromise reports (R-10).
CREATE TABLE IF NOT EXISTS problem_report (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind        ENUM('problem','key-compromise') NOT NULL,
  contact     VARCHAR(254) NOT NULL,
  serial_hex  VARCHAR(42) NULL,
  spki_sha256 BINARY(32) NULL,
  body        TEXT NOT NULL,
  client_addr VARCHAR(64) NOT NULL,
  created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  handled     BOOLEAN NOT NULL DEFAULT FALSE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Append-only, hash-chained audit log (R-14, CPS 5.4.1).
-- hash = SHA-256(prev_hash || seq || at || actor || event || detail); audit_head holds the
-- tail and is locked FOR UPDATE by each writer, so the chain is linear across nodes.
CREATE TABLE IF NOT EXISTS audit_event (
  seq        BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  at         DATETIME(6) NOT NULL,
  actor      VARCHAR(200) NOT NULL,
  event      VARCHAR(64) NOT NULL,
  detail     TEXT NOT NULL,
  prev_hash  BINARY(32) NOT NULL,
  hash       BINARY(32) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS audit_head (
  id   TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  seq  BIGINT UNSIGNED NOT NULL,
  hash BINARY(32) NOT NULL
) ENGINE=InnoDB;
INSERT IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, REPEAT(CHAR(0), 32));

-- The audit log is append-only for the application account.
CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_event is append-only';
CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_event is append-only';

INSERT IGNORE INTO schema_version (version, description) VALUES (1, 'initial schema');
