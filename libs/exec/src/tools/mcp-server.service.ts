import { type Principal, requireRole } from '@axle/auth';
import { AuditRepository, ExecRepository, type McpServerRecord, orgScope } from '@axle/data';
import {
  ConflictError,
  isUuid,
  type McpServerView,
  NotFoundError,
  parseOrThrow,
  registerMcpServerSchema,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { ExecToolService } from './exec-tool.service';

type Command = { principal: Principal; requestId: string };

export function toMcpServerView(server: McpServerRecord): McpServerView {
  return {
    mcp_server_id: server.id,
    name: server.name,
    url: server.url,
    created_by: server.createdBy,
    created_at: server.createdAt.toISOString(),
  };
}

/**
 * MCP servers of an org (docs/exec.md "Tools"): operators register, list and delete them; their
 * tools mount into the org's exec sessions as `<name>.<tool>`. Headers are stored, never shown.
 */
@Injectable()
export class McpServerService {
  constructor(
    private readonly exec: ExecRepository,
    private readonly tools: ExecToolService,
    private readonly audit: AuditRepository,
  ) {}

  /** `POST /v1/exec/mcp-servers {name, url, headers?}`; 409 when the org has that name already. */
  async register(command: Command & { body: unknown }) {
    requireRole(command.principal, 'operator');
    const body = parseOrThrow(registerMcpServerSchema, command.body ?? {});
    const server = await this.exec.createMcpServer(orgScope(command.principal.orgId), {
      name: body.name,
      url: body.url,
      headers: body.headers,
      createdBy: command.principal.actorId,
    });
    if (!server)
      throw new ConflictError('mcp_server_exists', `this org has an MCP server named ${body.name} already`);
    await this.record(command, server, 'exec.mcp_server.register', {
      name: server.name,
      url: server.url,
      header_names: Object.keys(body.headers),
    });
    return { ok: true, mcp_server: toMcpServerView(server) };
  }

  /** `GET /v1/exec/mcp-servers`: the caller's org's servers (operator+). */
  async list(command: Command) {
    requireRole(command.principal, 'operator');
    const servers = await this.exec.listMcpServers(orgScope(command.principal.orgId));
    return { ok: true, mcp_servers: servers.map(toMcpServerView) };
  }

  /** `DELETE /v1/exec/mcp-servers/{id}`: its tools leave the index at once. */
  async remove(command: Command & { id: string }) {
    requireRole(command.principal, 'operator');
    const scope = orgScope(command.principal.orgId);
    const server = isUuid(command.id) ? await this.exec.findMcpServer(scope, command.id) : null;
    if (!server || !(await this.exec.deleteMcpServer(scope, server.id)))
      throw new NotFoundError('mcp_server_not_found', `MCP server ${command.id} not found`);
    this.tools.forget(server.id);
    await this.record(command, server, 'exec.mcp_server.delete', { name: server.name });
    return { ok: true, mcp_server_id: server.id, deleted: true };
  }

  private async record(
    command: Command,
    server: McpServerRecord,
    action: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      orgId: server.orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action,
      targetType: 'mcp_server',
      targetId: server.id,
      outcome: 'success',
      requestId: command.requestId,
      details,
    });
  }
}
