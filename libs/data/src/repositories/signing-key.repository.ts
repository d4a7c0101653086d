import { Injectable } from '@nestjs/common';
import { Prisma } from '../generated/prisma/client';
import { guarded, isDuplicate } from '../errors';
import { PrismaService } from '../prisma.service';
import { orgFilter, type TenantScope } from '../tenancy';

/** An agent's signing key state (SPEC §2 "Signed agents"). The public key is public: no secret here. */
export type SigningKeyRecord = {
  agentId: string;
  orgId: string;
  address: string;
  /** Base64 of the raw 32-byte Ed25519 public key, or null when none is registered. */
  publicKey: string | null;
  keyId: string | null;
  requireSignature: boolean;
};

/** What to write: a new key (or null to remove it) and/or the require flag; absent fields stay. */
export type SigningKeyChange = {
  key?: { publicKey: string; keyId: string } | null;
  requireSignature?: boolean;
};

/** Another agent already registered this public key (key ids are unique). */
export class SigningKeyInUseError extends Error {
  constructor() {
    super('signing key is registered for another agent');
    this.name = 'SigningKeyInUseError';
  }
}

const SELECT = {
  id: true,
  orgId: true,
  address: true,
  signingPublicKey: true,
  signingKeyId: true,
  requireSignature: true,
} as const;

type Row = {
  id: string;
  orgId: string;
  address: string;
  signingPublicKey: string | null;
  signingKeyId: string | null;
  requireSignature: boolean;
};

/** The signing key and require_signature flag of service accounts (agents). */
@Injectable()
export class SigningKeyRepository {
  constructor(private readonly prisma: PrismaService) {}

  async findByAddress(scope: TenantScope, address: string): Promise<SigningKeyRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.serviceAccount.findFirst({
        where: { address, ...orgFilter(scope) },
        select: SELECT,
      });
      return row ? toRecord(row) : null;
    });
  }

  /**
   * Changes an agent's key and/or flag under a row lock: `decide` sees the current state (and may
   * throw to refuse), so a check such as "a protected agent's key changes only by a signed request"
   * cannot race with a concurrent change. Null when the agent is not in scope.
   * Throws SigningKeyInUseError when another agent holds the same key.
   */
  async update(
    scope: TenantScope,
    agentId: string,
    decide: (current: SigningKeyRecord) => SigningKeyChange,
  ): Promise<SigningKeyRecord | null> {
    return guarded(async () => {
      try {
        return await this.prisma.client.$transaction(async (tx) => {
          const locked = await tx.$queryRaw<{ id: string }[]>`
            SELECT id FROM service_accounts WHERE id = ${agentId}::uuid FOR UPDATE`;
          if (locked.length === 0) return null;
          const row = await tx.serviceAccount.findFirst({
            where: { id: agentId, ...orgFilter(scope) },
            select: SELECT,
          });
          if (!row) return null;
          const change = decide(toRecord(row));
          const data: Prisma.ServiceAccountUpdateInput = {};
          if (change.key !== undefined) {
            data.signingPublicKey = change.key?.publicKey ?? null;
            data.signingKeyId = change.key?.keyId ?? null;
          }
          if (change.requireSignature !== undefined) data.requireSignature = change.requireSignature;
          const updated = await tx.serviceAccount.update({ where: { id: agentId }, data, select: SELECT });
          return toRecord(updated);
        });
      } catch (err) {
        if (isDuplicate(err)) throw new SigningKeyInUseError();
        throw err;
      }
    });
  }
}

function toRecord(row: Row): SigningKeyRecord {
  return {
    agentId: row.id,
    orgId: row.orgId,
    address: row.address,
    publicKey: row.signingPublicKey,
    keyId: row.signingKeyId,
    requireSignature: row.requireSignature,
  };
}
