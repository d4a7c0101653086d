-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "organizations" (
    "id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "workspaces" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workspaces_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_accounts" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "display_name" TEXT,
    "delivery_mode" TEXT NOT NULL DEFAULT 'stream',
    "callback_url" TEXT,
    "platform_admin" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "service_accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "service_account_id" UUID NOT NULL,
    "name" TEXT NOT NULL DEFAULT 'default',
    "secret_hash" TEXT NOT NULL,
    "hint" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "intents" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "intent_type" TEXT NOT NULL,
    "correlation_id" UUID NOT NULL,
    "from_agent" TEXT NOT NULL,
    "to_agent" TEXT NOT NULL,
    "reply_to" TEXT,
    "status" TEXT NOT NULL,
    "waiting_reason" TEXT,
    "handler" TEXT,
    "pending_with" JSONB,
    "payload" JSONB NOT NULL,
    "human_task" JSONB,
    "result" JSONB,
    "error" JSONB,
    "deadline_at" TIMESTAMPTZ(3),
    "remind_after_seconds" INTEGER,
    "remind_interval_seconds" INTEGER,
    "max_reminders" INTEGER,
    "escalate_to" TEXT,
    "max_delivery_attempts" INTEGER NOT NULL DEFAULT 3,
    "delivery_attempt" INTEGER NOT NULL DEFAULT 0,
    "remind_count" INTEGER NOT NULL DEFAULT 0,
    "policy_generation" INTEGER NOT NULL DEFAULT 0,
    "last_seq" INTEGER NOT NULL DEFAULT 0,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "intents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "intent_events" (
    "id" BIGSERIAL NOT NULL,
    "intent_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "event_type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "waiting_reason" TEXT,
    "handler" TEXT,
    "actor" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',
    "dedupe_key" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "intent_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agent_stream_cursors" (
    "address" TEXT NOT NULL,
    "org_id" UUID NOT NULL,
    "last_seq" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "agent_stream_cursors_pkey" PRIMARY KEY ("address")
);

-- CreateTable
CREATE TABLE "agent_stream_entries" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "intent_id" UUID NOT NULL,
    "event_seq" INTEGER NOT NULL,
    "event_type" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "agent_stream_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_records" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "caller_id" TEXT NOT NULL,
    "route" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "request_hash" TEXT NOT NULL,
    "response_status" INTEGER,
    "response_body" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "idempotency_records_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT,
    "action" TEXT NOT NULL,
    "target_type" TEXT,
    "target_id" TEXT,
    "outcome" TEXT NOT NULL,
    "request_id" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "organizations_slug_key" ON "organizations"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "workspaces_org_id_slug_key" ON "workspaces"("org_id", "slug");

-- CreateIndex
CREATE UNIQUE INDEX "service_accounts_address_key" ON "service_accounts"("address");

-- CreateIndex
CREATE INDEX "service_accounts_org_id_idx" ON "service_accounts"("org_id");

-- CreateIndex
CREATE UNIQUE INDEX "service_accounts_workspace_id_name_key" ON "service_accounts"("workspace_id", "name");

-- CreateIndex
CREATE INDEX "api_keys_service_account_id_idx" ON "api_keys"("service_account_id");

-- CreateIndex
CREATE INDEX "api_keys_org_id_idx" ON "api_keys"("org_id");

-- CreateIndex
CREATE INDEX "intents_org_id_status_created_at_idx" ON "intents"("org_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "intents_org_id_to_agent_created_at_idx" ON "intents"("org_id", "to_agent", "created_at");

-- CreateIndex
CREATE INDEX "intents_org_id_from_agent_created_at_idx" ON "intents"("org_id", "from_agent", "created_at");

-- CreateIndex
CREATE INDEX "intent_events_org_id_idx" ON "intent_events"("org_id");

-- CreateIndex
CREATE UNIQUE INDEX "intent_events_intent_id_seq_key" ON "intent_events"("intent_id", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "intent_events_intent_id_dedupe_key_key" ON "intent_events"("intent_id", "dedupe_key");

-- CreateIndex
CREATE INDEX "agent_stream_entries_org_id_idx" ON "agent_stream_entries"("org_id");

-- CreateIndex
CREATE UNIQUE INDEX "agent_stream_entries_address_seq_key" ON "agent_stream_entries"("address", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "agent_stream_entries_address_intent_id_event_seq_key" ON "agent_stream_entries"("address", "intent_id", "event_seq");

-- CreateIndex
CREATE INDEX "idempotency_records_expires_at_idx" ON "idempotency_records"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "idempotency_records_caller_id_route_key_key" ON "idempotency_records"("caller_id", "route", "key");

-- CreateIndex
CREATE INDEX "audit_events_org_id_at_idx" ON "audit_events"("org_id", "at");

-- CreateIndex
CREATE INDEX "audit_events_action_at_idx" ON "audit_events"("action", "at");

-- AddForeignKey
ALTER TABLE "workspaces" ADD CONSTRAINT "workspaces_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_accounts" ADD CONSTRAINT "service_accounts_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_accounts" ADD CONSTRAINT "service_accounts_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_service_account_id_fkey" FOREIGN KEY ("service_account_id") REFERENCES "service_accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "intent_events" ADD CONSTRAINT "intent_events_intent_id_fkey" FOREIGN KEY ("intent_id") REFERENCES "intents"("id") ON DELETE CASCADE ON UPDATE CASCADE;
