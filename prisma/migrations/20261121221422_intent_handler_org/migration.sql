-- AlterTable
ALTER TABLE "intents" ADD COLUMN     "handler_org_id" UUID;

-- CreateIndex
CREATE INDEX "intents_handler_org_id_created_at_id_idx" ON "intents"("handler_org_id", "created_at", "id");
