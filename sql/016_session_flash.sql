-- Post/redirect/get for the subscriber's errors (core/ec_flash.h): a POST that fails keeps its
-- message and what the subscriber typed (a pasted CSR, a reason) with the session, and the page
-- it redirects to shows them, in whatever language, however often it is reloaded, until the
-- subscriber leaves that page. Never a secret: a pasted private key is not kept.
ALTER TABLE session
  ADD COLUMN IF NOT EXISTS flash_page VARCHAR(32) NULL,
  ADD COLUMN IF NOT EXISTS flash      MEDIUMTEXT NULL;

INSERT IGNORE INTO schema_version (version, description) VALUES (16, 'session: the message a redirect carries');
