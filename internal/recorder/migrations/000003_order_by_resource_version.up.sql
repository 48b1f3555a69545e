-- Rows are ordered by the resourceVersion of the object they were read from, compared
-- as Kubernetes allows (KEP-5504: well-formed resourceVersions of one resource compare
-- as integers). version keeps the string; version_order holds it as a number, 0 when
-- it is not a well-formed resourceVersion, so that any well-formed one replaces it.
-- observed_seq, the per-process counter that ordered rows before, is dropped: its
-- values do not compare between two processes. Every row is kept.
ALTER TABLE job
  ADD COLUMN version_order DECIMAL(65,0) NOT NULL DEFAULT 0 AFTER version,
  DROP COLUMN observed_seq;
UPDATE job SET version_order = CAST(version AS DECIMAL(65,0))
  WHERE version REGEXP '^[1-9][0-9]{0,64}$';
ALTER TABLE pod
  ADD COLUMN version_order DECIMAL(65,0) NOT NULL DEFAULT 0 AFTER version,
  DROP COLUMN observed_seq;
UPDATE pod SET version_order = CAST(version AS DECIMAL(65,0))
  WHERE version REGEXP '^[1-9][0-9]{0,64}$';
