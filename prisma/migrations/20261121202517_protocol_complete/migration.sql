-- AlterTable
ALTER TABLE "intents" ADD COLUMN     "controls" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "envelope" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "grants" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "workflow_started_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "service_accounts" ADD COLUMN     "webhook_secret" TEXT;

-- CreateTable
CREATE TABLE "inbox_threads" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "owner_agent" TEXT NOT NULL,
    "intent_id" UUID,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "from_agent" TEXT NOT NULL,
    "to_agent" TEXT NOT NULL,
    "subject" TEXT,
    "intent_type" TEXT,
    "read_at" TIMESTAMPTZ(3),
    "change_seq" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "inbox_threads_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbox_messages" (
    "id" UUID NOT NULL,
    "thread_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "role" TEXT NOT NULL,
    "author" TEXT NOT NULL,
    "content" JSONB NOT NULL,
    "hidden_for_owner" BOOLEAN NOT NULL DEFAULT false,
    "deleted_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inbox_messages_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbox_timeline_events" (
    "id" UUID NOT NULL,
    "thread_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "event_type" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inbox_timeline_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_subscriptions" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "owner_agent" TEXT NOT NULL,
    "callback_url" TEXT NOT NULL,
    "event_types" TEXT[],
    "secret" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_events" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "owner_agent" TEXT NOT NULL,
    "event_type" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "accepted_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "event_id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "inbox_threads_org_id_owner_agent_change_seq_idx" ON "inbox_threads"("org_id", "owner_agent", "change_seq");

-- CreateIndex
CREATE INDEX "inbox_threads_org_id_owner_agent_status_updated_at_idx" ON "inbox_threads"("org_id", "owner_agent", "status", "updated_at");

-- CreateIndex
CREATE INDEX "inbox_threads_intent_id_idx" ON "inbox_threads"("intent_id");

-- CreateIndex
CREATE INDEX "inbox_messages_thread_id_created_at_idx" ON "inbox_messages"("thread_id", "created_at");

-- CreateIndex
CREATE INDEX "inbox_timeline_events_thread_id_at_idx" ON "inbox_timeline_events"("thread_id", "at");

-- CreateIndex
CREATE INDEX "webhook_subscriptions_org_id_owner_agent_idx" ON "webhook_subscriptions"("org_id", "owner_agent");

-- CreateIndex
CREATE INDEX "webhook_events_org_id_owner_agent_accepted_at_idx" ON "webhook_events"("org_id", "owner_agent", "accepted_at");

-- CreateIndex
CREATE INDEX "webhook_deliveries_org_id_status_idx" ON "webhook_deliveries"("org_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "webhook_deliveries_event_id_subscription_id_key" ON "webhook_deliveries"("event_id", "subscription_id");

-- CreateIndex
CREATE INDEX "intents_org_id_created_at_id_idx" ON "intents"("org_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "intents_workflow_started_at_created_at_idx" ON "intents"("workflow_started_at", "created_at");

-- AddForeignKey
ALTER TABLE "inbox_messages" ADD CONSTRAINT "inbox_messages_thread_id_fkey" FOREIGN KEY ("thread_id") REFERENCES "inbox_threads"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "inbox_timeline_events" ADD CONSTRAINT "inbox_timeline_events_thread_id_fkey" FOREIGN KEY ("thread_id") REFERENCES "inbox_threads"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "webhook_events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "webhook_subscriptions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
