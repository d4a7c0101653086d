import { tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { AuditRepository, ExecRepository, type McpServerRecord } from '@axle/data';
import { Egress } from '@axle/egress';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import {
  type Capability,
  ForbiddenError,
  NotFoundError,
  parseCapability,
  parseOrThrow,
  type ToolIndexEntry,
  toolCallSchema,
  ValidationFailedError,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { clampLimits, type StoredJobSpec, workspaceRelative } from '../exec-spec';
import { ExecJobService } from '../exec-job.service';
import { type AuthorizedSession, type ExecCommand, ExecSessionService } from '../exec-session.service';
import { BUILTIN_PROVIDER_TOOLS, planBuiltin, ToolPathRefused } from './builtins';
import {
  buildCatalog,
  type CatalogEntry,
  oneLineDescription,
  signatureOf,
  type ToolProvider,
} from './catalog';
import { validateToolInput } from './input-schema';
import { type McpTool, withMcpSession } from './mcp-client';

/** How long an MCP server's tool list is reused (a failed fetch: a few seconds). */
const MCP_CACHE_TTL_MS = 60_000;
const MCP_FAILURE_TTL_MS = 5_000;
const MCP_LIST_TIMEOUT_MS = 5_000;
/** Wall time of a file tool's job and of an MCP call (both clamped to the ceilings). */
const FILE_TOOL_WALL_SECONDS = 60;
const MCP_CALL_WALL_SECONDS = 120;

type MountedTool = { server: McpServerRecord; tool: string };

/** Whether the capabilities grant a tool: `proc.spawn` grants every tool, `tool:<name>` exactly one. */
export function toolGranted(caps: readonly Capability[], name: string): boolean {
  return caps.some((c) => c.kind === 'proc.spawn' || (c.kind === 'tool' && c.name === name));
}

/**
 * The tools of exec sessions (SPEC §7, docs/exec.md "Tools"): the index and describe show only what
 * the presented token grants; a call validates its input against the tool's JSON Schema and runs as
 * a job (built-ins in the session's sandbox; MCP tools as a `tools/call` the runner makes).
 */
@Injectable()
export class ExecToolService implements OnModuleDestroy {
  private readonly egress: Egress;
  private readonly mcpCache = new Map<string, { at: number; ttl: number; tools: McpTool[] }>();

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
    private readonly exec: ExecRepository,
    private readonly sessions: ExecSessionService,
    private readonly jobs: ExecJobService,
    private readonly audit: AuditRepository,
  ) {
    this.egress = new Egress(config.egress);
  }

  async onModuleDestroy(): Promise<void> {
    await this.egress.close();
  }

  /** `GET /v1/exec/sessions/{id}/index` → the granted tools, `{name, desc}` each. */
  async index(command: ExecCommand & { sessionId: string }) {
    const authorized = await this.sessions.authorize(command, command.sessionId);
    const { catalog } = await this.catalogFor(command, authorized);
    const entries: ToolIndexEntry[] = [...catalog.values()]
      .filter((entry) => toolGranted(authorized.capabilities, entry.name))
      .map((entry) => ({ name: entry.name, desc: entry.desc }));
    return { ok: true, entries };
  }

  /** `GET /v1/exec/sessions/{id}/describe/{name}` → `{name, signature, schema}`; 404 unknown or not granted. */
  async describe(command: ExecCommand & { sessionId: string; name: string }) {
    const authorized = await this.sessions.authorize(command, command.sessionId);
    const { entry } = await this.grantedEntry(command, authorized, command.name);
    return { ok: true, name: entry.name, signature: entry.signature, schema: entry.schema };
  }

  /** `POST /v1/exec/sessions/{id}/tools/{name}/call {input}` → a job running the tool. */
  async call(command: ExecCommand & { sessionId: string; name: string; body: unknown }) {
    const body = parseOrThrow(toolCallSchema, command.body ?? {});
    const authorized = await this.sessions.authorize(command, command.sessionId);
    const { entry, mounted } = await this.grantedEntry(command, authorized, command.name);
    validateToolInput(entry.schema, body.input);
    const { session } = authorized;
    const ceilings = this.config.exec.ceilings;
    let spec: StoredJobSpec;
    let capabilities: Capability[];
    let wall: number | undefined;
    let audit: Record<string, unknown> = {};
    if (mounted) {
      spec = {
        argv: [],
        env: {},
        cwd: '',
        tool: entry.name,
        mcp: {
          server_id: mounted.server.id,
          server: mounted.server.name,
          tool: mounted.tool,
          arguments: body.input,
        },
      };
      capabilities = [];
      wall = MCP_CALL_WALL_SECONDS;
      audit = { mcp_server_id: mounted.server.id };
    } else {
      let plan;
      try {
        plan = planBuiltin(entry.localName, body.input, session.workspaceDir, authorized.capabilities);
      } catch (err) {
        if (!(err instanceof ToolPathRefused)) throw err;
        await this.recordDecision(command, authorized, entry.name, 'denied', {
          path: err.path,
          needed: err.needed,
        });
        throw new ForbiddenError('capability_denied', `${entry.name}: ${err.message}`);
      }
      const cwd = workspaceRelative(plan.cwd);
      if (cwd === null)
        throw new ValidationFailedError([
          {
            path: 'input.cwd',
            loc: ['body', 'input', 'cwd'],
            message: 'must be a path inside the workspace',
            type: 'custom',
          },
        ]);
      spec = { argv: plan.argv, env: plan.env, cwd, tool: entry.name };
      capabilities = plan.capabilities;
      wall = entry.localName === 'run_command' ? undefined : FILE_TOOL_WALL_SECONDS;
      if (plan.path) audit = { path: plan.path };
    }
    const started = await this.jobs.enqueue(command, authorized, {
      spec,
      capabilities,
      limits: clampLimits(wall === undefined ? {} : { wall_seconds: wall }, ceilings),
      stalledPolicy: 'fail',
      audit,
    });
    await this.audit.record({
      orgId: session.orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action: 'exec.tool.call',
      targetType: 'exec_job',
      targetId: started.job_id,
      outcome: 'success',
      requestId: command.requestId,
      details: { session_id: session.id, tool: entry.name, token_id: authorized.token.id, ...audit },
    });
    return {
      ok: true,
      job_id: started.job_id,
      session_id: session.id,
      tool: entry.name,
      status: started.status,
    };
  }

  /**
   * The catalog entry of a tool the token grants; 404 (the same for unknown and not granted) after
   * auditing the refusal of a tool that exists.
   */
  private async grantedEntry(command: ExecCommand, authorized: AuthorizedSession, name: string) {
    const notFound = () => new NotFoundError('tool_not_found', `no tool ${name} in this session`);
    if (name.length > 200 || !parseCapability(`tool:${name}`)) throw notFound();
    const granted = toolGranted(authorized.capabilities, name);
    const { catalog, mounted } = await this.catalogFor(command, authorized, granted ? undefined : name);
    const entry = catalog.get(name);
    if (!entry) throw notFound();
    await this.recordDecision(command, authorized, name, granted ? 'success' : 'denied', {});
    if (!granted) throw notFound();
    return { entry, mounted: mounted.get(name) };
  }

  /**
   * The session's catalog: the built-ins and the tools of its org's MCP servers. Only servers some
   * granted tool can come from are asked (every server with `proc.spawn`; else the servers named in
   * `tool:<server>.<tool>` grants, plus `alsoName`'s).
   */
  private async catalogFor(
    command: ExecCommand,
    authorized: AuthorizedSession,
    alsoName?: string,
  ): Promise<{ catalog: Map<string, CatalogEntry>; mounted: Map<string, MountedTool> }> {
    const caps = authorized.capabilities;
    const all = caps.some((c) => c.kind === 'proc.spawn');
    const wanted = new Set(
      [...caps.flatMap((c) => (c.kind === 'tool' ? [c.name] : [])), ...(alsoName ? [alsoName] : [])]
        .map((name) => name.split('.')[0]!)
        .filter((prefix) => prefix.length > 0),
    );
    const servers = (await this.exec.listMcpServers(tenantScopeOf(command.principal))).filter(
      (s) => s.orgId === authorized.session.orgId && (all || wanted.has(s.name)),
    );
    const providers: ToolProvider[] = [BUILTIN_PROVIDER_TOOLS];
    const mounted = new Map<string, MountedTool>();
    const lists = await Promise.all(servers.map((server) => this.mcpTools(server)));
    servers.forEach((server, i) => {
      const tools = [];
      const seen = new Set<string>();
      for (const tool of lists[i] ?? []) {
        const name = `${server.name}.${tool.name}`;
        if (seen.has(name) || !parseCapability(`tool:${name}`)) continue;
        seen.add(name);
        tools.push({
          name,
          desc: oneLineDescription(
            name,
            tool.description,
            `Tool ${tool.name} of the MCP server ${server.name}`,
          ),
          signature: signatureOf(name, tool.inputSchema),
          schema: tool.inputSchema,
        });
        mounted.set(name, { server, tool: tool.name });
      }
      providers.push({ id: `mcp-${server.name}`, tools });
    });
    const catalog = buildCatalog(providers);
    // A collision qualifies names (`<provider>:<name>`): keep the MCP mapping under the public name.
    const byPublic = new Map<string, MountedTool>();
    for (const entry of catalog.values()) {
      const m = mounted.get(entry.localName);
      if (m && entry.provider !== BUILTIN_PROVIDER_TOOLS.id) byPublic.set(entry.name, m);
    }
    return { catalog, mounted: byPublic };
  }

  /** The server's tools (cached); none while it cannot be reached. */
  private async mcpTools(server: McpServerRecord): Promise<McpTool[]> {
    const key = `${server.id}\0${server.url}`;
    const cached = this.mcpCache.get(key);
    if (cached && Date.now() - cached.at < cached.ttl) return cached.tools;
    let tools: McpTool[] = [];
    let ttl = MCP_CACHE_TTL_MS;
    try {
      tools = await withMcpSession(
        { url: server.url, headers: server.headers, egress: this.egress },
        AbortSignal.timeout(MCP_LIST_TIMEOUT_MS),
        (session) => session.listTools(),
      );
    } catch (err) {
      ttl = MCP_FAILURE_TTL_MS;
      this.logger.warn(
        { mcp_server_id: server.id, err: err instanceof Error ? err.message : String(err) },
        'MCP server tools/list failed; its tools are left out of the catalog',
      );
    }
    if (this.mcpCache.size > 1000) this.mcpCache.clear();
    this.mcpCache.set(key, { at: Date.now(), ttl, tools });
    return tools;
  }

  /** Forgets a server's cached tools (it was deleted or registered again). */
  forget(serverId: string): void {
    for (const key of this.mcpCache.keys()) if (key.startsWith(`${serverId}\0`)) this.mcpCache.delete(key);
  }

  private async recordDecision(
    command: ExecCommand,
    authorized: AuthorizedSession,
    tool: string,
    outcome: 'success' | 'denied',
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      orgId: authorized.session.orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action: outcome === 'success' ? 'exec.capability.granted' : 'exec.capability.refused',
      targetType: 'exec_session',
      targetId: authorized.session.id,
      outcome,
      requestId: command.requestId,
      details: { for: 'tool', tool, token_id: authorized.token.id, requested: [`tool:${tool}`], ...details },
    });
  }
}
