-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "created_by" TEXT,
ADD COLUMN     "expires_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "intents" ADD COLUMN     "policy_decision" JSONB;

-- AlterTable
ALTER TABLE "organizations" ADD COLUMN     "receive_policy" TEXT NOT NULL DEFAULT 'closed',
ADD COLUMN     "status" TEXT NOT NULL DEFAULT 'active',
ADD COLUMN     "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- AlterTable
ALTER TABLE "service_accounts" ADD COLUMN     "created_by" TEXT,
ADD COLUMN     "description" TEXT,
ADD COLUMN     "heartbeat_metrics" JSONB,
ADD COLUMN     "killed_at" TIMESTAMPTZ(3),
ADD COLUMN     "last_heartbeat_at" TIMESTAMPTZ(3),
ADD COLUMN     "rate_limit_per_minute" INTEGER,
ADD COLUMN     "receive_override" TEXT NOT NULL DEFAULT 'use_org_default',
ADD COLUMN     "require_signature" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "role" TEXT NOT NULL DEFAULT 'member',
ADD COLUMN     "send_policy" TEXT NOT NULL DEFAULT 'open',
ADD COLUMN     "signing_key_id" TEXT,
ADD COLUMN     "signing_public_key" TEXT;

-- CreateTable
CREATE TABLE "org_members" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "display_name" TEXT,
    "role" TEXT NOT NULL DEFAULT 'member',
    "address" TEXT,
    "status" TEXT NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "org_members_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "policy_entries" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "pattern" TEXT NOT NULL,
    "decision" TEXT NOT NULL DEFAULT 'allow',
    "approver" TEXT,
    "position" SERIAL NOT NULL,
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "policy_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mesh_events" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',
    "actor_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mesh_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "quotas" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "dimension" TEXT NOT NULL,
    "limit" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "quotas_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "org_members_org_id_email_key" ON "org_members"("org_id", "email");

-- CreateIndex
CREATE INDEX "policy_entries_org_id_kind_owner_position_idx" ON "policy_entries"("org_id", "kind", "owner", "position");

-- CreateIndex
CREATE UNIQUE INDEX "policy_entries_kind_owner_pattern_key" ON "policy_entries"("kind", "owner", "pattern");

-- CreateIndex
CREATE INDEX "mesh_events_org_id_created_at_idx" ON "mesh_events"("org_id", "created_at");

-- CreateIndex
CREATE INDEX "mesh_events_org_id_address_created_at_idx" ON "mesh_events"("org_id", "address", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "quotas_org_id_subject_dimension_key" ON "quotas"("org_id", "subject", "dimension");

-- CreateIndex
CREATE INDEX "audit_events_org_id_actor_id_at_idx" ON "audit_events"("org_id", "actor_id", "at");

-- CreateIndex
CREATE INDEX "audit_events_org_id_target_id_idx" ON "audit_events"("org_id", "target_id");

-- CreateIndex
CREATE INDEX "audit_events_request_id_idx" ON "audit_events"("request_id");

-- CreateIndex
CREATE UNIQUE INDEX "service_accounts_signing_key_id_key" ON "service_accounts"("signing_key_id");

-- CreateIndex
CREATE INDEX "workspaces_org_id_idx" ON "workspaces"("org_id");

-- AddForeignKey
ALTER TABLE "org_members" ADD CONSTRAINT "org_members_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
