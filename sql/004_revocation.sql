-- Revocation by subscribers (R-9), key-compromise reports (R-10), certificate problem reports
-- (R-11) and the CA's e-mail (R-19).

-- A session that logged in on the revocation page (CPS 3.4) serves only those pages; one of the
-- subscriber flow serves only the flow.
ALTER TABLE session
  ADD COLUMN IF NOT EXISTS purpose ENUM('flow', 'revoke') NOT NULL DEFAULT 'flow';

-- Problem and key-compromise reports: a public report number, what was reported, and the CA's
-- handling against BR 4.9.5's 24 hours.
ALTER TABLE problem_report
  ADD COLUMN IF NOT EXISTS report_no   CHAR(12) NULL AFTER id,
  ADD COLUMN IF NOT EXISTS category    ENUM('key-compromise', 'misissuance', 'fraud', 'other') NOT NULL
                                       DEFAULT 'other' AFTER kind,
  ADD COLUMN IF NOT EXISTS server_name VARCHAR(253) NULL AFTER serial_hex,
  ADD COLUMN IF NOT EXISTS lang        CHAR(2) NOT NULL DEFAULT 'en',
  ADD COLUMN IF NOT EXISTS revoked     INT UNSIGNED NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS closed_at   DATETIME NULL,
  ADD COLUMN IF NOT EXISTS closed_by   VARCHAR(200) NULL,
  ADD COLUMN IF NOT EXISTS close_note  VARCHAR(2000) NULL,
  ADD UNIQUE INDEX IF NOT EXISTS problem_report_no (report_no),
  ADD INDEX IF NOT EXISTS problem_report_open (handled, created_at);

-- Submissions of the public forms per client address, for their rate limits.
CREATE TABLE IF NOT EXISTS form_attempt (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  form        VARCHAR(20) NOT NULL,
  client_addr VARCHAR(64) NOT NULL,
  at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY form_attempt_addr (form, client_addr, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Outgoing e-mail: queued in the transaction of the event that causes it, sent by a worker on
-- one node at a time per message (a claim is a single-row UPDATE that commits at once, so on
-- Galera two nodes cannot both send it), retried with backoff while the relay is away.
-- message is the whole RFC 5322 text, Date and Message-ID included, so a retry sends the very
-- same message.
CREATE TABLE IF NOT EXISTS mail_queue (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind          VARCHAR(32) NOT NULL,
  mail_from     VARCHAR(254) NOT NULL,
  rcpt_to       VARCHAR(254) NOT NULL,
  message_id    VARCHAR(200) NOT NULL,
  message       MEDIUMTEXT NOT NULL,
  created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  attempts      INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  last_error    VARCHAR(500) NULL,
  claimed_by    VARCHAR(120) NULL,
  claimed_until DATETIME(6) NULL,
  sent_at       DATETIME(6) NULL,
  KEY mail_due (sent_at, next_attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A request for /crl/<name> finds the newest CRL of that name without a scan.
ALTER TABLE crl ADD INDEX IF NOT EXISTS crl_by_file (file, crl_number);

INSERT IGNORE INTO schema_version (version, description) VALUES (4, 'revocation pages, reports, e-mail');
