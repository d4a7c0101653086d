// The built-in tools of exec sessions (docs/exec.md "Tools"): run_command, read_file, write_file.
// Each runs as a short job in the session's sandbox, so the sandbox itself enforces the filesystem
// grants; the gateway also refuses paths outside them before queueing anything.
import { type Capability, normalizePath } from '@axle/protocol';
import { isAbsolute, join } from 'node:path';
import { type ToolDefinition, type ToolProvider } from './catalog';

export const BUILTIN_PROVIDER = 'builtin';

/** The largest `content` write_file takes (it travels in the job's environment). */
export const WRITE_FILE_MAX_BYTES = 64 * 1024;

const SCHEMA = 'https://json-schema.org/draft/2020-12/schema';

export const BUILTIN_TOOLS: readonly ToolDefinition[] = [
  {
    name: 'run_command',
    desc: 'Run a command (argv, no shell) in the session sandbox; its output is the job log',
    signature: 'run_command(argv: string[], cwd?: string): job',
    schema: {
      $schema: SCHEMA,
      type: 'object',
      properties: {
        argv: {
          type: 'array',
          items: { type: 'string', maxLength: 65_536 },
          minItems: 1,
          maxItems: 1024,
          description: 'the program and its arguments',
        },
        cwd: { type: 'string', maxLength: 4096, description: 'relative to the workspace' },
      },
      required: ['argv'],
      additionalProperties: false,
    },
  },
  {
    name: 'read_file',
    desc: 'Read a file of the workspace (or a path granted by fs.read); the content is the job output',
    signature: 'read_file(path: string): string',
    schema: {
      $schema: SCHEMA,
      type: 'object',
      properties: {
        path: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description: 'absolute, or relative to the workspace',
        },
      },
      required: ['path'],
      additionalProperties: false,
    },
  },
  {
    name: 'write_file',
    desc: 'Write text to a file of the workspace (or a path granted by fs.write), replacing it',
    signature: 'write_file(path: string, content: string): string',
    schema: {
      $schema: SCHEMA,
      type: 'object',
      properties: {
        path: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description: 'absolute, or relative to the workspace; its directory must exist',
        },
        content: {
          type: 'string',
          maxLength: WRITE_FILE_MAX_BYTES,
          pattern: '^[^\\u0000]*$',
          description: `UTF-8 text, at most ${WRITE_FILE_MAX_BYTES} bytes`,
        },
      },
      required: ['path', 'content'],
      additionalProperties: false,
    },
  },
];

export const BUILTIN_PROVIDER_TOOLS: ToolProvider = { id: BUILTIN_PROVIDER, tools: BUILTIN_TOOLS };

/**
 * read_file inside the sandbox: resolve the real path (symlinks included) and read it only when it
 * lies under one of the granted roots (also resolved). `$1` is the path, the rest the roots.
 */
const READ_SCRIPT = `set -u
want=$1; shift
p=$(realpath -e -- "$want" 2>/dev/null) || { echo "read_file: $want: no such file" >&2; exit 2; }
for root in "$@"; do
  r=$(realpath -e -- "$root" 2>/dev/null) || continue
  case "$p" in "$r"|"$r"/*) exec cat -- "$p";; esac
  [ "$r" = / ] && exec cat -- "$p"
done
echo "read_file: $want resolves outside the granted paths" >&2
exit 3
`;

/**
 * write_file inside the sandbox: the real path of the directory, and of the file itself when it is a
 * symlink, must lie under a granted root; the content comes in AXLE_TOOL_CONTENT.
 */
const WRITE_SCRIPT = `set -u
want=$1; shift
d=$(realpath -e -- "$(dirname -- "$want")" 2>/dev/null) || { echo "write_file: $(dirname -- "$want"): no such directory" >&2; exit 2; }
p="$d/$(basename -- "$want")"
[ -L "$p" ] && p=$(realpath -m -- "$p")
for root in "$@"; do
  r=$(realpath -e -- "$root" 2>/dev/null) || continue
  ok=0
  case "$p" in "$r"/*) ok=1;; esac
  [ "$r" = / ] && ok=1
  if [ $ok = 1 ]; then
    printf '%s' "$AXLE_TOOL_CONTENT" > "$p" || exit 4
    echo "wrote $p"
    exit 0
  fi
done
echo "write_file: $want resolves outside the granted paths" >&2
exit 3
`;

/** What a built-in tool call becomes: a job's argv, env and cwd, and the capabilities it runs with. */
export type BuiltinPlan = {
  argv: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  capabilities: Capability[];
  /** The absolute path a file tool touches (for the audit trail). */
  path?: string;
};

/** Why the call is refused before any job exists (a path outside every grant). */
export class ToolPathRefused extends Error {
  constructor(
    readonly path: string,
    readonly needed: 'fs.read' | 'fs.write',
  ) {
    super(`${path} is outside the workspace and every ${needed} grant`);
  }
}

/** The roots a file tool may touch: the workspace and the token's matching fs grants. */
export function fileRoots(workspace: string, caps: readonly Capability[], mode: 'read' | 'write'): string[] {
  const kinds = mode === 'read' ? ['fs.read', 'fs.write'] : ['fs.write'];
  return [
    workspace,
    ...caps.flatMap((c) =>
      (c.kind === 'fs.read' || c.kind === 'fs.write') && kinds.includes(c.kind) ? [c.path] : [],
    ),
  ];
}

/** A path of the tool input as an absolute, normalized path (relative ones are in the workspace). */
export function toolPath(workspace: string, path: string): string | null {
  if (path.includes('\0')) return null;
  return normalizePath(isAbsolute(path) ? path : join(workspace, path));
}

function under(root: string, path: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

/**
 * The job of a built-in call. `caps` are the presented token's capabilities; the file tools run
 * with only its filesystem grants (what the sandbox binds).
 */
export function planBuiltin(
  name: string,
  input: Record<string, unknown>,
  workspace: string,
  caps: readonly Capability[],
): BuiltinPlan {
  const fsCaps = caps.filter((c) => c.kind === 'fs.read' || c.kind === 'fs.write');
  switch (name) {
    case 'run_command':
      return {
        argv: input.argv as string[],
        env: {},
        cwd: input.cwd as string | undefined,
        capabilities: [...caps],
      };
    case 'read_file':
    case 'write_file': {
      const mode = name === 'read_file' ? 'read' : 'write';
      const raw = input.path as string;
      const path = toolPath(workspace, raw);
      const roots = fileRoots(workspace, caps, mode);
      if (
        path === null ||
        !roots.some((root) => under(root, path)) ||
        (mode === 'write' && path === workspace)
      )
        throw new ToolPathRefused(path ?? raw, mode === 'read' ? 'fs.read' : 'fs.write');
      return {
        argv: ['sh', '-c', mode === 'read' ? READ_SCRIPT : WRITE_SCRIPT, name, path, ...roots],
        env: mode === 'write' ? { AXLE_TOOL_CONTENT: input.content as string } : {},
        cwd: undefined,
        capabilities: fsCaps,
        path,
      };
    }
    default:
      throw new Error(`no built-in tool ${name}`);
  }
}
