import { type ExecJobStatus, type SandboxTier } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type Prisma } from '../generated/prisma/client';
import { createUnlessDuplicate, guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, orgScope, type OrgScope, type TenantScope } from '../tenancy';
import { type ClaimAnswer, completeClaimIn } from './idempotency.repository';

export type ExecSessionRecord = {
  id: string;
  orgId: string;
  ownerAgent: string;
  workspaceDir: string;
  requestedTier: SandboxTier;
  grantedTier: SandboxTier;
  capabilities: string[];
  status: 'open' | 'closed';
  expiresAt: Date | null;
  createdAt: Date;
};

export type ExecTokenRecord = {
  id: string;
  orgId: string;
  sessionId: string;
  parentId: string | null;
  capabilities: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
};

export type ExecJobError = { code: string; message: string };

export type ExecJobRecord = {
  id: string;
  orgId: string;
  sessionId: string;
  ownerAgent: string;
  spec: Record<string, unknown>;
  capabilities: string[];
  limits: Record<string, number>;
  status: ExecJobStatus;
  exitCode: number | null;
  signal: string | null;
  error: ExecJobError | null;
  stalledPolicy: 'fail' | 'retry';
  attempts: number;
  runnerId: string | null;
  lastSeq: number;
  logBytes: number;
  startedAt: Date | null;
  endedAt: Date | null;
  createdAt: Date;
};

export type NewExecSession = {
  id: string;
  ownerAgent: string;
  workspaceDir: string;
  requestedTier: SandboxTier;
  grantedTier: SandboxTier;
  capabilities: string[];
  expiresAt: Date;
};

export type NewExecJob = {
  sessionId: string;
  ownerAgent: string;
  spec: Record<string, unknown>;
  capabilities: string[];
  limits: Record<string, number>;
  stalledPolicy: 'fail' | 'retry';
};

export type ExecJobEnd = {
  status: 'exited' | 'killed' | 'failed';
  exitCode: number | null;
  signal: string | null;
  error: ExecJobError | null;
  lastSeq?: number;
  logBytes?: number;
};

/** An MCP server an operator registered for its org; its tools mount as `<name>.<tool>`. */
export type McpServerRecord = {
  id: string;
  orgId: string;
  name: string;
  url: string;
  /** Extra request headers for the server; never shown by the API. */
  headers: Record<string, string>;
  createdBy: string;
  createdAt: Date;
};

type SessionRow = Awaited<ReturnType<PrismaService['client']['execSession']['findFirstOrThrow']>>;
type TokenRow = Awaited<ReturnType<PrismaService['client']['execToken']['findFirstOrThrow']>>;
type JobRow = Awaited<ReturnType<PrismaService['client']['execJob']['findFirstOrThrow']>>;
type McpRow = Awaited<ReturnType<PrismaService['client']['mcpServer']['findFirstOrThrow']>>;

const TERMINAL = ['exited', 'killed', 'failed'];

/**
 * Exec sessions, their capability tokens (SHA-256 hashes only) and jobs (SPEC §7). Job state moves
 * only forward: every transition is a conditional update on the current status, so a runner and a
 * cancel racing each other cannot both end a job.
 */
