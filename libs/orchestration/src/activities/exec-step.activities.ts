import { type Principal } from '@axle/auth';
import { ExecRepository, IntentRepository, orgScope, RegistryRepository } from '@axle/data';
import { ExecJobService, ExecSessionService } from '@axle/exec';
import {
  AxleError,
  type ExecStepActivities,
  type ExecStepInput,
  type ExecStepJob,
  parseAgentAddress,
  TERMINAL_JOB_STATUSES,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 1000;

/**
 * The exec_job scenario step (SPEC §7): its job runs for the intent's sender through the same
 * session and job use cases as the API (capability checks, limits, audit), with a session of its
 * own whose cap token never leaves this activity (so it is not in the workflow's history).
 */
@Injectable()
export class ExecStepActivitiesService {
  constructor(
    private readonly intents: IntentRepository,
    private readonly registry: RegistryRepository,
    private readonly exec: ExecRepository,
    private readonly sessions: ExecSessionService,
    private readonly jobs: ExecJobService,
  ) {}

  /** A refused job (bad config, tier unavailable, capability denied) is the step's failure, not a retry. */
  async startExecJob(input: ExecStepInput): Promise<ExecStepJob> {
    const scope = orgScope(input.orgId);
    const intent = await this.intents.findById(scope, input.intentId);
    if (!intent) throw ApplicationFailure.nonRetryable(`intent ${input.intentId} not found`);
    const agent = await this.registry.findAgentByAddress(scope, intent.fromAgent);
    const principal: Principal = {
      kind: 'service_account',
      actorId: agent?.id ?? `intent:${intent.id}`,
      orgId: intent.orgId,
      orgSlug: parseAgentAddress(intent.fromAgent)?.org ?? '',
      workspaceId: intent.workspaceId,
      address: intent.fromAgent,
      role: 'member',
      platformAdmin: false,
    };
    const requestId = `${intent.id}:${input.stepId}:${input.run}`;
    const {
      sandbox_tier: tier,
      capabilities,
      command,
      code,
      language,
      env,
      cwd,
      limits,
      timeout_ms,
      stalled_policy,
    } = input.config;
    try {
      const session = await this.sessions.open({
        principal,
        requestId,
        capToken: undefined,
        body: { sandbox_tier: tier ?? 'kernel', capabilities: capabilities ?? ['proc.spawn'] },
      });
      const started = await this.jobs.create({
        principal,
        requestId,
        capToken: String(session.cap_token),
        body: {
          session_id: session.session_id,
          ...(command !== undefined ? { command } : { code, language }),
          ...(env !== undefined ? { env } : {}),
          ...(cwd !== undefined ? { cwd } : {}),
          ...(limits !== undefined ? { limits } : {}),
          ...(timeout_ms !== undefined ? { timeout_ms } : {}),
          ...(stalled_policy !== undefined ? { stalled_policy } : {}),
        },
      });
      return jobResult(String(started.job_id), 'pending', null, null);
    } catch (err) {
      if (!(err instanceof AxleError)) throw err;
      return jobResult('', 'failed', null, { code: err.code, message: err.message });
    }
  }

  async awaitExecJob({ orgId, jobId }: { orgId: string; jobId: string }): Promise<ExecStepJob> {
    for (;;) {
      const job = await this.exec.findJob(orgScope(orgId), jobId);
      if (!job) throw ApplicationFailure.nonRetryable(`exec job ${jobId} not found`);
      if (TERMINAL_JOB_STATUSES.has(job.status))
        return jobResult(job.id, job.status, job.exitCode, job.error);
      Context.current().heartbeat(job.status);
      await sleep(POLL_MS);
    }
  }

  /** As the cancel route does: running jobs are killed by their runner, pending ones leave the queue. */
  async cancelExecJob({ orgId, jobId }: { orgId: string; jobId: string }): Promise<void> {
    const scope = orgScope(orgId);
    const job = await this.exec.findJob(scope, jobId);
    if (job && !TERMINAL_JOB_STATUSES.has(job.status)) await this.jobs.stop(scope, job);
  }

  /** The object handed to the Temporal Worker: bound methods, named as the workflow calls them. */
  asActivities(): ExecStepActivities {
    return {
      startExecJob: this.startExecJob.bind(this),
      awaitExecJob: this.awaitExecJob.bind(this),
      cancelExecJob: this.cancelExecJob.bind(this),
    };
  }
}

function jobResult(jobId: string, status: string, exitCode: number | null, error: unknown): ExecStepJob {
  return {
    jobId,
    status,
    exitCode,
    error: error ?? null,
    logs: jobId ? `/v1/exec/jobs/${jobId}/attach` : '',
  };
}
