import { type CorrelationContext, type Logger, runWithCorrelation, type Tracing } from '@axle/observability';
import { CORRELATION_HEADERS, WORKFLOW_TYPES } from '@axle/protocol';
import { type Context } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import {
  type ActivityExecuteInput,
  type ActivityInboundCallsInterceptor,
  type ActivityInterceptorsFactory,
  type InjectedSinks,
  type Next,
} from '@temporalio/worker';

/**
 * Runs every activity in a correlation context, so its log lines carry `intent_id` (the intent the
 * activity works for) and `trace_id` (the X-Trace-Id the workflow passes in a header); logs each
 * activity's end at debug and a failure at info.
 */
export class CorrelationActivityInterceptor implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly logger: Logger,
  ) {}

  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const { info } = this.ctx;
    const correlation: CorrelationContext = {
      traceId: traceIdOf(input.headers),
      intentId: intentIdOf(info, input.args),
    };
    return runWithCorrelation(correlation, async () => {
      const started = Date.now();
      const fields = {
        activity: info.activityType,
        attempt: info.attempt,
        workflow_id: info.workflowExecution?.workflowId,
      };
      try {
        const result = await next(input);
        this.logger.debug({ ...fields, duration_ms: Date.now() - started }, 'activity completed');
        return result;
      } catch (err) {
        this.logger.info(
          {
            ...fields,
            duration_ms: Date.now() - started,
            err: err instanceof Error ? err.message : String(err),
          },
          'activity failed',
        );
        throw err;
      }
    });
  }
}

function traceIdOf(headers: ActivityExecuteInput['headers']): string | null {
  const payload = headers[CORRELATION_HEADERS.traceId];
  if (!payload) return null;
  try {
    const value: unknown = defaultPayloadConverter.fromPayload(payload);
    return typeof value === 'string' && value !== '' ? value : null;
  } catch {
    return null;
  }
}

/** The `intentId` of the activity's input, else the workflow id of an intent workflow (the intent id). */
function intentIdOf(info: Context['info'], args: readonly unknown[]): string | null {
  const first = args[0];
  if (first && typeof first === 'object' && 'intentId' in first && typeof first.intentId === 'string')
    return first.intentId;
  return info.workflowType === WORKFLOW_TYPES.intent ? (info.workflowExecution?.workflowId ?? null) : null;
}

/**
 * The worker's tracing options: an activity span (`RunActivity:<name>`) continuing the workflow's
 * trace and the correlation context for logs, and the `exporter` sink OpenTelemetry's workflow
 * interceptors (in the traced bundle, workflowInterceptorModules(true)) hand their spans to. With
 * tracing off the sink drops them: it is registered anyway, since a workflow calling a missing sink
 * logs an error (replaying a history with the traced bundle, say).
 */
export function workerTracingOptions(
  tracing: Tracing | undefined,
  logger: Logger,
): { activityInterceptors: ActivityInterceptorsFactory[]; sinks: InjectedSinks<OpenTelemetrySinks> } {
  const exporter: InjectedSinks<OpenTelemetrySinks>['exporter'] =
    tracing?.spanProcessor && tracing.resource
      ? makeWorkflowExporter(tracing.spanProcessor, tracing.resource)
      : { export: { fn: () => undefined } };
  return {
    activityInterceptors: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) }),
      (ctx) => ({ inbound: new CorrelationActivityInterceptor(ctx, logger) }),
    ],
    sinks: { exporter },
  };
}
