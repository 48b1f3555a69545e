-- The job table: one row per EphemeralJob, keyed by its UID (job_id).
-- Columns follow KubeDL's Job Table; name, version and resources are wider,
-- and match_count, succeeded, failed, running, waiting and observed_seq are
-- additions: the job's counts and the recorder's ordering of observations.
CREATE TABLE IF NOT EXISTS job (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name          VARCHAR(253) NOT NULL,
  namespace     VARCHAR(128) NOT NULL,
  job_id        VARCHAR(64)  NOT NULL,
  version       VARCHAR(64)  NOT NULL DEFAULT '',
  status        VARCHAR(32)  NOT NULL DEFAULT '',
  kind          VARCHAR(32)  NOT NULL DEFAULT '',
  resources     MEDIUMTEXT   NULL,
  deploy_region VARCHAR(64)  NOT NULL DEFAULT '',
  tenant        VARCHAR(255) NOT NULL DEFAULT '',
  owner         VARCHAR(255) NOT NULL DEFAULT '',
  is_in_etcd    TINYINT(4)   NOT NULL DEFAULT 1,
  match_count   INT          NOT NULL DEFAULT 0,
  succeeded     INT          NOT NULL DEFAULT 0,
  failed        INT          NOT NULL DEFAULT 0,
  running       INT          NOT NULL DEFAULT 0,
  waiting       INT          NOT NULL DEFAULT 0,
  gmt_created   DATETIME(3)  NULL,
  gmt_modified  DATETIME(3)  NULL,
  gmt_finished  DATETIME(3)  NULL,
  observed_seq  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY uk_job_job_id (job_id),
  KEY idx_job_namespace_name (namespace, name),
  KEY idx_job_status (status),
  KEY idx_job_is_in_etcd (is_in_etcd),
  KEY idx_job_gmt_created (gmt_created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
