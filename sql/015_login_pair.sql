-- Failed logins per normalised (server name, reference number) pair that is not an envelope:
-- such a pair shows the same attempts left and the same lock as an envelope, so the login page
-- does not tell whether an envelope exists. An envelope's own count stays in
-- application.failed_logins / locked (ecertctl application unlock). turns: every
-- attempt changes the row, so concurrent attempts on the pair queue on one node and
-- conflict at commit across Galera nodes. Rows are kept like an envelope's lock is: only an
-- address's rate limit (login_gate) bounds how fast they are made.
CREATE TABLE IF NOT EXISTS login_pair (
  server_name VARCHAR(253) CHARACTER SET ascii NOT NULL,
  reference   CHAR(9) CHARACTER SET ascii NOT NULL,
  failures    INT UNSIGNED NOT NULL DEFAULT 0,
  turns       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  seen_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (server_name, reference)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (15, 'login: failures per server name and reference pair');
