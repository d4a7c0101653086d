// AXME sessions (reference/axme-wire.md §1.3 "Sessions", SPEC §6, docs/sessions.md): a shared,
// ordered feed of messages that several agents and people of one org read and post to. Request
// schemas, feed event types and wire views. Workflow-safe: zod only.
import { z } from 'zod';

export const SESSION_STATUSES = ['ACTIVE', 'COMPLETED'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Every entry of a session's feed; seq is per session, gapless, from 1 (session.created). */
export const SESSION_EVENT_TYPES = ['session.created', 'session.message', 'session.completed'] as const;
export type SessionEventType = (typeof SESSION_EVENT_TYPES)[number];

/** Default cap on one message's content (AXLE_SESSION_MESSAGE_MAX_BYTES); larger ones are 413. */
export const SESSION_MESSAGE_MAX_BYTES_DEFAULT = 64 * 1024;

/** A short lower-case token: user, assistant, system, tool, agent, or a caller's own (reviewer, …). */
export const SESSION_ROLE_PATTERN = /^[a-z][a-z0-9_.-]{0,31}$/;
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/;

const jsonObject = z.record(z.string(), z.unknown());

/** `POST /v1/sessions`. Unknown fields are dropped, as on every AXP create route. */
export const createSessionSchema = z.object({
  type: z.string().min(1).max(64).regex(TOKEN, 'must be a short token (letters, digits, _ . : / -)'),
  project_id: z.string().min(1).max(255).nullable().optional(),
  parent_session_id: z.uuid().nullable().optional(),
  depends_on: z.array(z.string().min(1).max(255)).max(100).optional(),
  metadata: jsonObject.nullable().optional(),
});
export type CreateSessionRequest = z.infer<typeof createSessionSchema>;

/** `POST /v1/sessions/{id}/messages`: content is a string or any JSON value but null. */
export const postSessionMessageSchema = z.object({
  role: z.string().regex(SESSION_ROLE_PATTERN, 'must be a short lower-case token such as user or assistant'),
  content: z.unknown().refine((v) => v !== undefined && v !== null, { message: 'required' }),
  content_type: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/, 'must be a media type')
    .optional(),
});
export type PostSessionMessageRequest = z.infer<typeof postSessionMessageSchema>;

/** `POST /v1/sessions/{id}/complete` `{result?}` (the SDK may send no body). */
export const completeSessionSchema = z.object({
  result: z.unknown().optional(),
});

/** `GET /v1/sessions?status&parent_session_id&limit&cursor`: newest first, keyset cursor. */
export const listSessionsQuerySchema = z.object({
  status: z
    .string()
    .transform((v) => v.toUpperCase())
    .pipe(z.enum(SESSION_STATUSES))
    .optional(),
  parent_session_id: z.uuid().optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** `GET /v1/sessions/{id}/messages|feed?since&limit`: entries with seq > since, oldest first. */
export const sessionFeedQuerySchema = z.object({
  since: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** One session as `GET /v1/sessions/{id}` answers it. */
export type SessionView = {
  session_id: string;
  type: string;
  status: SessionStatus;
  project_id: string | null;
  parent_session_id: string | null;
  depends_on: string[];
  metadata: Record<string, unknown>;
  result: unknown;
  created_by: string;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  last_seq: number;
};

/** One message (a session.message feed entry). */
export type SessionMessageView = {
  message_id: string;
  seq: number;
  role: string;
  content: unknown;
  content_type: string;
  created_at: string;
  actor: string;
};

/** One feed entry; message fields on session.message, `result` on session.completed. */
export type SessionFeedEntryView = {
  session_id: string;
  seq: number;
  event_type: SessionEventType;
  actor: string;
  created_at: string;
} & Partial<Omit<SessionMessageView, 'seq' | 'created_at' | 'actor'>> & { result?: unknown; type?: string };
