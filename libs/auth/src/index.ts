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
  humanActor,
  humanIdentities,
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
export { RequestSignatureVerifier, type SignedRequestParts } from './request-signature.service';
export {
  bodySha256,
  isFresh,
  keyIdOf,
  type ParsedPublicKey,
  parsePublicKey,
  parseSignatureHeader,
  type SignatureHeader,
  toKeyObject,
  verifyRequestSignature,
} from './signature';
export { SignatureNonceStore, type SignatureNonceStoreOptions } from './signature-nonce-store';
export { SigningKeyService, type SigningKeyView } from './signing-key.service';
