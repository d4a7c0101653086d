import { type Principal, tenantScopeOf } from '@axle/auth';
import { IntentRepository } from '@axle/data';
import {
  AxleError,
  bulkCancelSchema,
  INTENT_STATUSES,
  isTerminal,
  parseOrThrow,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { ResolveIntentUseCase } from './resolve-intent.usecase';

/**
 * `POST /v1/intents/bulk-cancel` (CLI `intents cleanup`): cancels stale non-terminal intents the
 * caller sent (any in scope for a platform admin), each through its workflow like a single resolve.
 */
@Injectable()
export class BulkCancelUseCase {
  constructor(
    private readonly intents: IntentRepository,
    private readonly resolve: ResolveIntentUseCase,
  ) {}

  async execute(cmd: {
    principal: Principal;
    body: unknown;
    requestId: string;
  }): Promise<Record<string, unknown>> {
    const body = parseOrThrow(bulkCancelSchema, cmd.body ?? {});
    const wanted =
      body.status_filter?.map((s) => s.toUpperCase()) ?? INTENT_STATUSES.filter((s) => !isTerminal(s));
    const bad = wanted.filter((s) => !(INTENT_STATUSES as readonly string[]).includes(s));
    if (bad.length > 0)
      throw new ValidationFailedError([
        {
          path: 'status_filter',
          loc: ['body', 'status_filter'],
          message: `unknown status ${bad.join(', ')}`,
          type: 'enum',
        },
      ]);
    const candidates = await this.intents.list(tenantScopeOf(cmd.principal), {
      statuses: wanted.filter((s) => !isTerminal(s as never)),
      ...(cmd.principal.platformAdmin ? {} : { fromAgent: cmd.principal.address }),
      createdBefore: new Date(Date.now() - body.older_than_hours * 3_600_000),
      limit: body.limit,
    });
    const ids = candidates.map((i) => i.id);
    if (body.dry_run) return { ok: true, dry_run: true, would_cancel: ids.length, intent_ids: ids };
    const canceled: string[] = [];
    const failed: { intent_id: string; code: string }[] = [];
    for (const id of ids) {
      try {
        await this.resolve.execute({
          principal: cmd.principal,
          intentId: id,
          body: { status: 'CANCELED', reason: body.reason },
          requestId: cmd.requestId,
        });
        canceled.push(id);
      } catch (err) {
        // One intent that ended meanwhile must not stop the rest.
        if (!(err instanceof AxleError) || err.kind === 'unavailable') throw err;
        failed.push({ intent_id: id, code: err.code });
      }
    }
    return { ok: true, dry_run: false, canceled: canceled.length, intent_ids: canceled, failed };
  }
}
