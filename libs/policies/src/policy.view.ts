// Wire shape of a policy entry (reference §1.3 "Policies and governance": the CLI lists
// `sender_pattern` and `entry_id`).
import { type PolicyEntryRecord } from '@axle/data';

export function toEntryView(entry: PolicyEntryRecord) {
  return {
    entry_id: entry.id,
    sender_pattern: entry.pattern,
    decision: entry.decision,
    approver: entry.approver,
    position: entry.position,
    created_at: entry.createdAt.toISOString(),
  };
}
