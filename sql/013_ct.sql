-- Certificate Transparency (CPS 4.3.1, RFC 6962): the precertificate each certificate was
-- logged as, and the SCTs the certificate carries, one row per log. A precertificate whose
-- certificate was never produced (too few SCTs) is a certificate row of its own with no
-- application, revoked at once: root programs presume the matching certificate exists.
CREATE TABLE IF NOT EXISTS certificate_ct (
  issuer_id      INT UNSIGNED NOT NULL,
  serial_hex     VARCHAR(42) NOT NULL,
  application_id INT UNSIGNED NULL,
  precert_der    BLOB NOT NULL,
  final          BOOLEAN NOT NULL,              -- FALSE: the certificate was never produced
  created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (issuer_id, serial_hex),
  KEY certificate_ct_app (application_id),
  CONSTRAINT certificate_ct_issuer FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS certificate_sct (
  issuer_id      INT UNSIGNED NOT NULL,
  serial_hex     VARCHAR(42) NOT NULL,
  log_id         BINARY(32) NOT NULL,
  log_name       VARCHAR(100) NOT NULL,
  sct_time       DATETIME(3) NOT NULL,
  sct            VARBINARY(1024) NOT NULL,      -- the SCT as the certificate carries it
  PRIMARY KEY (issuer_id, serial_hex, log_id),
  CONSTRAINT certificate_sct_issuer FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (13, 'certificate transparency');
