export { DataModule } from './data.module';
export { guarded, toDatabaseError } from './errors';
export { PrismaService } from './prisma.service';
export { type AuditEntry, AuditRepository } from './repositories/audit.repository';
export {
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
  type IntentRecord,
  IntentRepository,
  type NewIntent,
} from './repositories/intent.repository';
export { type AgentRecord, type ApiKeyRecord, RegistryRepository } from './repositories/registry.repository';
export { orgFilter, type OrgScope, orgScope, platformScope, type TenantScope } from './tenancy';
