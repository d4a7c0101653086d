export { BulkCancelUseCase } from './bulk-cancel.usecase';
export { type ChangePolicyCommand, ChangePolicyUseCase } from './change-policy.usecase';
export {
  type DecidePolicyApprovalCommand,
  DecidePolicyApprovalUseCase,
} from './decide-policy-approval.usecase';
export { EventBus } from './event-bus.service';
export {
  EventStreamService,
  type StreamBatch,
  type StreamFrame,
  type StreamSource,
} from './event-stream.service';
export {
  assertTaskResult,
  assertValidTaskSpec,
  compileFormSchema,
  formInstance,
  type TaskResult,
  taskResultErrors,
} from './human-task';
export { actingAgent } from './intent-access';
export { workflowInput } from './intent-audit';
export { IntentEventsService } from './intent-events.service';
export { IntentPlanner } from './intent-planner.service';
export { IntentQueries } from './intent-queries.service';
export { IntentWorkflowClient } from './intent-workflow.client';
export { toEventView, toIntentView } from './intent.view';
export { IntentsModule } from './intents.module';
export { RecipientResolver, type ResolvedRecipient } from './recipient-resolver.service';
export { type ResolveIntentCommand, ResolveIntentUseCase } from './resolve-intent.usecase';
export {
  type HumanDecisionCommand,
  isAssignee,
  type ResumeIntentCommand,
  ResumeIntentUseCase,
} from './resume-intent.usecase';
export {
  type ScenarioSubmission,
  SUBMIT_ROUTE,
  type SubmitIntentCommand,
  SubmitIntentUseCase,
} from './submit-intent.usecase';
export { type TransferIntentCommand, TransferIntentUseCase } from './transfer-intent.usecase';
