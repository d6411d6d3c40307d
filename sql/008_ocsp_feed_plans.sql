-- The replica's feeds are read several times a second on every node: each must be a short
-- range read along its own index, however large the tables grow. With six rows in ca, the
-- optimizer preferred to start from ca and read every answer of an issuer, and to join a
-- Sub CA's row with a block-nested loop that forced a sort of the whole batch; the statements
-- now name their order and indexes, and this index gives the Sub CA join a key.
ALTER TABLE ca ADD INDEX IF NOT EXISTS ca_parent_serial (parent_id, serial_hex);
-- Superseded by ocsp_refresh_take (issuer_id, this_update); one index less to keep up on
-- every re-signed answer.
ALTER TABLE ocsp_response DROP INDEX IF EXISTS ocsp_refresh;

INSERT IGNORE INTO schema_version (version, description) VALUES (8, 'OCSP: feed plans');
