import { AuditRepository, type SigningKeyRecord } from '@axle/data';
import { SIGNATURE_MAX_SKEW_SECONDS, SignatureError, type SignatureErrorCode } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { type Principal } from './principal';
import { SignatureNonceStore } from './signature-nonce-store';
import { isFresh, parseSignatureHeader, type SignatureHeader, verifyRequestSignature } from './signature';

/** The parts of an HTTP request a signature covers, as the gateway received them. */
export type SignedRequestParts = {
  method: string;
  /** Path and query exactly as received (the request target). */
  path: string;
  /** The body bytes as received; undefined when there is none, null when they are not available. */
  rawBody: Buffer | undefined | null;
  /** X-Axle-Signature (an array when it was sent more than once). */
  signatureHeader: string | string[] | undefined;
  /** x-owner-agent: it changes what a request does, and the signature does not cover headers. */
  ownerAgentHeader: string | string[] | undefined;
  /** The route pattern, for the audit row. */
  route: string;
};

/**
 * Verifies X-Axle-Signature against the calling agent's registered key (SPEC §2 "Signed agents"):
 * key id, Ed25519 signature over method, path + query, SHA-256 of the raw body, timestamp and nonce,
 * then freshness (±5 min) and the nonce (once per replay window). Enforces require_signature.
 * Every refusal is an audit row (`auth.signature`, failure, reason); the signature, the nonce and
 * the key are never recorded.
 */
@Injectable()
export class RequestSignatureVerifier {
  constructor(
    private readonly audit: AuditRepository,
    private readonly nonces: SignatureNonceStore,
  ) {}

  /**
   * True when the request is signed and valid, false when it is unsigned and may be; throws
   * SignatureError (401) otherwise, or DependencyUnavailableError when Redis cannot check the nonce.
   */
  async check(principal: Principal, request: SignedRequestParts, requestId: string): Promise<boolean> {
    // The agent whose key signs, read with the credential (see Principal.signer).
    const signer = principal.signer ?? null;
    const fail = (code: SignatureErrorCode, message: string, header?: SignatureHeader): Promise<never> =>
      this.refuse(principal, signer, request, requestId, code, message, header);

    if (request.signatureHeader === undefined) {
      if (signer?.requireSignature)
        return fail(
          'signature_required',
          `${signer.address} requires signed requests: send an X-Axle-Signature header`,
        );
      return false;
    }
    if (Array.isArray(request.signatureHeader))
      return fail('invalid_signature', 'X-Axle-Signature was sent more than once');
    const header = parseSignatureHeader(request.signatureHeader);
    if ('error' in header) return fail('invalid_signature', `malformed X-Axle-Signature: ${header.error}`);
    if (request.ownerAgentHeader !== undefined)
      return fail(
        'invalid_signature',
        'x-owner-agent is not covered by the signature; pass owner_agent in the query instead',
        header,
      );
    if (request.rawBody === null)
      return fail('invalid_signature', 'the request body is not available to verify', header);
    if (!signer?.publicKey || !signer.keyId)
      return fail('invalid_signature', 'the calling agent has no registered signing key', header);
    if (header.keyId !== signer.keyId)
      return fail('invalid_signature', "keyId is not the calling agent's registered signing key", header);
    const valid = verifyRequestSignature(
      Buffer.from(signer.publicKey, 'base64'),
      { method: request.method, path: request.path, rawBody: request.rawBody },
      header,
    );
    if (!valid) return fail('invalid_signature', 'the signature does not match the request', header);
    if (!isFresh(header.timestamp, Date.now()))
      return fail(
        'signature_expired',
        `ts is more than ${SIGNATURE_MAX_SKEW_SECONDS} s away from the server's clock`,
        header,
      );
    if (!(await this.nonces.claim(header.keyId, header.nonce)))
      return fail('signature_replayed', 'this nonce was already used with this key', header);
    return true;
  }

  private async refuse(
    principal: Principal,
    signer: SigningKeyRecord | null,
    request: SignedRequestParts,
    requestId: string,
    code: SignatureErrorCode,
    message: string,
    header?: SignatureHeader,
  ): Promise<never> {
    await this.audit.record({
      orgId: principal.orgId,
      actorType: principal.kind,
      actorId: principal.actorId,
      action: 'auth.signature',
      targetType: signer ? 'service_account' : null,
      targetId: signer?.agentId ?? null,
      outcome: 'failure',
      requestId,
      details: {
        reason: code,
        message,
        method: request.method,
        route: request.route,
        ...(header ? { key_id: header.keyId } : {}),
      },
    });
    throw new SignatureError(code, message);
  }
}
