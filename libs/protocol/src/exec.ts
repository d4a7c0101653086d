// AXP exec contracts (SPEC §7, reference/agent-protocols.md §1): sandbox tiers, the capability
// grammar and its narrowing rule, the job payload on the BullMQ queue, the Redis stream of a job's
// output, and the sandbox spec the runner hands to @axle/sandbox. Pure and workflow-safe.

export const SANDBOX_TIERS = ['none', 'process', 'kernel'] as const;
export type SandboxTier = (typeof SANDBOX_TIERS)[number];

export const EXEC_JOB_STATUSES = ['pending', 'running', 'exited', 'killed', 'failed'] as const;
export type ExecJobStatus = (typeof EXEC_JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: ReadonlySet<ExecJobStatus> = new Set(['exited', 'killed', 'failed']);

/** One granted capability, parsed. Paths are absolute and normalized; `port: null` means any port. */
export type Capability =
  | { kind: 'fs.read' | 'fs.write'; path: string }
  | { kind: 'net.connect'; host: string; port: number | null }
  | { kind: 'proc.spawn' }
  | { kind: 'tool'; name: string };

const PATH_CAP = /^(fs\.read|fs\.write)\((\/[^()\0]*)\)$/;
const NET_CAP = /^net\.connect\(([A-Za-z0-9.-]{1,253}|\[[0-9a-fA-F:]{2,39}\])(?::(\d{1,5}))?\)$/;
// Tool names: built-ins are lower case; MCP tools are `<server>.<tool>` with the server's own (case
// sensitive) tool name; a name two providers share is qualified `<provider>:<name>`.
const TOOL_CAP = /^tool:([A-Za-z0-9][A-Za-z0-9_.:-]{0,191})$/;

/** Parses `fs.read(/data)`, `fs.write(/tmp/x)`, `net.connect(host[:port])`, `proc.spawn`, `tool:name`. */
export function parseCapability(text: string): Capability | null {
  if (text === 'proc.spawn') return { kind: 'proc.spawn' };
  const path = PATH_CAP.exec(text);
  if (path) {
    const normalized = normalizePath(path[2]!);
    return normalized ? { kind: path[1] as 'fs.read' | 'fs.write', path: normalized } : null;
  }
  const net = NET_CAP.exec(text);
  if (net) {
    const port = net[2] === undefined ? null : Number(net[2]);
    if (port !== null && (port < 1 || port > 65_535)) return null;
    return { kind: 'net.connect', host: net[1]!.toLowerCase(), port };
  }
  const tool = TOOL_CAP.exec(text);
  return tool ? { kind: 'tool', name: tool[1]! } : null;
}

export function formatCapability(cap: Capability): string {
  switch (cap.kind) {
    case 'proc.spawn':
      return 'proc.spawn';
    case 'tool':
      return `tool:${cap.name}`;
    case 'net.connect':
      return `net.connect(${cap.host}${cap.port === null ? '' : `:${cap.port}`})`;
    case 'fs.read':
    case 'fs.write':
      return `${cap.kind}(${cap.path})`;
  }
}

/** `/a/./b/../c/` → `/a/c`; a path that climbs above `/` is refused (null). */
export function normalizePath(path: string): string | null {
  if (!path.startsWith('/')) return null;
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** Whether `inner` is covered by `outer`: a job or an attenuated token may only narrow. */
export function capabilityCovers(outer: Capability, inner: Capability): boolean {
  if (outer.kind !== inner.kind)
    return outer.kind === 'fs.write' && inner.kind === 'fs.read' && under(outer.path, inner.path);
  switch (outer.kind) {
    case 'proc.spawn':
      return true;
    case 'tool':
      return outer.name === (inner as { name: string }).name;
    case 'net.connect': {
      const i = inner as { host: string; port: number | null };
      return outer.host === i.host && (outer.port === null || outer.port === i.port);
    }
    case 'fs.read':
    case 'fs.write':
      return under(outer.path, (inner as { path: string }).path);
  }
}

function under(root: string, path: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/** The requested capabilities that no granted one covers (empty = the request only narrows). */
export function uncoveredCapabilities(
  granted: readonly Capability[],
  requested: readonly Capability[],
): Capability[] {
  return requested.filter((r) => !granted.some((g) => capabilityCovers(g, r)));
}

/** Resource limits of one job; the defaults and ceilings are configuration (libs/config). */
export type ExecLimits = {
  cpu_seconds: number;
  memory_bytes: number;
  wall_seconds: number;
  output_bytes: number;
  max_processes: number;
};

/**
 * What the gateway (or the worker's exec_job step) puts on the BullMQ queue: the job's row holds
 * everything else. The submitter's trace travels with it (docs/tracing.md): W3C `traceparent` /
 * `tracestate` of the span that queued it (absent when tracing is off) and its X-Trace-Id.
 */
export type ExecJobData = {
  jobId: string;
  orgId: string;
  traceparent?: string;
  tracestate?: string;
  traceId?: string;
};

/** The Redis stream of a job's output: entries `{seq, stream: stdout|stderr|exit, data}` (raw bytes; older entries `data_b64`). */
export const execLogStreamKey = (jobId: string) => `axle:exec:log:${jobId}`;
/** Set (with a TTL) when a job's cancel was asked, so a runner that picks it up later still kills it. */
export const execCancelKey = (jobId: string) => `axle:exec:cancel:${jobId}`;
/**
 * Hash of live runners: field = runner id, value = {@link RunnerReport} as JSON. Runners refresh
 * theirs; the gateway offers the tiers some live runner enforces.
 */
export const EXEC_RUNNERS_KEY = 'axle:exec:runners';
export type RunnerReport = { tiers: SandboxTier[]; reported_at: number };

/**
 * What the runner asks @axle/sandbox to run. Paths are host paths; `cwd` is inside the session's
 * workspace. What is not listed is not reachable from inside the sandbox (tiers `process`, `kernel`).
 */
export type SandboxSpec = {
  tier: SandboxTier;
  argv: string[];
  cwd: string;
  /** The session's workspace, read-write inside the sandbox (default: `cwd`). */
  workspace?: string;
  env: Record<string, string>;
  fsRead: string[];
  fsWrite: string[];
  net: { host: string; port: number | null }[];
  limits: ExecLimits;
};
