export { DataModule } from './data.module';
export { guarded, toDatabaseError } from './errors';
export { PrismaService } from './prisma.service';
export {
  type AuditEntry,
  type AuditEventRecord,
  type AuditQueryFilter,
  AuditRepository,
} from './repositories/audit.repository';
export {
  type ExecJobEnd,
  type ExecJobError,
  type ExecJobRecord,
  ExecRepository,
  type ExecSessionRecord,
  type McpServerRecord,
  type ExecTokenRecord,
  type NewExecJob,
  type NewExecSession,
} from './repositories/exec.repository';
export {
  type HumanTaskListFilter,
  type HumanTaskListItem,
  type HumanTaskRecord,
  HumanTaskRepository,
  type HumanTaskRowStatus,
  type MagicLinkRecord,
  type MagicLinkState,
  type NewHumanTask,
} from './repositories/human-task.repository';
export {
  type InboxDeleteResult,
  type InboxMessageRecord,
  InboxRepository,
  type InboxThreadChange,
  type InboxThreadDetail,
  type InboxThreadFilter,
  InboxThreadGoneError,
  type InboxThreadRecord,
  type InboxThreadStatus,
  type InboxTimelineRecord,
  type InboxWriteOptions,
  type InboxWriteResult,
  type NewInboxEntry,
  type NewInboxThread,
} from './repositories/inbox.repository';
export {
  type ClaimAnswer,
  hashBody,
  type IdempotencyClaimInput,
  type IdempotencyClaimResult,
  type IdempotencyKeyRef,
  type IdempotencyRecordView,
  IdempotencyRepository,
  requestHash,
} from './repositories/idempotency.repository';
export {
  type AgentStreamItem,
  type AppendEventInput,
  type AppendEventResult,
  type IdempotencyClaim,
  IdempotencyKeyTakenError,
  type IntentEventRecord,
  type IntentListFilter,
  type IntentRecord,
  IntentRepository,
  type NewIntent,
  type PolicyChange,
  type PolicyChangeResult,
} from './repositories/intent.repository';
export { type QuotaRecord, QuotaRepository } from './repositories/quota.repository';
export {
  type HeartbeatResult,
  type HeartbeatTransition,
  type KillSwitchResult,
  type MeshAgentFilter,
  type MeshAgentRecord,
  type MeshEventRecord,
  MeshRepository,
  type NewMeshEvent,
} from './repositories/mesh.repository';
export {
  type AgentPolicyRecord,
  type NewPolicyEntry,
  type PolicyEntryRecord,
  type PolicyOrgRecord,
  PolicyRepository,
  type RecipientPolicies,
} from './repositories/policy.repository';
export {
  type AgentRecord,
  type ApiKeyRecord,
  type ApiKeyView,
  type MemberRecord,
  type NewAgent,
  type OrganizationRecord,
  RegistryRepository,
  type ServiceAccountPatch,
  type ServiceAccountRecord,
  type WorkspaceRecord,
} from './repositories/registry.repository';
export {
  type NewSession,
  type NewSessionMessage,
  type SessionEventRecord,
  type SessionListFilter,
  type SessionRecord,
  SessionRepository,
} from './repositories/session.repository';
export {
  type SigningKeyChange,
  SigningKeyInUseError,
  type SigningKeyRecord,
  SigningKeyRepository,
} from './repositories/signing-key.repository';
export {
  type EventDeliveries,
  type IdempotencyWrite,
  type NewWebhookEvent,
  type NewWebhookSubscription,
  type UpsertSubscriptionResult,
  type WebhookDeliveryRecord,
  type WebhookDeliveryTarget,
  type WebhookEventRecord,
  WebhookRepository,
  type WebhookSubscriptionRecord,
} from './repositories/webhook.repository';
export { orgFilter, type OrgScope, orgScope, platformScope, type TenantScope } from './tenancy';
export { decodeKeysetCursor, encodeKeysetCursor } from './keyset-cursor';