@Injectable()
export class ExecRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The session with its own token, in one transaction. */
  async createSession(
    scope: OrgScope,
    input: NewExecSession,
    tokenHash: string,
  ): Promise<{ session: ExecSessionRecord; token: ExecTokenRecord }> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const session = await tx.execSession.create({
          data: {
            id: input.id,
            orgId: scope.orgId,
            ownerAgent: input.ownerAgent,
            workspaceDir: input.workspaceDir,
            requestedTier: input.requestedTier,
            grantedTier: input.grantedTier,
            capabilities: input.capabilities,
            status: 'open',
            expiresAt: input.expiresAt,
          },
        });
        const token = await tx.execToken.create({
          data: {
            id: randomUUID(),
            orgId: scope.orgId,
            sessionId: session.id,
            tokenHash,
            capabilities: input.capabilities,
            expiresAt: input.expiresAt,
          },
        });
        return { session: toSession(session), token: toToken(token) };
      }),
    );
  }

  async findSession(scope: TenantScope, id: string): Promise<ExecSessionRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.execSession.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toSession(row) : null;
    });
  }

  /** The token with this hash, if it is one of the session's. */
  async findToken(scope: TenantScope, sessionId: string, tokenHash: string): Promise<ExecTokenRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.execToken.findFirst({
        where: { tokenHash, sessionId, ...orgFilter(scope) },
      });
      return row ? toToken(row) : null;
    });
  }

  async createToken(
    scope: TenantScope,
    input: { sessionId: string; orgId: string; parentId: string; capabilities: string[]; expiresAt: Date },
    tokenHash: string,
  ): Promise<ExecTokenRecord> {
    return guarded(async () => {
      const session = await this.prisma.client.execSession.findFirst({
        where: { id: input.sessionId, ...orgFilter(scope) },
        select: { orgId: true },
      });
      if (!session) throw new Error(`exec session ${input.sessionId} vanished`);
      const row = await this.prisma.client.execToken.create({
        data: {
          id: randomUUID(),
          orgId: session.orgId,
          sessionId: input.sessionId,
          parentId: input.parentId,
          tokenHash,
          capabilities: input.capabilities,
          expiresAt: input.expiresAt,
        },
      });
      return toToken(row);
    });
  }

  /** open → closed, revoking every token of the session; false when it was closed already. */
  async closeSession(scope: TenantScope, id: string): Promise<boolean> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const now = new Date();
        const closed = await tx.execSession.updateMany({
          where: { id, status: 'open', ...orgFilter(scope) },
          data: { status: 'closed' },
        });
        await tx.execToken.updateMany({
          where: { sessionId: id, revokedAt: null, ...orgFilter(scope) },
          data: { revokedAt: now },
        });
        return closed.count === 1;
      }),
    );
  }

  /** Inserts a pending job; with `answer`, its request's idempotency answer commits with it. */
  async createJob(
    scope: TenantScope,
    session: ExecSessionRecord,
    input: NewExecJob,
    answer?: ClaimAnswer<ExecJobRecord>,
  ): Promise<ExecJobRecord> {
    if (scope.kind === 'org' && scope.orgId !== session.orgId) throw new Error('session out of scope');
    const insert = async (tx: Prisma.TransactionClient) => {
      const row = await tx.execJob.create({
        data: {
          id: randomUUID(),
          orgId: session.orgId,
          sessionId: input.sessionId,
          ownerAgent: input.ownerAgent,
          spec: json(input.spec) ?? {},
          capabilities: input.capabilities,
          limits: json(input.limits) ?? {},
          stalledPolicy: input.stalledPolicy,
          status: 'pending',
        },
      });
      const job = toJob(row);
      if (answer) await completeClaimIn(tx, orgScope(session.orgId), answer, job);
      return job;
    };
    return guarded(() => (answer ? this.prisma.client.$transaction(insert) : insert(this.prisma.client)));
  }

  async findJob(scope: TenantScope, id: string): Promise<ExecJobRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.execJob.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toJob(row) : null;
    });
  }

  /**
   * A runner takes the job: pending → running (attempt 1), or running → running again for a retry
   * after its runner died (attempts + 1). Null when the job is no longer in `from`.
   */
  async claimJob(
    scope: TenantScope,
    id: string,
    from: 'pending' | 'running',
    runnerId: string,
    attempts: number,
  ): Promise<ExecJobRecord | null> {
    return guarded(async () => {
      const now = new Date();
      const claimed = await this.prisma.client.execJob.updateMany({
        where: { id, status: from, attempts: attempts - 1, ...orgFilter(scope) },
        data: { status: 'running', runnerId, attempts, ...(from === 'pending' ? { startedAt: now } : {}) },
      });
      return claimed.count === 1 ? this.findJob(scope, id) : null;
    });
  }

  /**
   * Jobs still `pending` that were created before `olderThan`, oldest first: normally queued and
   * waiting for a runner, or stranded (their gateway died before queueing them); the runners queue
   * them again (idempotent per job id).
   */
  async findPendingJobs(
    scope: TenantScope,
    olderThan: Date,
    limit: number,
  ): Promise<{ id: string; orgId: string }[]> {
    return guarded(() =>
      this.prisma.client.execJob.findMany({
        where: { status: 'pending', createdAt: { lt: olderThan }, ...orgFilter(scope) },
        select: { id: true, orgId: true },
        orderBy: { createdAt: 'asc' },
        take: limit,
      }),
    );
  }

  /** Log progress of a running job (the highest seq and the bytes appended so far). */
  async recordProgress(scope: TenantScope, id: string, lastSeq: number, logBytes: number): Promise<void> {
    await guarded(() =>
      this.prisma.client.execJob.updateMany({
        where: { id, status: 'running', lastSeq: { lt: lastSeq }, ...orgFilter(scope) },
        data: { lastSeq, logBytes: BigInt(logBytes) },
      }),
    );
  }

  /** Ends the job unless it has ended already; the record after the change, or null when it had. */
  async endJob(
    scope: TenantScope,
    id: string,
    from: readonly ('pending' | 'running')[],
    end: ExecJobEnd,
  ): Promise<ExecJobRecord | null> {
    return guarded(async () => {
      const ended = await this.prisma.client.execJob.updateMany({
        where: { id, status: { in: [...from] }, ...orgFilter(scope) },
        data: {
          status: end.status,
          exitCode: end.exitCode,
          signal: end.signal,
          ...(end.error ? { error: json(end.error) } : {}),
          endedAt: new Date(),
          ...(end.lastSeq !== undefined ? { lastSeq: end.lastSeq } : {}),
          ...(end.logBytes !== undefined ? { logBytes: BigInt(end.logBytes) } : {}),
        },
      });
      return ended.count === 1 ? this.findJob(scope, id) : null;
    });
  }

  /** Registers an MCP server for the org; null when the org has one of that name already. */
  async createMcpServer(
    scope: OrgScope,
    input: { name: string; url: string; headers: Record<string, string>; createdBy: string },
  ): Promise<McpServerRecord | null> {
    const row = await createUnlessDuplicate(() =>
      this.prisma.client.mcpServer.create({
        data: {
          id: randomUUID(),
          orgId: scope.orgId,
          name: input.name,
          url: input.url,
          headers: input.headers,
          createdBy: input.createdBy,
        },
      }),
    );
    return row ? toMcpServer(row) : null;
  }

  async listMcpServers(scope: TenantScope): Promise<McpServerRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.mcpServer.findMany({
        where: { ...orgFilter(scope) },
        orderBy: [{ name: 'asc' }, { id: 'asc' }],
        take: 500,
      });
      return rows.map(toMcpServer);
    });
  }

  async findMcpServer(scope: TenantScope, id: string): Promise<McpServerRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.mcpServer.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toMcpServer(row) : null;
    });
  }

  async findMcpServerByName(scope: TenantScope, name: string): Promise<McpServerRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.mcpServer.findFirst({ where: { name, ...orgFilter(scope) } });
      return row ? toMcpServer(row) : null;
    });
  }

  /** Deletes the server; false when the scope has no server with that id. */
  async deleteMcpServer(scope: TenantScope, id: string): Promise<boolean> {
    return guarded(async () => {
      const deleted = await this.prisma.client.mcpServer.deleteMany({ where: { id, ...orgFilter(scope) } });
      return deleted.count === 1;
    });
  }

  /** Whether the job has ended (for log readers deciding that no exit entry will come). */
  static isTerminal(status: string): boolean {
    return TERMINAL.includes(status);
  }
}

