// User and operator tokens (SPEC §1): HS256 with a shared secret for development, a JWKS URL for
// production, or both. Everything that is not provably valid is refused (fail closed): alg none,
// algorithms the configured keys cannot verify, unknown key ids, bad signatures, expired, not yet
// valid or future-dated tokens, wrong audience, a JWKS that cannot be fetched.
import { AXME_API_SCOPE, isRole, JWT_AUDIENCE, type Role, UnauthenticatedError } from '@axle/protocol';
import { createRemoteJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';

export type JwtVerifierOptions = {
  /** HS256 secret (AXLE_JWT_SECRET). */
  secret: string | null;
  /** JWKS endpoint (AXLE_JWKS_URL); asymmetric algorithms only. */
  jwksUrl: string | null;
  clockSkewSeconds?: number;
};

/** The claims Axle reads from a verified token. */
export type JwtClaims = {
  sub: string;
  email: string | null;
  /** Org slug. */
  org: string | null;
  roles: Role[];
  /** AXME's owner claim: the agent the user acts as. */
  ownerAgent: string | null;
  jti: string | null;
};

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

export class JwtVerifier {
  private readonly secret: Uint8Array | null;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | null;
  private readonly skew: number;

  constructor(options: JwtVerifierOptions) {
    this.secret = options.secret ? new TextEncoder().encode(options.secret) : null;
    this.jwks = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000 })
      : null;
    this.skew = options.clockSkewSeconds ?? 60;
  }

  get enabled(): boolean {
    return this.secret !== null || this.jwks !== null;
  }

  /** Looks like a compact JWS (three base64url parts), as opposed to an API key. */
  static looksLikeJwt(token: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
  }

  async verify(token: string): Promise<JwtClaims> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw invalid('token is not a JWT');
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && this.secret) {
        ({ payload } = await jwtVerify(token, this.secret, {
          algorithms: ['HS256'],
          clockTolerance: this.skew,
          requiredClaims: ['exp', 'sub'],
        }));
      } else if (alg && ASYMMETRIC.includes(alg) && this.jwks) {
        ({ payload } = await jwtVerify(token, this.jwks, {
          algorithms: ASYMMETRIC,
          clockTolerance: this.skew,
          requiredClaims: ['exp', 'sub'],
        }));
      } else {
        throw invalid(`tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
      }
    } catch (err) {
      if (err instanceof UnauthenticatedError) throw err;
      throw invalid(reasonOf(err));
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat === 'number' && payload.iat > now + this.skew)
      throw invalid('token is issued in the future');
    if (!audienceAccepted(payload)) throw invalid(`token audience is not ${JWT_AUDIENCE}`);
    const roles = Array.isArray(payload.roles) ? payload.roles.filter(isRole) : [];
    return {
      sub: payload.sub!,
      email: typeof payload.email === 'string' ? payload.email : null,
      org: typeof payload.org === 'string' ? payload.org : null,
      roles,
      ownerAgent: typeof payload.owner_agent === 'string' ? payload.owner_agent : null,
      jti: typeof payload.jti === 'string' ? payload.jti : null,
    };
  }
}

/** `aud: "axle"`; AXME's tokens are accepted by their `axme.api` scope instead (SPEC §1). */
function audienceAccepted(payload: JWTPayload): boolean {
  const aud = Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [];
  if (aud.includes(JWT_AUDIENCE)) return true;
  const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  return aud.length === 0 && scope.includes(AXME_API_SCOPE);
}

const REASONS: Record<string, string> = {
  ERR_JWT_EXPIRED: 'token has expired',
  ERR_JWKS_NO_MATCHING_KEY: 'token key id is unknown',
  ERR_JWKS_TIMEOUT: 'token keys could not be fetched',
  ERR_JOSE_GENERIC: 'token keys could not be fetched',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'token signature does not verify',
  ERR_JOSE_ALG_NOT_ALLOWED: 'token algorithm is not accepted',
};

function reasonOf(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED')
    return `token claim check failed: ${(err as Error).message}`;
  return REASONS[code] ?? 'token could not be verified';
}

function invalid(reason: string): UnauthenticatedError {
  return new UnauthenticatedError('invalid_actor_token', `invalid actor token: ${reason}`);
}
