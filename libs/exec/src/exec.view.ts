import { type ExecJobRecord, type ExecSessionRecord } from '@axle/data';
import { type ExecJobView, type ExecSessionView } from '@axle/protocol';

export function toExecSessionView(session: ExecSessionRecord): ExecSessionView {
  return {
    session_id: session.id,
    owner_agent: session.ownerAgent,
    requested_tier: session.requestedTier,
    granted_tier: session.grantedTier,
    capabilities: session.capabilities,
    workspace: session.workspaceDir,
    status: session.status,
    expires_at: session.expiresAt?.toISOString() ?? null,
    created_at: session.createdAt.toISOString(),
  };
}

export function toExecJobView(job: ExecJobRecord): ExecJobView {
  return {
    job_id: job.id,
    session_id: job.sessionId,
    status: job.status,
    exit_code: job.exitCode,
    signal: job.signal,
    error: job.error,
    capabilities: job.capabilities,
    limits: job.limits,
    stalled_policy: job.stalledPolicy,
    attempts: job.attempts,
    log_bytes: job.logBytes,
    last_seq: job.lastSeq,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    ended_at: job.endedAt?.toISOString() ?? null,
  };
}
