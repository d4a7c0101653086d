-- AlterTable
ALTER TABLE "intents" ADD COLUMN     "current_step" TEXT,
ADD COLUMN     "scenario_id" TEXT,
ADD COLUMN     "workflow_plan" JSONB;

-- CreateTable
CREATE TABLE "human_tasks" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "intent_id" UUID NOT NULL,
    "step_id" TEXT NOT NULL DEFAULT '',
    "thread_id" UUID,
    "spec" JSONB NOT NULL,
    "assignees" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'open',
    "outcome" TEXT,
    "result" JSONB,
    "decided_by" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "due_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "human_tasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "magic_links" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "recipient" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "magic_links_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sessions" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "workspace_id" UUID NOT NULL,
    "created_by" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "project_id" TEXT,
    "parent_session_id" UUID,
    "depends_on" TEXT[],
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'ACTIVE',
    "result" JSONB,
    "last_seq" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "session_events" (
    "id" UUID NOT NULL,
    "session_id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "event_type" TEXT NOT NULL,
    "role" TEXT,
    "content" JSONB,
    "content_type" TEXT,
    "actor" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "session_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "human_tasks_org_id_status_created_at_idx" ON "human_tasks"("org_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "human_tasks_assignees_idx" ON "human_tasks" USING GIN ("assignees");

-- CreateIndex
CREATE UNIQUE INDEX "human_tasks_intent_id_step_id_key" ON "human_tasks"("intent_id", "step_id");

-- CreateIndex
CREATE UNIQUE INDEX "magic_links_token_hash_key" ON "magic_links"("token_hash");

-- CreateIndex
CREATE INDEX "magic_links_task_id_idx" ON "magic_links"("task_id");

-- CreateIndex
CREATE INDEX "sessions_org_id_status_created_at_idx" ON "sessions"("org_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "sessions_org_id_parent_session_id_idx" ON "sessions"("org_id", "parent_session_id");

-- CreateIndex
CREATE UNIQUE INDEX "session_events_session_id_seq_key" ON "session_events"("session_id", "seq");

-- AddForeignKey
ALTER TABLE "magic_links" ADD CONSTRAINT "magic_links_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "human_tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "session_events" ADD CONSTRAINT "session_events_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
