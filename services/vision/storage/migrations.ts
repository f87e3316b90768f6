import { enableTenantIsolation, type Migration } from "../../runtime/db/index.js";

/** Schema `vision` (data-model.md): face images and their embeddings, under tenant isolation. */
export const VISION_MIGRATIONS: readonly Migration[] = [
  {
    name: "0001_faces",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE vision.face_images (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid,
          image_type text NOT NULL CHECK (image_type IN ('KNOWN', 'UNKNOWN')),
          file_path text NOT NULL,
          sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
          width integer NOT NULL,
          height integer NOT NULL,
          quality jsonb NOT NULL DEFAULT '{}',
          captured_at timestamptz,
          device_id uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          CHECK ((image_type = 'KNOWN') = (user_id IS NOT NULL))
        );
        CREATE INDEX face_images_user ON vision.face_images (organization_id, user_id, created_at) WHERE image_type = 'KNOWN';
        -- The same photo twice for one user is a DUPLICATE rejection, even when two enrolments race.
        CREATE UNIQUE INDEX face_images_user_sha256 ON vision.face_images (organization_id, user_id, sha256) WHERE image_type = 'KNOWN';
        CREATE INDEX face_images_unknown ON vision.face_images (organization_id, created_at) WHERE image_type = 'UNKNOWN';

        -- Labels are never reused, so a persisted index is out of date exactly when its
        -- (count, sum of labels) differs from this table's.
        CREATE SEQUENCE vision.index_labels AS bigint START 1;
        CREATE TABLE vision.face_embeddings (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL,
          image_id uuid NOT NULL REFERENCES vision.face_images (id) ON DELETE CASCADE,
          index_label bigint NOT NULL UNIQUE DEFAULT nextval('vision.index_labels'),
          vector bytea NOT NULL,
          model text NOT NULL,
          model_sha256 text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX face_embeddings_user ON vision.face_embeddings (organization_id, user_id);
        CREATE INDEX face_embeddings_image ON vision.face_embeddings (image_id);
      `);
      await enableTenantIsolation(ctx, "vision.face_images");
      await enableTenantIsolation(ctx, "vision.face_embeddings");
    },
  },
  {
    name: "0002_face_label",
    async up(ctx) {
      // The person's stable label from identity (user_profiles.face_label), carried with every
      // embedding so that a match names it without asking identity on the hot path.
      await ctx.sql(`ALTER TABLE vision.face_embeddings ADD COLUMN face_label bigint`);
    },
  },
];
