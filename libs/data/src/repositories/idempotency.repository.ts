import { canonicalJson, IdempotencyInProgressError } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { type Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { type TenantScope, orgFilter, type OrgScope } from '../tenancy';

export type IdempotencyRecordView = {
  requestHash: string;
  /** null while the first request with the key is still running. */
  responseStatus: number | null;
  responseBody: Record<string, unknown> | null;
};

/** Identifies one idempotent request: who, which route (method + pattern), which key. */
export type IdempotencyKeyRef = { callerId: string; route: string; key: string };

export type IdempotencyClaimInput = IdempotencyKeyRef & {
  requestHash: string;
  expiresAt: Date;
  /**
   * An in-progress claim older than this is considered abandoned (its process died before
   * answering) and may be taken over, so a crash does not block the key until it expires.
   */
  staleAfterMs: number;
};

/** Either this request now owns the key (`claimed`, with a token to complete or release it), or not. */
export type IdempotencyClaimResult =
  { claimed: true; token: string } | { claimed: false; existing: IdempotencyRecordView };

/** SHA-256 of the canonical JSON of a request body: key order does not make two bodies differ. */
export function hashBody(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/**
 * The fingerprint an idempotency record keeps: the body, plus whatever else selects the target
 * (path parameters, query) when it is not empty. Same key + another target → conflict, never a
 * replay of another resource's answer. A request with no parameters hashes as its body alone.
 */
export function requestHash(body: unknown, context: Record<string, unknown> = {}): string {
  const extra = Object.entries(context).filter(
    ([, v]) => v !== null && typeof v === 'object' && Object.keys(v).length > 0,
  );
  return hashBody(extra.length > 0 ? { body: body ?? null, ...Object.fromEntries(extra) } : body);
}

/**
 * The answer a use case stores for its request's claim (`token`, from the interceptor) in the same
 * transaction as its effect, so a retry after a crash replays it instead of repeating the effect.
 */
export type ClaimAnswer<T> = {
  token: string;
  response: (result: T) => { status: number; body: Record<string, unknown> };
};

/**
 * Completes the claim inside `tx`. When the claim is no longer this request's (taken over as
 * abandoned meanwhile), throws, rolling the effect back: the key belongs to another request now.
 */
export async function completeClaimIn<T>(
  tx: Prisma.TransactionClient,
  scope: OrgScope,
  answer: ClaimAnswer<T>,
  result: T,
): Promise<void> {
  const { status, body } = answer.response(result);
  const { count } = await tx.idempotencyRecord.updateMany({
    where: { id: answer.token, responseStatus: null, ...orgFilter(scope) },
    data: { responseStatus: status, responseBody: json(body) ?? {} },
  });
  if (count !== 1) throw new IdempotencyInProgressError();
}

type Row = {
  id: string;
  request_hash: string;
  response_status: number | null;
  response_body: unknown;
};

/**
 * Idempotency keys per caller and route (SPEC §1). A row whose response is null is "in progress":
 * its request claimed the key and has not answered yet. Create-intent writes its row in the same
 * transaction as the intent (IntentRepository.createSubmitted); every other POST goes through
 * claim → complete (or release on a 5xx, so the client can retry).
 */
@Injectable()
export class IdempotencyRepository {
  constructor(private readonly prisma: PrismaService) {}

  async find(
    scope: TenantScope,
    callerId: string,
    route: string,
    key: string,
    now = new Date(),
  ): Promise<IdempotencyRecordView | null> {
    return guarded(async () => {
      const row = await this.prisma.client.idempotencyRecord.findFirst({
        where: { callerId, route, key, expiresAt: { gt: now }, ...orgFilter(scope) },
      });
      if (!row) return null;
      return {
        requestHash: row.requestHash,
        responseStatus: row.responseStatus,
        responseBody: row.responseBody as Record<string, unknown> | null,
      };
    });
  }

  /**
   * Claims the key atomically: inserts an in-progress row, or takes over an expired row or an
   * abandoned in-progress one. When another live row holds the key, returns it instead.
   */
  async claim(scope: OrgScope, input: IdempotencyClaimInput, attempt = 1): Promise<IdempotencyClaimResult> {
    return guarded(async () => {
      const token = randomUUID();
      // ON CONFLICT … DO UPDATE … WHERE takes the row only when it is dead; a live row makes the
      // statement return nothing. Concurrent claims serialize on the unique index, so one wins.
      const claimed = await this.prisma.client.$queryRaw<{ id: string }[]>`
        INSERT INTO idempotency_records
          (id, org_id, caller_id, route, key, request_hash, response_status, response_body, created_at, expires_at)
        VALUES (${token}::uuid, ${scope.orgId}::uuid, ${input.callerId}, ${input.route}, ${input.key},
                ${input.requestHash}, NULL, NULL, now(), ${input.expiresAt})
        ON CONFLICT (caller_id, route, key) DO UPDATE SET
          id = EXCLUDED.id, org_id = EXCLUDED.org_id, request_hash = EXCLUDED.request_hash,
          response_status = NULL, response_body = NULL, created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_records.expires_at <= now()
           OR (idempotency_records.response_status IS NULL
               AND idempotency_records.created_at < now() - ${input.staleAfterMs}::int * interval '1 millisecond')
        RETURNING id::text AS id`;
      if (claimed.length > 0) return { claimed: true, token };
      const rows = await this.prisma.client.$queryRaw<Row[]>`
        SELECT id::text AS id, request_hash, response_status, response_body
        FROM idempotency_records
        WHERE caller_id = ${input.callerId} AND route = ${input.route} AND key = ${input.key}
          AND org_id = ${scope.orgId}::uuid`;
      const row = rows[0];
      // Gone between the two statements (released by a failed first request): claim again.
      if (!row) {
        if (attempt >= 5) throw new Error('idempotency claim kept losing a race');
        return this.claim(scope, input, attempt + 1);
      }
      return { claimed: false, existing: toView(row) };
    });
  }

  /** Stores the answer of the request that holds the claim `token`; false if it lost the claim. */
  async complete(
    scope: OrgScope,
    token: string,
    response: { status: number; body: Record<string, unknown> },
  ): Promise<boolean> {
    return guarded(async () => {
      const { count } = await this.prisma.client.idempotencyRecord.updateMany({
        where: { id: token, responseStatus: null, ...orgFilter(scope) },
        data: { responseStatus: response.status, responseBody: json(response.body) ?? {} },
      });
      return count > 0;
    });
  }

  /** Gives the key back (the request failed with a 5xx): the client may retry it as new. */
  async release(scope: OrgScope, token: string): Promise<void> {
    await guarded(() =>
      this.prisma.client.idempotencyRecord.deleteMany({
        where: { id: token, responseStatus: null, ...orgFilter(scope) },
      }),
    );
  }

  /** Drops the claim `token` whatever it holds: its stored answer was undone (compensated). */
  async forget(scope: OrgScope, token: string): Promise<void> {
    await guarded(() =>
      this.prisma.client.idempotencyRecord.deleteMany({ where: { id: token, ...orgFilter(scope) } }),
    );
  }

  /**
   * Stores a finished answer when the key is free (or its row expired) and keeps an existing live
   * row otherwise. For routes that write their own success record transactionally (create intent):
   * their 4xx answers are remembered this way.
   */
  async storeIfAbsent(
    scope: OrgScope,
    input: IdempotencyKeyRef & {
      requestHash: string;
      expiresAt: Date;
      response: { status: number; body: Record<string, unknown> };
    },
  ): Promise<boolean> {
    return guarded(async () => {
      const body = JSON.stringify(input.response.body);
      const rows = await this.prisma.client.$queryRaw<{ id: string }[]>`
        INSERT INTO idempotency_records
          (id, org_id, caller_id, route, key, request_hash, response_status, response_body, created_at, expires_at)
        VALUES (${randomUUID()}::uuid, ${scope.orgId}::uuid, ${input.callerId}, ${input.route}, ${input.key},
                ${input.requestHash}, ${input.response.status}, ${body}::jsonb, now(), ${input.expiresAt})
        ON CONFLICT (caller_id, route, key) DO UPDATE SET
          id = EXCLUDED.id, org_id = EXCLUDED.org_id, request_hash = EXCLUDED.request_hash,
          response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,
          created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_records.expires_at <= now()
        RETURNING id::text AS id`;
      return rows.length > 0;
    });
  }

  /** Housekeeping: deletes expired records (any org). Returns how many went. */
  async purgeExpired(scope: TenantScope, now = new Date()): Promise<number> {
    return guarded(async () => {
      const { count } = await this.prisma.client.idempotencyRecord.deleteMany({
        where: { expiresAt: { lte: now }, ...orgFilter(scope) },
      });
      return count;
    });
  }
}

function toView(row: Row): IdempotencyRecordView {
  return {
    requestHash: row.request_hash,
    responseStatus: row.response_status,
    responseBody: (row.response_body as Record<string, unknown> | null) ?? null,
  };
}
