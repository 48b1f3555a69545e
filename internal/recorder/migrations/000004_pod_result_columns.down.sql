-- remark still holds the container, reason, exit code and message of every row; the
-- fetched outputs are dropped with their column.
ALTER TABLE pod
  DROP COLUMN container_name,
  DROP COLUMN exit_code,
  DROP COLUMN reason,
  DROP COLUMN message,
  DROP COLUMN output;
