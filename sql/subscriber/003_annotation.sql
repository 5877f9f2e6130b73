-- Annotations live only on the subscriber and point at a replicated datum by its UUID.
CREATE TABLE annotation (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The foreign key is the last line of defence; the service checks first to answer NOT_FOUND.
  data_id uuid NOT NULL REFERENCES data (id),
  body jsonb NOT NULL,
  author text NOT NULL REFERENCES app_user (username) ON UPDATE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One index scan answers "annotations of these data ids" for a whole page.
CREATE INDEX annotation_data_id_idx ON annotation (data_id, created_at);
