-- AlterTable
ALTER TABLE "magic_links" ADD COLUMN     "purpose" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "magic_links_task_id_recipient_purpose_key" ON "magic_links"("task_id", "recipient", "purpose");
