export { EventBus } from './event-bus.service';
export {
  EventStreamService,
  type StreamBatch,
  type StreamFrame,
  type StreamSource,
} from './event-stream.service';
export { IntentEventsService } from './intent-events.service';
export { IntentQueries, isUuid } from './intent-queries.service';
export { IntentWorkflowClient } from './intent-workflow.client';
export { toEventView, toIntentView } from './intent.view';
export { IntentsModule } from './intents.module';
export { type ResumeIntentCommand, ResumeIntentUseCase } from './resume-intent.usecase';
export { type SubmitIntentCommand, SubmitIntentUseCase } from './submit-intent.usecase';
export { parseOrThrow } from './validation';
