// Workflow interceptor module (bundled with the workflows: scripts/build.mjs, workflowInterceptorModules()):
// every activity the workflow schedules carries the workflow's trace id (the X-Trace-Id of the
// request that created it, kept in the memo) as a Temporal header, for the activity's log lines.
// It only adds a header: no command, timer or yield, so replaying existing histories is unaffected.
import { CORRELATION_HEADERS } from '@axle/protocol/workflow';
import {
  type ActivityInput,
  defaultPayloadConverter,
  workflowInfo,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

type Headers = ActivityInput['headers'];

function withTraceId(headers: Headers): Headers {
  const traceId = workflowInfo().memo?.traceId;
  if (typeof traceId !== 'string' || traceId === '') return headers;
  return { ...headers, [CORRELATION_HEADERS.traceId]: defaultPayloadConverter.toPayload(traceId) };
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      scheduleActivity: (input, next) => next({ ...input, headers: withTraceId(input.headers) }),
      scheduleLocalActivity: (input, next) => next({ ...input, headers: withTraceId(input.headers) }),
    },
  ],
});
