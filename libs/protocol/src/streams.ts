// Event fan-out and SSE contracts. Redis carries only wake-up notices; events are always read from
// PostgreSQL, so a missed notice delays a stream but never loses or reorders an event.
import { WEBHOOK_HEADERS } from './webhooks';

export const REDIS_CHANNELS = {
  intentEvents: (intentId: string) => `axle:intent-events:${intentId}`,
  agentStream: (address: string) => `axle:agent-stream:${address}`,
  /** A session's feed (docs/sessions.md): one notice per appended entry. */
  sessionFeed: (sessionId: string) => `axle:session-feed:${sessionId}`,
  /** Cancel requests for exec jobs (docs/exec.md): the message is the job id; every runner listens. */
  execCancel: 'axle:exec:cancel',
} as const;

export const SSE_EVENTS = {
  timeout: 'stream.timeout',
  /** The last frame of a stream a draining gateway ends: `{ok:false, next_seq, retry_after_ms}`. */
  interrupted: 'stream.interrupted',
} as const;

/** The wire shape of one intent event (reference §1.4 "Events list"). */
export type IntentEventView = {
  intent_id: string;
  seq: number;
  event_type: string;
  status: string;
  waiting_reason: string | null;
  handler: string | null;
  actor: string | null;
  at: string;
  details: Record<string, unknown>;
};

/** Headers of an http delivery to an agent's callback_url (SPEC §5); signed like webhooks. */
export const DELIVERY_HEADERS = {
  signature: WEBHOOK_HEADERS.signature,
  timestamp: WEBHOOK_HEADERS.timestamp,
  intentId: 'x-axme-intent-id',
  attempt: 'x-axme-delivery-attempt',
} as const;
