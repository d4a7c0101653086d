// Axle's configuration (SPEC §1), read once at boot from defaults < AXLE_CONFIG_FILE < environment. A
// bad value stops start-up with a message that names the key. Nothing else in the code base reads
// process.env.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const bytes = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const WEBHOOK_BACKOFF_MS = z.coerce.number().int().min(1).max(86_400_000);
const WEBHOOK_BACKOFF_MAX_MS = z.coerce.number().int().min(1).max(604_800_000);
const PAYLOAD_BYTES = bytes(1024, 16 * 1024 * 1024);
const BODY_BYTES = bytes(1024, 256 * 1024 * 1024);
const MESH_DEGRADED_SECONDS = z.coerce.number().int().min(1).max(86_400);
const MESH_UNREACHABLE_SECONDS = z.coerce.number().int().min(2).max(604_800);
const boolFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL (${protocols.join(' or ')})` },
  );

/** A network in CIDR notation, parsed. */
export type CidrNetwork = { network: string; prefix: number; family: 'ipv4' | 'ipv6' };

/** Parses `a.b.c.d/n` or `x::/n`; null when it is not a CIDR. */
export function parseCidr(text: string): CidrNetwork | null {
  const [network = '', bits, ...rest] = text.trim().split('/');
  const version = isIP(network);
  if (!version || bits === undefined || rest.length > 0 || !/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  if (prefix > (version === 4 ? 32 : 128)) return null;
  return { network, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

const cidrList = z.string().transform((v, ctx) => {
  const networks: CidrNetwork[] = [];
  for (const part of v.split(',').filter((p) => p.trim() !== '')) {
    const parsed = parseCidr(part);
    if (parsed) networks.push(parsed);
    else
      ctx.addIssue({
        code: 'custom',
        message: `"${part.trim()}" is not a CIDR (like 10.0.0.0/8 or fd00::/8)`,
      });
  }
  return networks;
});

export const envSchema = z
  .object({
    /** A YAML or JSON file of these same keys, read before the environment (which wins). */
    AXLE_CONFIG_FILE: z.string().min(1).optional(),
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    AXLE_PORT: port.default(8100),
    AXLE_HOST: z.string().min(1).default('127.0.0.1'),
    AXLE_GRPC_PORT: port.default(8101),
    AXLE_WORKER_HEALTH_PORT: port.default(8102),
    AXLE_RUNNER_HEALTH_PORT: port.default(8103),
    AXLE_DATA_DIR: z.string().min(1).default('.axle'),
    DATABASE_URL: url(['postgresql:', 'postgres:']),
    REDIS_URL: url(['redis:', 'rediss:']),
    TEMPORAL_ADDRESS: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    AXLE_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AXLE_JWKS_URL: url(['https:', 'http:']).optional(),
    AXLE_BOOTSTRAP_API_KEY: z
      .string()
      .regex(
        /^axme_sa_[0-9a-f-]{36}_[0-9a-f]{32,128}$/,
        'must look like axme_sa_<uuid>_<hex secret of 32-128 chars>',
      )
      .optional(),
    SMTP_URL: url(['smtp:', 'smtps:']).optional(),
    AXLE_PUBLIC_URL: url(['http:', 'https:']).optional(),
    /** Lifetime of an email magic link (SPEC §6: 7 days). */
    AXLE_MAGIC_LINK_TTL_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(604_800),
    /** The From of task emails. */
    AXLE_MAIL_FROM: z.string().min(3).max(320).default('Axle <axle@localhost>'),
    AXLE_ADDRESSING: z.enum(['open', 'strict']).optional(),
    AXLE_MAX_PAYLOAD_BYTES: PAYLOAD_BYTES.default(131072),
    // http delivery binding (SPEC §5): backoff with jitter between attempts, per-endpoint breaker.
    AXLE_DELIVERY_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
    AXLE_DELIVERY_BACKOFF_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(600_000),
    AXLE_DELIVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
    AXLE_BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(1000).default(5),
    AXLE_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    /** How often the worker starts workflows for intents whose start was interrupted. */
    AXLE_RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    AXLE_IDEMPOTENCY_TTL_HOURS: z.coerce
      .number()
      .int()
      .min(24)
      .max(24 * 365)
      .default(48),
    // Webhook delivery retries (docs/webhooks.md).
    AXLE_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(5),
    AXLE_WEBHOOK_BACKOFF_MS: WEBHOOK_BACKOFF_MS.default(30_000),
    AXLE_WEBHOOK_BACKOFF_MAX_MS: WEBHOOK_BACKOFF_MAX_MS.default(600_000),
    /** Cap on one session message's content (docs/sessions.md); 413 above it. */
    AXLE_SESSION_MESSAGE_MAX_BYTES: bytes(256, 16 * 1024 * 1024).default(65536),
    /** Whole request body cap (413 above it); the intent payload has its own, smaller limit. */
    AXLE_MAX_BODY_BYTES: BODY_BYTES.default(1024 * 1024),
    /** Token bucket per API key and route; 0 turns rate limiting off. */
    AXLE_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(120),
    // Agent mesh (docs/mesh.md): health from heartbeat age; the SDKs send a heartbeat every 30 s, so
    // degraded = three missed beats, unreachable = five minutes of silence.
    AXLE_MESH_DEGRADED_AFTER_SECONDS: MESH_DEGRADED_SECONDS.default(90),
    AXLE_MESH_UNREACHABLE_AFTER_SECONDS: MESH_UNREACHABLE_SECONDS.default(300),
    /** Longest wait between re-checks of a killed agent by a held http delivery. */
    AXLE_MESH_KILLED_RECHECK_MAX_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    /**
     * Token bucket per agent (all its keys, all routes) unless the agent has its own
     * rate_limit_per_minute; 0 turns the default per-agent bucket off.
     */
    AXLE_AGENT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(600),
    // Sandboxed execution (docs/exec.md). Tier none confines nothing: development and tests only.
    AXLE_EXEC_ALLOW_NONE: boolFlag.default(false),
    /** Outbound calls to user-given URLs may reach non-public addresses (default: not in production). */
    AXLE_EGRESS_ALLOW_PRIVATE: boolFlag.optional(),
    /** Non-public networks they may reach anyway (in-cluster agents), comma-separated CIDRs. */
    AXLE_EGRESS_ALLOWED_CIDRS: cidrList.default([]),
    /** Where session workspaces live; default <AXLE_DATA_DIR>/exec/workspaces. */
    AXLE_EXEC_WORKSPACES_DIR: z.string().min(1).optional(),
    AXLE_EXEC_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(86_400),
    // Ceilings a job's limits are clamped to (and the defaults of a job that names none).
    AXLE_EXEC_MAX_CPU_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
    AXLE_EXEC_MAX_MEMORY_BYTES: bytes(16 * 1024 * 1024, 1024 ** 4).default(2 * 1024 ** 3),
    AXLE_EXEC_MAX_WALL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(3600),
    AXLE_EXEC_MAX_OUTPUT_BYTES: bytes(1024, 1024 ** 3).default(64 * 1024 * 1024),
    AXLE_EXEC_MAX_PROCESSES: z.coerce.number().int().min(1).max(65_536).default(256),
    /** How long a finished job's log stream stays in Redis. */
    AXLE_EXEC_LOG_TTL_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(604_800),
    // The runner pool: jobs per runner process; BullMQ's lock and stalled-job check (a runner that
    // died mid-job is noticed after about lock duration + stalled interval).
    AXLE_RUNNER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
    AXLE_RUNNER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    AXLE_RUNNER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),
    /** Attempts of a job with stalled_policy retry (its first run included) before it fails runner_lost. */
    AXLE_RUNNER_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
    /**
     * Workflow executions the worker keeps in its sticky cache (Temporal's maxCachedWorkflows); each
     * costs memory in the workflow thread's V8 heap, a miss only costs a replay. 0 turns the cache
     * off; 1 is not allowed by Temporal. Size it with the heap limit (docs/operations.md "Memory").
     */
    AXLE_WORKER_MAX_CACHED_WORKFLOWS: z.coerce
      .number()
      .int()
      .min(0)
      .max(100_000)
      .refine((n) => n !== 1, 'must be 0 (no cache) or at least 2')
      .default(64),
    /**
     * A job row still `pending` this long after its creation is queued again by the runners (its
     * gateway died between writing the row and queueing it); queueing is idempotent per job id.
     */
    AXLE_RUNNER_REQUEUE_AFTER_MS: z.coerce.number().int().min(1000).max(3_600_000).default(30_000),
    /** On SIGTERM a runner takes no new jobs and gives running ones this long to finish. */
    AXLE_RUNNER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    /**
     * On SIGTERM the gateway stops accepting, ends open streams with a resume hint and gives in-flight
     * requests this long; the worker gives running activities as long. Keep it under the pod's
     * terminationGracePeriodSeconds.
     */
    AXLE_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(20),
    // OpenTelemetry tracing (docs/operations.md): off unless an exporter is chosen.
    AXLE_TRACING_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
    /** OTLP/HTTP base URL (the collector's :4318); traces go to <url>/v1/traces. */
    OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).default('http://127.0.0.1:4318'),
    AXLE_TRACING_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
  })
  .superRefine((env, ctx) => {
    // Cross-field rules, checked only when both values are valid on their own (otherwise their own
    // issue already names them).
    const base = WEBHOOK_BACKOFF_MS.safeParse(env.AXLE_WEBHOOK_BACKOFF_MS);
    const ceiling = WEBHOOK_BACKOFF_MAX_MS.safeParse(env.AXLE_WEBHOOK_BACKOFF_MAX_MS);
    if (base.success && ceiling.success && ceiling.data < base.data)
      ctx.addIssue({
        code: 'custom',
        path: ['AXLE_WEBHOOK_BACKOFF_MAX_MS'],
        message: 'must be at least AXLE_WEBHOOK_BACKOFF_MS',
      });
    const body = BODY_BYTES.safeParse(env.AXLE_MAX_BODY_BYTES);
    const payload = PAYLOAD_BYTES.safeParse(env.AXLE_MAX_PAYLOAD_BYTES);
    if (body.success && payload.success && body.data < payload.data)
      ctx.addIssue({
        code: 'custom',
        path: ['AXLE_MAX_BODY_BYTES'],
        message: `must be at least AXLE_MAX_PAYLOAD_BYTES (${env.AXLE_MAX_PAYLOAD_BYTES})`,
      });
    const degraded = MESH_DEGRADED_SECONDS.safeParse(env.AXLE_MESH_DEGRADED_AFTER_SECONDS);
    const unreachable = MESH_UNREACHABLE_SECONDS.safeParse(env.AXLE_MESH_UNREACHABLE_AFTER_SECONDS);
    if (degraded.success && unreachable.success && unreachable.data <= degraded.data)
      ctx.addIssue({
        code: 'custom',
        path: ['AXLE_MESH_UNREACHABLE_AFTER_SECONDS'],
        message: `must be greater than AXLE_MESH_DEGRADED_AFTER_SECONDS (${degraded.data})`,
      });
  })
  .transform((env) => ({
    nodeEnv: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    dataDir: env.AXLE_DATA_DIR,
    http: { host: env.AXLE_HOST, port: env.AXLE_PORT, grpcPort: env.AXLE_GRPC_PORT },
    health: { workerPort: env.AXLE_WORKER_HEALTH_PORT, runnerPort: env.AXLE_RUNNER_HEALTH_PORT },
    database: { url: env.DATABASE_URL },
    redis: { url: env.REDIS_URL },
    temporal: { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE },
    auth: {
      jwtSecret: env.AXLE_JWT_SECRET ?? null,
      jwksUrl: env.AXLE_JWKS_URL ?? null,
      bootstrapApiKey: env.AXLE_BOOTSTRAP_API_KEY ?? null,
    },
    smtpUrl: env.SMTP_URL ?? null,
    publicUrl: (env.AXLE_PUBLIC_URL ?? `http://127.0.0.1:${env.AXLE_PORT}`).replace(/\/+$/, ''),
    humans: { magicLinkTtlSeconds: env.AXLE_MAGIC_LINK_TTL_SECONDS, mailFrom: env.AXLE_MAIL_FROM },
    // Open addressing is for local development; production defaults to strict (SPEC §2).
    addressing: env.AXLE_ADDRESSING ?? (env.NODE_ENV === 'production' ? 'strict' : 'open'),
    egress: {
      allowPrivate: env.AXLE_EGRESS_ALLOW_PRIVATE ?? env.NODE_ENV !== 'production',
      allowedCidrs: env.AXLE_EGRESS_ALLOWED_CIDRS,
    },
    delivery: {
      backoffMs: env.AXLE_DELIVERY_BACKOFF_MS,
      backoffMaxMs: Math.max(env.AXLE_DELIVERY_BACKOFF_MAX_MS, env.AXLE_DELIVERY_BACKOFF_MS),
      timeoutMs: env.AXLE_DELIVERY_TIMEOUT_MS,
      breakerThreshold: env.AXLE_BREAKER_THRESHOLD,
      breakerCooldownMs: env.AXLE_BREAKER_COOLDOWN_MS,
    },
    reconcileIntervalSeconds: env.AXLE_RECONCILE_INTERVAL_SECONDS,
    limits: {
      maxPayloadBytes: env.AXLE_MAX_PAYLOAD_BYTES,
      idempotencyTtlHours: env.AXLE_IDEMPOTENCY_TTL_HOURS,
      maxBodyBytes: env.AXLE_MAX_BODY_BYTES,
      sessionMessageMaxBytes: env.AXLE_SESSION_MESSAGE_MAX_BYTES,
    },
    webhooks: {
      maxAttempts: env.AXLE_WEBHOOK_MAX_ATTEMPTS,
      backoffMs: env.AXLE_WEBHOOK_BACKOFF_MS,
      backoffMaxMs: env.AXLE_WEBHOOK_BACKOFF_MAX_MS,
    },
    rateLimit: {
      perMinute: env.AXLE_RATE_LIMIT_PER_MINUTE,
      agentPerMinute: env.AXLE_AGENT_RATE_LIMIT_PER_MINUTE,
    },
    mesh: {
      degradedAfterSeconds: env.AXLE_MESH_DEGRADED_AFTER_SECONDS,
      unreachableAfterSeconds: env.AXLE_MESH_UNREACHABLE_AFTER_SECONDS,
      killedRecheckMaxSeconds: env.AXLE_MESH_KILLED_RECHECK_MAX_SECONDS,
    },
    exec: {
      allowNone: env.AXLE_EXEC_ALLOW_NONE,
      workspacesDir: resolve(env.AXLE_EXEC_WORKSPACES_DIR ?? join(env.AXLE_DATA_DIR, 'exec', 'workspaces')),
      sessionTtlSeconds: env.AXLE_EXEC_SESSION_TTL_SECONDS,
      ceilings: {
        cpu_seconds: env.AXLE_EXEC_MAX_CPU_SECONDS,
        memory_bytes: env.AXLE_EXEC_MAX_MEMORY_BYTES,
        wall_seconds: env.AXLE_EXEC_MAX_WALL_SECONDS,
        output_bytes: env.AXLE_EXEC_MAX_OUTPUT_BYTES,
        max_processes: env.AXLE_EXEC_MAX_PROCESSES,
      },
      logTtlSeconds: env.AXLE_EXEC_LOG_TTL_SECONDS,
    },
    runner: {
      concurrency: env.AXLE_RUNNER_CONCURRENCY,
      lockDurationMs: env.AXLE_RUNNER_LOCK_DURATION_MS,
      stalledIntervalMs: env.AXLE_RUNNER_STALLED_INTERVAL_MS,
      maxAttempts: env.AXLE_RUNNER_MAX_ATTEMPTS,
      requeueAfterMs: env.AXLE_RUNNER_REQUEUE_AFTER_MS,
      shutdownGraceSeconds: env.AXLE_RUNNER_SHUTDOWN_GRACE_SECONDS,
    },
    shutdownGraceSeconds: env.AXLE_SHUTDOWN_GRACE_SECONDS,
    worker: { maxCachedWorkflows: env.AXLE_WORKER_MAX_CACHED_WORKFLOWS },
    tracing: {
      exporter: env.AXLE_TRACING_EXPORTER,
      otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, ''),
      sampleRatio: env.AXLE_TRACING_SAMPLE_RATIO,
    },
  }));

