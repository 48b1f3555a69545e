-- observed_seq comes back as 0 for every row: the ordering it gave is not recoverable,
-- and the next write of each object sets it again.
ALTER TABLE job
  ADD COLUMN observed_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  DROP COLUMN version_order;
ALTER TABLE pod
  ADD COLUMN observed_seq BIGINT UNSIGNED NOT NULL DEFAULT 0,
  DROP COLUMN version_order;
