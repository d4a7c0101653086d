export { fingerprint, generateApiKey, hashSecret, parseApiKey, verifySecret } from './api-key';
export { AuthModule } from './auth.module';
export { AuthService, type CredentialHeaders } from './auth.service';
export { type BootstrapResult, BootstrapService } from './bootstrap.service';
export { type JwtClaims, JwtVerifier, type JwtVerifierOptions } from './jwt-verifier';
export {
  actingAgent,
  hasRole,
  mayActAs,
  type Principal,
  rateLimitSubject,
  requireRole,
  tenantScopeOf,
} from './principal';
export { type RateLimitDecision, RateLimiter, type RateLimiterOptions } from './rate-limiter';
