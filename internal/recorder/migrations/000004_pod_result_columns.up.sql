-- Each target's result gets columns of its own: the name the job's deciding container
-- has in the pod (the template's name, or the name derived from it when that was taken),
-- its exit code, reason and termination message, and its output when the recorder is
-- asked to fetch it (NULL until fetched). Existing rows keep remark and take the values
-- it holds; a row whose remark names no container takes replica_type, the name the
-- recorder wrote there before. A message is cut to 4096 characters, as the recorder
-- bounds new ones (a kubelet writes at most 4096 bytes). JSON_EXTRACT, JSON_UNQUOTE and
-- JSON_VALID exist in MySQL 5.7+ and MariaDB 10.2+.
ALTER TABLE pod
  ADD COLUMN container_name VARCHAR(63)  NOT NULL DEFAULT '' AFTER replica_type,
  ADD COLUMN exit_code      INT          NULL AFTER container_name,
  ADD COLUMN reason         VARCHAR(128) NOT NULL DEFAULT '' AFTER exit_code,
  ADD COLUMN message        TEXT         NULL AFTER reason,
  ADD COLUMN output         MEDIUMTEXT   NULL AFTER message;
UPDATE pod SET container_name = LEFT(replica_type, 63);
UPDATE pod SET
  container_name = LEFT(COALESCE(JSON_UNQUOTE(JSON_EXTRACT(remark, '$.container')), container_name), 63),
  exit_code = CASE WHEN JSON_UNQUOTE(JSON_EXTRACT(remark, '$.exitCode')) REGEXP '^-?[0-9]{1,9}$'
    THEN CAST(JSON_UNQUOTE(JSON_EXTRACT(remark, '$.exitCode')) AS SIGNED) END,
  reason = LEFT(COALESCE(JSON_UNQUOTE(JSON_EXTRACT(remark, '$.reason')), ''), 128),
  message = LEFT(JSON_UNQUOTE(JSON_EXTRACT(remark, '$.message')), 4096)
  WHERE remark IS NOT NULL AND remark <> '' AND JSON_VALID(remark);
