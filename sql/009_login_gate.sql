-- Login attempts from one client address are decided one at a time (issue 13): every attempt
-- changes its address's gate row first, so concurrent attempts queue behind one another on
-- one node and conflict at commit across Galera nodes; the failure count each one reads is
-- then the count of all the attempts before it. limited_at: when the address was last told
-- it is rate-limited, so that the audit log records that once per window, not per attempt.
-- seen_at: the last attempt; a row older than the window holds nothing and is purged.
CREATE TABLE IF NOT EXISTS login_gate (
  client_addr VARCHAR(64) NOT NULL PRIMARY KEY,
  turns       BIGINT UNSIGNED NOT NULL DEFAULT 0,
  limited_at  DATETIME(3) NULL,
  seen_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY login_gate_seen (seen_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (9, 'login: per-address gate');
