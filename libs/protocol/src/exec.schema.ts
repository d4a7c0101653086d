// Request schemas and wire views of AXP exec (SPEC §7, docs/exec.md): sessions, capability tokens,
// jobs and their log frames. Workflow-safe: zod only.
import { z } from 'zod';
import {
  type Capability,
  type ExecJobStatus,
  parseCapability,
  SANDBOX_TIERS,
  type SandboxTier,
} from './exec';

/** Header carrying a session's capability token (also accepted as body or query `cap_token`). */
export const CAP_TOKEN_HEADER = 'x-axp-cap-token';
/** `axp_ct_` + 64 lower-case hex (32 random bytes); shown once, stored as SHA-256. */
export const CAP_TOKEN_PATTERN = /^axp_ct_[0-9a-f]{64}$/;

export const STALLED_POLICIES = ['fail', 'retry'] as const;
export type StalledPolicy = (typeof STALLED_POLICIES)[number];

export const EXEC_LANGUAGES = ['sh', 'bash', 'python', 'node'] as const;
export type ExecLanguage = (typeof EXEC_LANGUAGES)[number];

/** The Redis stream entry kinds of a job's log. `exit` is the last entry. */
export const EXEC_LOG_STREAMS = ['stdout', 'stderr', 'exit'] as const;
export type ExecLogStream = (typeof EXEC_LOG_STREAMS)[number];

/** A list of capability strings: one 422 entry per string that is not in the grammar. */
export const capabilityListSchema = z
  .array(z.string().max(4096))
  .max(256)
  .superRefine((list, ctx) => {
    list.forEach((text, i) => {
      if (!parseCapability(text))
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message:
            'not a capability: fs.read(/abs/path), fs.write(/abs/path), net.connect(host[:port]), proc.spawn or tool:<name>',
        });
    });
  })
  .transform((list) => dedupe(list.map((text) => parseCapability(text)!)));

function dedupe(caps: Capability[]): Capability[] {
  const seen = new Map<string, Capability>();
  for (const cap of caps) seen.set(JSON.stringify(cap), cap);
  return [...seen.values()];
}

const capTokenField = z.string().max(200).optional();

/** `POST /v1/exec/sessions`. `workspace` names a workspace of the caller (reused across sessions). */
export const openExecSessionSchema = z.object({
  workspace: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a name of 1-64 letters, digits, . _ -')
    .optional(),
  sandbox_tier: z.enum(SANDBOX_TIERS),
  capabilities: capabilityListSchema.default([]),
});

/** `POST /v1/exec/sessions/{id}/attenuate`. */
export const attenuateSchema = z.object({
  capabilities: capabilityListSchema,
  ttl_seconds: z.number().int().min(1).max(31_536_000),
  cap_token: capTokenField,
});

const positive = (max: number) => z.number().int().min(1).max(max);

export const execLimitsSchema = z.strictObject({
  cpu_seconds: positive(31_536_000).optional(),
  memory_bytes: positive(Number.MAX_SAFE_INTEGER).optional(),
  wall_seconds: positive(31_536_000).optional(),
  output_bytes: positive(Number.MAX_SAFE_INTEGER).optional(),
  max_processes: positive(1_000_000).optional(),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** `POST /v1/exec/jobs`: exactly one of `command` (argv) or `code` + `language`. */
export const createExecJobSchema = z
  .object({
    session_id: z.uuid(),
    command: z.array(z.string().max(65_536)).min(1).max(1024).optional(),
    code: z
      .string()
      .min(1)
      .max(512 * 1024)
      .optional(),
    language: z.enum(EXEC_LANGUAGES).optional(),
    env: z
      .record(z.string().regex(ENV_NAME, 'must be an environment variable name'), z.string().max(65_536))
      .refine((env) => Object.keys(env).length <= 256, 'at most 256 variables')
      .default({}),
    cwd: z.string().max(4096).optional(),
    timeout_ms: z.number().int().min(1).max(31_536_000_000).optional(),
    limits: execLimitsSchema.default({}),
    capabilities: capabilityListSchema.optional(),
    stalled_policy: z.enum(STALLED_POLICIES).default('fail'),
    cap_token: capTokenField,
  })
  .superRefine((body, ctx) => {
    const hasCommand = body.command !== undefined;
    const hasCode = body.code !== undefined;
    if (hasCommand === hasCode)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'give either command (argv) or code' });
    if (hasCode && body.language === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['language'],
        message: `required with code: ${EXEC_LANGUAGES.join(', ')}`,
      });
    if (body.command?.some((arg) => arg.includes('\0')))
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'arguments must not contain NUL' });
  });
export type CreateExecJobRequest = z.infer<typeof createExecJobSchema>;

/** Bodies of close and cancel: only the token may come in the body. */
export const capTokenBodySchema = z.object({ cap_token: capTokenField });

/** `GET /v1/exec/jobs/{id}/attach?since&cap_token`: replay after seq `since` (Last-Event-ID wins). */
export const attachQuerySchema = z.object({
  since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  cap_token: capTokenField,
});

export type ExecSessionView = {
  session_id: string;
  owner_agent: string;
  requested_tier: SandboxTier;
  granted_tier: SandboxTier;
  capabilities: string[];
  workspace: string;
  status: 'open' | 'closed';
  expires_at: string | null;
  created_at: string;
};

export type ExecJobView = {
  job_id: string;
  session_id: string;
  status: ExecJobStatus;
  exit_code: number | null;
  signal: string | null;
  error: { code: string; message: string } | null;
  capabilities: string[];
  limits: Record<string, number>;
  stalled_policy: StalledPolicy;
  attempts: number;
  log_bytes: number;
  last_seq: number;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
};

/** `data` of an SSE `log` frame: `data` is UTF-8 text, `data_b64` the bytes when they are not. */
export type ExecLogFrame = { seq: number; stream: 'stdout' | 'stderr'; data?: string; data_b64?: string };
/** `data` of the last SSE frame, `exit`. */
export type ExecExitFrame = {
  seq: number;
  status: ExecJobStatus;
  exit_code: number | null;
  signal: string | null;
  error: { code: string; message: string } | null;
};

/** `[a-z0-9][a-z0-9_-]*`: the prefix of an MCP server's tools (`<name>.<tool>`), so no dots. */
export const MCP_SERVER_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;

/** `POST /v1/exec/mcp-servers {name, url, headers?}` (operator+). Headers are never returned. */
export const registerMcpServerSchema = z.strictObject({
  name: z.string().regex(MCP_SERVER_NAME, 'must be 1-32 of a-z 0-9 _ - (starting with a letter or digit)'),
  url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048),
  headers: z
    .record(
      z.string().regex(HEADER_NAME, 'must be an HTTP header name'),
      z
        .string()
        .max(8192)
        .refine((v) => !/[\r\n\0]/.test(v), 'must not contain CR, LF or NUL'),
    )
    .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers')
    .default({}),
});

/** `POST /v1/exec/sessions/{id}/tools/{name}/call {input}`: `input` is checked against the tool's schema. */
export const toolCallSchema = z.object({
  input: z.record(z.string(), z.unknown()).default({}),
  cap_token: capTokenField,
});

/** An entry of `GET /v1/exec/sessions/{id}/index`: the name and one line (10-120 bytes). */
export type ToolIndexEntry = { name: string; desc: string };

export type McpServerView = {
  mcp_server_id: string;
  name: string;
  url: string;
  created_by: string;
  created_at: string;
};