export type AxleConfig = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: { key: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Layered configuration: the schema's defaults, then the file named by AXLE_CONFIG_FILE (YAML or
 * JSON, a flat map of the same keys as the environment), then the environment. A bad value names its
 * key and, when it came from the file, the file. Throws ConfigError listing every bad key.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): AxleConfig {
  // Empty strings mean "unset", as in most shells' `FOO= cmd`.
  const fromEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const file = fromEnv.AXLE_CONFIG_FILE ? readConfigFile(fromEnv.AXLE_CONFIG_FILE) : {};
  const merged: Record<string, string | undefined> = { ...file, ...fromEnv };
  const parsed = envSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '(environment)');
      // zod does not report the input; a set key with a bad value (AXLE_PORT=abc) is not "required".
      // The value itself is not echoed: it may be a secret (a URL with a password).
      const message =
        issue.code === 'invalid_type' && merged[key] === undefined ? 'is required' : issue.message;
      const source = key in file && !(key in fromEnv) ? ` (from ${fromEnv.AXLE_CONFIG_FILE})` : '';
      return { key, message: `${message}${source}` };
    }),
  );
}

const CONFIG_KEYS = new Set(Object.keys(envSchema.in.shape));

/** Reads AXLE_CONFIG_FILE into string values; an unreadable file or an unknown key is a ConfigError. */
function readConfigFile(path: string): Record<string, string> {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError([{ key: 'AXLE_CONFIG_FILE', message: `cannot read ${path}: ${reason}` }]);
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document))
    throw new ConfigError([{ key: 'AXLE_CONFIG_FILE', message: `${path} must hold a map of KEY: value` }]);
  const issues: { key: string; message: string }[] = [];
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(document)) {
    if (!CONFIG_KEYS.has(key) || key === 'AXLE_CONFIG_FILE')
      issues.push({ key, message: `is not a configuration key (in ${path})` });
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      values[key] = String(value);
    else if (value !== null)
      issues.push({ key, message: `must be a string, number or boolean (in ${path})` });
  }
  if (issues.length) throw new ConfigError(issues);
  return values;
}

/** For an app's main(): a bad configuration prints every bad key and exits 1 before anything starts. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): AxleConfig {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
