export { fingerprint, generateApiKey, hashSecret, parseApiKey, verifySecret } from './api-key';
export { AuditQueryService, toAuditEventView } from './audit-query.service';
export { AuthModule, QuotaModule } from './auth.module';
export { AuthService, type CredentialHeaders } from './auth.service';
export { type BootstrapResult, BootstrapService } from './bootstrap.service';
export { type JwtClaims, JwtVerifier, type JwtVerifierOptions } from './jwt-verifier';
export {
  actingAgent,
  agentRateLimitOf,
  hasRole,
  mayActAs,
  type Principal,
  rateLimitSubject,
  requireRole,
  tenantScopeOf,
} from './principal';
export {
  type BucketSpec,
  type MultiBucketDecision,
  type RateLimitDecision,
  RateLimiter,
  type RateLimiterOptions,
} from './rate-limiter';
export {
  type CounterSpec,
  QuotaCounter,
  type QuotaCounterOptions,
  type TakeResult,
  utcDay,
} from './quota-counter';
export { type QuotaReservation, QuotaService } from './quota.service';
