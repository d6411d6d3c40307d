-- Every signature of the issuing CAs accounted for (CPS 5.4): a record of the to-be-signed
-- certificate committed before the HSM signs it. The certificate's own transaction marks it
-- finished; a crash between the signature and that commit leaves it 'signing', and the operator
-- resolves it (ecertctl audit unfinished): revoked, since the certificate was never delivered.
-- 'failed': C_Sign returned no valid signature, so nothing exists to account for.
-- The primary key is the certificate's: a serial the HSM may have signed is never drawn again.
CREATE TABLE IF NOT EXISTS signing_record (
  issuer_id      INT UNSIGNED NOT NULL,
  serial_hex     VARCHAR(42) NOT NULL,
  application_id INT UNSIGNED NULL,
  server_name    VARCHAR(253) NOT NULL,
  spki_sha256    BINARY(32) NOT NULL,
  tbs_sha256     BINARY(32) NOT NULL,
  tbs_der        BLOB NOT NULL,                  -- the TBSCertificate exactly as sent to C_Sign
  not_before     DATETIME NOT NULL,
  not_after      DATETIME NOT NULL,
  crl_shard      SMALLINT UNSIGNED NULL,         -- the CRL its distribution point names
  state          ENUM('signing', 'finished', 'failed', 'revoked') NOT NULL DEFAULT 'signing',
  created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  resolved_at    DATETIME(6) NULL,
  PRIMARY KEY (issuer_id, serial_hex),
  KEY signing_record_open (state, created_at),
  KEY signing_record_app (application_id),
  CONSTRAINT signing_record_issuer FOREIGN KEY (issuer_id) REFERENCES ca(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (11, 'signing records before C_Sign');
