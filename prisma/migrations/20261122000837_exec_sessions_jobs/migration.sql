-- CreateTable
CREATE TABLE "exec_sessions" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "owner_agent" TEXT NOT NULL,
    "workspace_dir" TEXT NOT NULL,
    "requested_tier" TEXT NOT NULL,
    "granted_tier" TEXT NOT NULL,
    "capabilities" TEXT[],
    "status" TEXT NOT NULL DEFAULT 'open',
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "exec_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "exec_tokens" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "session_id" UUID NOT NULL,
    "parent_id" UUID,
    "token_hash" TEXT NOT NULL,
    "capabilities" TEXT[],
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "exec_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "exec_jobs" (
    "id" UUID NOT NULL,
    "org_id" UUID NOT NULL,
    "session_id" UUID NOT NULL,
    "owner_agent" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "capabilities" TEXT[],
    "limits" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "exit_code" INTEGER,
    "signal" TEXT,
    "error" JSONB,
    "stalled_policy" TEXT NOT NULL DEFAULT 'fail',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "runner_id" TEXT,
    "last_seq" INTEGER NOT NULL DEFAULT 0,
    "log_bytes" BIGINT NOT NULL DEFAULT 0,
    "intent_id" UUID,
    "started_at" TIMESTAMPTZ(3),
    "ended_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "exec_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "exec_sessions_org_id_owner_agent_created_at_idx" ON "exec_sessions"("org_id", "owner_agent", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "exec_tokens_token_hash_key" ON "exec_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "exec_tokens_session_id_idx" ON "exec_tokens"("session_id");

-- CreateIndex
CREATE INDEX "exec_jobs_org_id_session_id_created_at_idx" ON "exec_jobs"("org_id", "session_id", "created_at");

-- CreateIndex
CREATE INDEX "exec_jobs_status_updated_at_idx" ON "exec_jobs"("status", "updated_at");

-- CreateIndex
CREATE INDEX "exec_jobs_intent_id_idx" ON "exec_jobs"("intent_id");

-- AddForeignKey
ALTER TABLE "exec_tokens" ADD CONSTRAINT "exec_tokens_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "exec_sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "exec_jobs" ADD CONSTRAINT "exec_jobs_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "exec_sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
