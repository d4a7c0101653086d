import { type ClientInterceptors } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';

/**
 * The interceptors of every Temporal Client that starts, signals or updates workflows (the intent
 * and webhook workflow clients): each call gets a client span (`StartWorkflow:…`,
 * `StartWorkflowUpdate:…`) whose context travels to the workflow in a header. With tracing off
 * the spans are no-ops and the header carries nothing.
 */
export function temporalClientInterceptors(): ClientInterceptors {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}