function toSession(row: SessionRow): ExecSessionRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    ownerAgent: row.ownerAgent,
    workspaceDir: row.workspaceDir,
    requestedTier: row.requestedTier as SandboxTier,
    grantedTier: row.grantedTier as SandboxTier,
    capabilities: row.capabilities,
    status: row.status as 'open' | 'closed',
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
  };
}

function toToken(row: TokenRow): ExecTokenRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    sessionId: row.sessionId,
    parentId: row.parentId,
    capabilities: row.capabilities,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    createdAt: row.createdAt,
  };
}

function toJob(row: JobRow): ExecJobRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    sessionId: row.sessionId,
    ownerAgent: row.ownerAgent,
    spec: (row.spec ?? {}) as Record<string, unknown>,
    capabilities: row.capabilities,
    limits: (row.limits ?? {}) as Record<string, number>,
    status: row.status as ExecJobStatus,
    exitCode: row.exitCode,
    signal: row.signal,
    error: (row.error ?? null) as ExecJobError | null,
    stalledPolicy: row.stalledPolicy === 'retry' ? 'retry' : 'fail',
    attempts: row.attempts,
    runnerId: row.runnerId,
    lastSeq: row.lastSeq,
    logBytes: Number(row.logBytes),
    startedAt: row.startedAt,
    endedAt: row.endedAt,
    createdAt: row.createdAt,
  };
}

function toMcpServer(row: McpRow): McpServerRecord {
  const headers: Record<string, string> = {};
  if (row.headers && typeof row.headers === 'object' && !Array.isArray(row.headers))
    for (const [k, v] of Object.entries(row.headers)) if (typeof v === 'string') headers[k] = v;
  return {
    id: row.id,
    orgId: row.orgId,
    name: row.name,
    url: row.url,
    headers,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}
