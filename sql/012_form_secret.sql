-- The key of the anonymous forms' CSRF tokens (core/ec_csrf.c). The nodes behind the load
-- balancer share only the database, so the key lives here: the first node to need it inserts
-- 32 random octets (INSERT IGNORE: a concurrent first insert of another node wins and both
-- read the row that stayed), every node reads the same row and keeps it in memory. Deleting
-- the row rotates the key once every httpd has restarted.
CREATE TABLE IF NOT EXISTS form_secret (
  name       VARCHAR(32) NOT NULL PRIMARY KEY,
  secret     BINARY(32) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO schema_version (version, description) VALUES (12, 'anonymous forms: CSRF key');
