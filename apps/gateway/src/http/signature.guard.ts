import { RequestSignatureVerifier } from '@axle/auth';
import { SIGNATURE_HEADER } from '@axle/protocol';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';

/**
 * Signed agents (SPEC §2, docs/signed-agents.md). Runs right after AuthGuard: a request carrying
 * X-Axle-Signature must be signed with the calling agent's registered Ed25519 key over the method,
 * the path and query as received, the SHA-256 of the raw body bytes, a timestamp and a nonce; an
 * agent with require_signature must sign every request. On success the principal is marked signed.
 */
@Injectable()
export class SignatureGuard implements CanActivate {
  constructor(private readonly verifier: RequestSignatureVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const principal = request.principal;
    // Public routes (health) have no caller to verify against.
    if (!principal) return true;
    const signed = await this.verifier.check(
      principal,
      {
        method: request.method,
        // The request target as it arrived on the wire, query included, before any decoding.
        path: request.raw.url ?? request.url,
        rawBody: rawBodyOf(request),
        signatureHeader: request.headers[SIGNATURE_HEADER],
        ownerAgentHeader: request.headers['x-owner-agent'],
        route: `${request.method} ${request.routeOptions.url ?? request.url}`,
      },
      request.id,
    );
    if (signed) principal.signed = true;
    return true;
  }
}

/**
 * The body bytes the client sent: kept by the JSON parser; Fastify's text/plain parser leaves the
 * text itself. Null for a body that arrived some other way: it cannot be verified.
 */
function rawBodyOf(request: FastifyRequest): Buffer | undefined | null {
  if (request.rawBody) return request.rawBody;
  if (request.body === undefined || request.body === null) return undefined;
  if (typeof request.body === 'string') return Buffer.from(request.body, 'utf8');
  if (Buffer.isBuffer(request.body)) return request.body;
  return null;
}
