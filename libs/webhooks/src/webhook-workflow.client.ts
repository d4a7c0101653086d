import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { temporalClientInterceptors } from '@axle/observability';
import {
  DependencyUnavailableError,
  WEBHOOK_WORKFLOW,
  type WebhookDeliveryWorkflowInput,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';

/** Starts delivery workflows: one per delivery round, id `webhook-delivery-<deliveryId>`. */
@Injectable()
export class WebhookWorkflowClient implements OnModuleDestroy {
  private readonly connection: Connection;
  private readonly client: Client;

  constructor(@Inject(AXLE_CONFIG) config: AxleConfig) {
    // Lazy: no connection until the first delivery, and none at all in a process that never starts one.
    this.connection = Connection.lazy({ address: config.temporal.address });
    this.client = new Client({
      connection: this.connection,
      namespace: config.temporal.namespace,
      interceptors: temporalClientInterceptors(),
    });
  }

  /**
   * Starts the round's workflow. Starting it again while it runs, or after it finished, is a no-op,
   * so a retried request never delivers a round twice; a run that failed or was terminated may be
   * started again for a delivery that is still pending.
   */
  async startDelivery(input: WebhookDeliveryWorkflowInput): Promise<void> {
    try {
      await this.client.workflow.start(WEBHOOK_WORKFLOW.type, {
        workflowId: WEBHOOK_WORKFLOW.workflowId(input.deliveryId),
        taskQueue: WEBHOOK_WORKFLOW.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        memo: input.traceId ? { traceId: input.traceId } : {},
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw toTemporalError(err);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

function toTemporalError(err: unknown): unknown {
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  if (/UNAVAILABLE|ECONNREFUSED|DEADLINE_EXCEEDED|connect|transport|14 /i.test(text))
    return new DependencyUnavailableError('temporal');
  return err;
}
