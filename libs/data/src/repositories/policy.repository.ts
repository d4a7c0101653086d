import { ConflictError, isUuid, type PolicyDecisionKind, type PolicyEntryKind } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { guarded, isDuplicate } from '../errors';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

/** An org as the policy routes address it (by id or slug) with its cross-org receive policy. */
export type PolicyOrgRecord = { id: string; slug: string; receivePolicy: string };

/** An agent's two policies: who may send to it (send policy) and its cross-org receive override. */
export type AgentPolicyRecord = {
  id: string;
  orgId: string;
  address: string;
  sendPolicy: string;
  receiveOverride: string;
};

export type PolicyEntryRecord = {
  id: string;
  orgId: string;
  kind: PolicyEntryKind;
  owner: string;
  pattern: string;
  decision: PolicyDecisionKind;
  approver: string | null;
  position: number;
  createdBy: string | null;
  createdAt: Date;
};

export type NewPolicyEntry = {
  kind: PolicyEntryKind;
  owner: string;
  pattern: string;
  decision: PolicyDecisionKind;
  approver: string | null;
  createdBy: string | null;
};

/** Everything one send decision reads about its recipient, in one round of queries. */
export type RecipientPolicies = {
  org: PolicyOrgRecord;
  /** Null for a well-formed address nobody registered (open addressing). */
  agent: AgentPolicyRecord | null;
  entries: Record<PolicyEntryKind, PolicyEntryRecord[]>;
};

type EntryRow = Awaited<ReturnType<PrismaService['client']['policyEntry']['findFirstOrThrow']>>;

/**
 * Send and receive policies (SPEC §2): the org's receive policy, each agent's send policy and receive
 * override, and their ordered entries. Every read is confined to the scope, so an org is invisible to
 * another org's credential.
 */
@Injectable()
export class PolicyRepository {
  constructor(private readonly prisma: PrismaService) {}

  async setOrgReceivePolicy(scope: OrgScope, policyType: string): Promise<PolicyOrgRecord> {
    return guarded(() =>
      this.prisma.client.organization.update({
        where: { id: scope.orgId },
        data: { receivePolicy: policyType },
        select: { id: true, slug: true, receivePolicy: true },
      }),
    );
  }

  async findAgent(scope: TenantScope, address: string): Promise<AgentPolicyRecord | null> {
    return guarded(() =>
      this.prisma.client.serviceAccount.findFirst({
        where: { address, ...orgFilter(scope) },
        select: { id: true, orgId: true, address: true, sendPolicy: true, receiveOverride: true },
      }),
    );
  }

  async setAgentPolicy(
    scope: OrgScope,
    address: string,
    change: { sendPolicy?: string; receiveOverride?: string },
  ): Promise<AgentPolicyRecord | null> {
    return guarded(async () => {
      const updated = await this.prisma.client.serviceAccount.updateMany({
        where: { address, orgId: scope.orgId },
        data: change,
      });
      return updated.count === 0 ? null : this.findAgent(scope, address);
    });
  }

  /** One list, in evaluation order (position, then creation). */
  async listEntries(scope: TenantScope, kind: PolicyEntryKind, owner: string): Promise<PolicyEntryRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.policyEntry.findMany({
        where: { kind, owner, ...orgFilter(scope) },
        orderBy: [{ position: 'asc' }, { createdAt: 'asc' }],
      });
      return rows.map(toEntry);
    });
  }

  /**
   * Appends an entry at the end of its list. The list is locked while it is counted, so concurrent
   * additions cannot pass the cap together; a pattern already in the list is a 409.
   */
  async addEntry(scope: OrgScope, entry: NewPolicyEntry, maxEntries: number): Promise<PolicyEntryRecord> {
    return guarded(async () => {
      try {
        return await this.prisma.client.$transaction(async (tx) => {
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`policy:${entry.kind}:${entry.owner}`}))`;
          const count = await tx.policyEntry.count({
            where: { kind: entry.kind, owner: entry.owner, orgId: scope.orgId },
          });
          if (count >= maxEntries)
            throw new ConflictError('policy_entries_limit', `a policy holds at most ${maxEntries} entries`, {
              limit: maxEntries,
            });
          const row = await tx.policyEntry.create({ data: { ...entry, orgId: scope.orgId } });
          return toEntry(row);
        });
      } catch (err) {
        if (isDuplicate(err))
          throw new ConflictError(
            'policy_entry_exists',
            `the pattern ${entry.pattern} is in this policy already`,
            {
              sender_pattern: entry.pattern,
            },
          );
        throw err;
      }
    });
  }

  /** Removes one entry of one list; false when the list has no entry with that id. */
  async deleteEntry(
    scope: OrgScope,
    kind: PolicyEntryKind,
    owner: string,
    entryId: string,
  ): Promise<boolean> {
    if (!isUuid(entryId)) return false;
    return guarded(async () => {
      const deleted = await this.prisma.client.policyEntry.deleteMany({
        where: { id: entryId, kind, owner, orgId: scope.orgId },
      });
      return deleted.count > 0;
    });
  }

  /**
   * What deciding a send to `address` needs, read in the recipient's org (the scope): the org's
   * receive policy, the agent's policies (if registered) and the three entry lists.
   */
  async recipientPolicies(scope: OrgScope, address: string): Promise<RecipientPolicies | null> {
    return guarded(async () => {
      const [org, agent, rows] = await Promise.all([
        this.prisma.client.organization.findUnique({
          where: { id: scope.orgId },
          select: { id: true, slug: true, receivePolicy: true },
        }),
        this.findAgent(scope, address),
        this.prisma.client.policyEntry.findMany({
          where: {
            orgId: scope.orgId,
            OR: [
              { kind: 'org_receive', owner: scope.orgId },
              { kind: { in: ['agent_receive', 'agent_send'] }, owner: address },
            ],
          },
          orderBy: [{ position: 'asc' }, { createdAt: 'asc' }],
        }),
      ]);
      if (!org) return null;
      const entries: RecipientPolicies['entries'] = { org_receive: [], agent_receive: [], agent_send: [] };
      for (const row of rows) entries[row.kind as PolicyEntryKind]?.push(toEntry(row));
      return { org, agent, entries };
    });
  }
}

function toEntry(row: EntryRow): PolicyEntryRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    kind: row.kind as PolicyEntryKind,
    owner: row.owner,
    pattern: row.pattern,
    decision: row.decision as PolicyDecisionKind,
    approver: row.approver,
    position: row.position,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}
