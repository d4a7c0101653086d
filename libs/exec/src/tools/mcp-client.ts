// A minimal MCP client over streamable HTTP (JSON-RPC 2.0 POSTs; answers as JSON or as an SSE
// stream): initialize + notifications/initialized, then tools/list or tools/call. Used by the
// gateway (tool catalog) and by the runner (calls). Network egress from Axle, not from a sandbox,
// so through @axle/egress like every call to a user-given URL.
import { Egress, type EgressResponse } from '@axle/egress';

export const MCP_PROTOCOL_VERSION = '2025-06-18';
const SUPPORTED_VERSIONS = new Set(['2025-06-18', '2025-03-26', '2024-11-05']);
/** The largest answer read from an MCP server. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export type McpEndpoint = { url: string; headers: Record<string, string>; egress: Egress };
export type McpTool = { name: string; description?: string; inputSchema: Record<string, unknown> };

/** `mcp_unreachable` (network, HTTP status), `mcp_error` (a JSON-RPC error), `mcp_protocol` (nonsense). */
export class McpError extends Error {
  constructor(
    readonly code: 'mcp_unreachable' | 'mcp_error' | 'mcp_protocol',
    message: string,
  ) {
    super(message);
  }
}

type RpcAnswer = { id?: unknown; result?: unknown; error?: { code?: number; message?: string } };

/** One MCP session: initialized on open, requests in order. */
export class McpSession {
  private nextId = 1;
  private sessionId: string | undefined;
  private version = MCP_PROTOCOL_VERSION;

  private constructor(
    private readonly endpoint: McpEndpoint,
    private readonly signal: AbortSignal | undefined,
  ) {}

  static async open(endpoint: McpEndpoint, signal?: AbortSignal): Promise<McpSession> {
    const session = new McpSession(endpoint, signal);
    const init = (await session.request('initialize', {
      protocolVersion: MCP_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'axle', version: '0.1.0' },
    })) as { protocolVersion?: unknown } | null;
    const version = init && typeof init.protocolVersion === 'string' ? init.protocolVersion : null;
    if (!version || !SUPPORTED_VERSIONS.has(version))
      throw new McpError('mcp_protocol', `the MCP server answered protocol version ${String(version)}`);
    session.version = version;
    await session.notify('notifications/initialized');
    return session;
  }

  /** Every tool of the server (following `nextCursor`, at most 20 pages). */
  async listTools(): Promise<McpTool[]> {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const result = (await this.request('tools/list', cursor ? { cursor } : {})) as {
        tools?: unknown;
        nextCursor?: unknown;
      } | null;
      if (!result || !Array.isArray(result.tools))
        throw new McpError('mcp_protocol', 'tools/list has no tools');
      for (const tool of result.tools as Record<string, unknown>[]) {
        if (!tool || typeof tool.name !== 'string') continue;
        const schema =
          tool.inputSchema && typeof tool.inputSchema === 'object' && !Array.isArray(tool.inputSchema)
            ? (tool.inputSchema as Record<string, unknown>)
            : { type: 'object' };
        tools.push({
          name: tool.name,
          ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
          inputSchema: schema,
        });
      }
      if (typeof result.nextCursor !== 'string' || result.nextCursor === '') break;
      cursor = result.nextCursor;
    }
    return tools;
  }

  async callTool(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const result = await this.request('tools/call', { name, arguments: args });
    if (!result || typeof result !== 'object') throw new McpError('mcp_protocol', 'tools/call has no result');
    return result as Record<string, unknown>;
  }

  /** Ends the session on the server (best effort). */
  async close(): Promise<void> {
    if (!this.sessionId) return;
    await this.endpoint.egress
      .fetch(this.endpoint.url, {
        method: 'DELETE',
        headers: this.headers(),
        redirect: 'error',
        signal: AbortSignal.timeout(2000),
      })
      .then((res) => res.body?.cancel())
      .catch(() => undefined);
  }

  private headers(): Record<string, string> {
    return {
      ...this.endpoint.headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': this.version,
      ...(this.sessionId ? { 'mcp-session-id': this.sessionId } : {}),
    };
  }

  private async post(message: Record<string, unknown>): Promise<EgressResponse> {
    try {
      const res = await this.endpoint.egress.fetch(this.endpoint.url, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(message),
        redirect: 'error',
        ...(this.signal ? { signal: this.signal } : {}),
      });
      const sid = res.headers.get('mcp-session-id');
      if (sid) this.sessionId = sid;
      return res;
    } catch (err) {
      if (this.signal?.aborted) throw err;
      const reason = Egress.refusalOf(err)?.message ?? (err as Error).message;
      throw new McpError('mcp_unreachable', `the MCP server is unreachable: ${reason}`);
    }
  }

  private async notify(method: string): Promise<void> {
    const res = await this.post({ jsonrpc: '2.0', method });
    await res.body?.cancel();
  }

  private async request(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    const res = await this.post({ jsonrpc: '2.0', id, method, params });
    if (!res.ok) {
      await res.body?.cancel();
      throw new McpError('mcp_unreachable', `the MCP server answered HTTP ${res.status} to ${method}`);
    }
    const text = await readLimited(res);
    const type = res.headers.get('content-type') ?? '';
    const messages = type.includes('text/event-stream') ? sseMessages(text) : [parseJson(text)];
    const answer = messages
      .flatMap((m) => (Array.isArray(m) ? (m as unknown[]) : [m]))
      .find((m): m is RpcAnswer => !!m && typeof m === 'object' && (m as RpcAnswer).id === id);
    if (!answer) throw new McpError('mcp_protocol', `the MCP server sent no answer to ${method}`);
    if (answer.error)
      throw new McpError(
        'mcp_error',
        `${method}: ${answer.error.message ?? 'error'} (${answer.error.code ?? 'no code'})`,
      );
    return answer.result;
  }
}

async function readLimited(res: EgressResponse): Promise<string> {
  if (!res.body) return '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const read = (await reader.read()) as { done: boolean; value?: Uint8Array };
    const { done, value } = read;
    if (done || !value) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new McpError(
        'mcp_protocol',
        `the MCP server's answer is larger than ${MAX_RESPONSE_BYTES} bytes`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new McpError('mcp_protocol', 'the MCP server answered something that is not JSON');
  }
}

/** The JSON messages of an SSE body (one per event's joined `data:` lines). */
function sseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    const data = block
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''));
    if (data.length === 0) continue;
    try {
      out.push(JSON.parse(data.join('\n')) as unknown);
    } catch {
      // not a JSON-RPC message: ignored
    }
  }
  return out;
}

/** Opens a session, runs `use`, and closes it. */
export async function withMcpSession<T>(
  endpoint: McpEndpoint,
  signal: AbortSignal | undefined,
  use: (session: McpSession) => Promise<T>,
): Promise<T> {
  const session = await McpSession.open(endpoint, signal);
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}
