import {
  type Capability,
  type ExecLanguage,
  type ExecLimits,
  normalizePath,
  parseCapability,
  type SandboxSpec,
  type SandboxTier,
} from '@axle/protocol';
import { join } from 'node:path';

/** What a job row's `spec` holds: the argv, its environment and its cwd relative to the workspace. */
export type StoredJobSpec = {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** The tool this job runs for (a tool call), e.g. `read_file` or `github.search`. */
  tool?: string;
  /** An MCP tool call: the runner calls the server instead of spawning anything. */
  mcp?: StoredMcpCall;
};

/** A job that is an MCP `tools/call`: the server (by id), the server's own tool name and the arguments. */
export type StoredMcpCall = {
  server_id: string;
  server: string;
  tool: string;
  arguments: Record<string, unknown>;
};

const LIMIT_KEYS = ['cpu_seconds', 'memory_bytes', 'wall_seconds', 'output_bytes', 'max_processes'] as const;

/**
 * A job's limits: each requested one clamped to its configured ceiling, the ceiling where none was
 * asked; `timeout_ms` (rounded up to seconds) is the wall-time limit unless `limits.wall_seconds` is given.
 */
export function clampLimits(
  requested: Partial<ExecLimits>,
  ceilings: ExecLimits,
  timeoutMs?: number,
): ExecLimits {
  const wanted: Partial<ExecLimits> = {
    ...requested,
    ...(requested.wall_seconds === undefined && timeoutMs !== undefined
      ? { wall_seconds: Math.ceil(timeoutMs / 1000) }
      : {}),
  };
  const out = { ...ceilings };
  for (const key of LIMIT_KEYS) {
    const value = wanted[key];
    if (value !== undefined) out[key] = Math.min(value, ceilings[key]);
  }
  return out;
}

/** The argv of a code job: the interpreter with the code as its program text (no shell quoting). */
export function codeArgv(language: ExecLanguage, code: string): string[] {
  switch (language) {
    case 'sh':
      return ['sh', '-c', code];
    case 'bash':
      return ['bash', '-c', code];
    case 'python':
      return ['python3', '-c', code];
    case 'node':
      return ['node', '-e', code];
  }
}

/** `cwd` relative to the workspace, normalized; null when it would leave the workspace. */
export function workspaceRelative(cwd: string | undefined): string | null {
  if (cwd === undefined || cwd === '' || cwd === '.') return '';
  if (cwd.startsWith('/') || cwd.includes('\0')) return null;
  const normalized = normalizePath(`/${cwd}`);
  return normalized === null ? null : normalized.slice(1);
}

export function parseCapabilities(list: readonly string[]): Capability[] {
  return list.map((text) => parseCapability(text)).filter((cap): cap is Capability => cap !== null);
}

/**
 * The sandbox spec of a job: its argv, env and cwd, the workspace readable and writable, the
 * filesystem and network grants of its capabilities, and its limits.
 */
export function sandboxSpecOf(
  job: { spec: StoredJobSpec; capabilities: readonly string[]; limits: ExecLimits },
  session: { grantedTier: SandboxTier; workspaceDir: string },
): SandboxSpec {
  const caps = parseCapabilities(job.capabilities);
  const paths = (kind: 'fs.read' | 'fs.write') =>
    caps.flatMap((c) => (c.kind === kind ? [c.path] : [])).filter((p) => p !== session.workspaceDir);
  return {
    tier: session.grantedTier,
    workspace: session.workspaceDir,
    argv: job.spec.argv,
    cwd: join(session.workspaceDir, job.spec.cwd),
    env: job.spec.env,
    fsRead: [session.workspaceDir, ...paths('fs.read')],
    fsWrite: [session.workspaceDir, ...paths('fs.write')],
    net: caps.flatMap((c) => (c.kind === 'net.connect' ? [{ host: c.host, port: c.port }] : [])),
    limits: job.limits,
  };
}
