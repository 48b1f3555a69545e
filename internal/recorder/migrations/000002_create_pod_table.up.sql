-- The pod table: one row per (job, pod) pair, keyed by (job_id, pod_id); a pod
-- holding containers of two jobs has two rows. Columns follow KubeDL's Pod
-- Table; name, version, image, replica_type, resources and remark are wider,
-- and observed_seq is an addition: the recorder's ordering of observations.
CREATE TABLE IF NOT EXISTS pod (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name          VARCHAR(253) NOT NULL,
  namespace     VARCHAR(128) NOT NULL,
  pod_id        VARCHAR(64)  NOT NULL,
  version       VARCHAR(64)  NOT NULL DEFAULT '',
  status        VARCHAR(32)  NOT NULL DEFAULT '',
  image         VARCHAR(512) NOT NULL DEFAULT '',
  job_id        VARCHAR(64)  NOT NULL,
  replica_type  VARCHAR(128) NOT NULL DEFAULT '',
  resources     TEXT         NULL,
  host_ip       VARCHAR(64)  NOT NULL DEFAULT '',
  pod_ip        VARCHAR(64)  NOT NULL DEFAULT '',
  deploy_region VARCHAR(64)  NOT NULL DEFAULT '',
  is_in_etcd    TINYINT(4)   NOT NULL DEFAULT 1,
  remark        MEDIUMTEXT   NULL,
  gmt_created   DATETIME(3)  NULL,
  gmt_modified  DATETIME(3)  NULL,
  gmt_started   DATETIME(3)  NULL,
  gmt_finished  DATETIME(3)  NULL,
  observed_seq  BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY uk_pod_job_id_pod_id (job_id, pod_id),
  KEY idx_pod_pod_id (pod_id),
  KEY idx_pod_namespace_name (namespace, name),
  KEY idx_pod_status (status),
  KEY idx_pod_is_in_etcd (is_in_etcd)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
