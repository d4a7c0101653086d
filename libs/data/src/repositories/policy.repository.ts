import { ConflictError, isUuid, type PolicyDecisionKind, type PolicyEntryKind } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { guarded, isDuplicate } from '../errors';
import { PrismaService } from '../prisma.service';
import { preparedRows } from '../raw-sql';
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

type RecipientPoliciesRow = PolicyOrgRecord & {
  agent: AgentPolicyRecord | null;
  entries: (Omit<PolicyEntryRecord, 'createdAt'> & { createdAt: string })[];
};

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
   * What deciding a send to `address` needs, read in the recipient's org (named by the address's
   * org slug): the org's receive policy, the agent's policies (if registered) and the three entry
   * lists. Every send decides, so this is one plain SQL query (raw-sql.ts), not four Prisma ones.
   */
  async recipientPolicies(orgSlug: string, address: string): Promise<RecipientPolicies | null> {
    const [row] = await preparedRows<RecipientPoliciesRow>(
      this.prisma.pool,
      'recipient_policies',
      `SELECT o.id, o.slug, o.receive_policy AS "receivePolicy",
         (SELECT json_build_object('id', sa.id, 'orgId', sa.org_id, 'address', sa.address,
                   'sendPolicy', sa.send_policy, 'receiveOverride', sa.receive_override)
            FROM service_accounts sa WHERE sa.org_id = o.id AND sa.address = $2) AS "agent",
         COALESCE((SELECT json_agg(json_build_object('id', e.id, 'orgId', e.org_id, 'kind', e.kind,
                     'owner', e.owner, 'pattern', e.pattern, 'decision', e.decision, 'approver', e.approver,
                     'position', e.position, 'createdBy', e.created_by, 'createdAt', e.created_at)
                     ORDER BY e.position, e.created_at)
                     FROM policy_entries e
                    WHERE e.org_id = o.id
                      AND ((e.kind = 'org_receive' AND e.owner = o.id::text)
                        OR (e.kind IN ('agent_receive', 'agent_send') AND e.owner = $2))), '[]') AS "entries"
         FROM organizations o WHERE o.slug = $1`,
      [orgSlug, address],
    );
    if (!row) return null;
    const entries: RecipientPolicies['entries'] = { org_receive: [], agent_receive: [], agent_send: [] };
    // json_build_object renders timestamptz as text.
    for (const entry of row.entries)
      entries[entry.kind]?.push({ ...entry, createdAt: new Date(entry.createdAt) });
    return {
      org: { id: row.id, slug: row.slug, receivePolicy: row.receivePolicy },
      agent: row.agent,
      entries,
    };
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
