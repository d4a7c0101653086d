// Exec tools end to end (SPEC §7 "Tools", docs/exec.md "Tools" and "JSON-RPC facade"): real gateway,
// worker and runner processes. The index shows only granted tools, describe gives the JSON Schema,
// the built-ins run as sandboxed jobs (tier none and tier kernel) and cannot leave their grants
// through `..` or a symlink, MCP servers registered by an operator mount their tools (a local
// node:http MCP server is the external edge), and the JSON-RPC facade POST /axp.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  parseSse,
  registerTestAgent,
  requireEnv,
  type TestAgent,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const sfx = randomUUID().slice(0, 8);
const ORG = `tools-${sfx}`;
const OTHER = `tools-other-${sfx}`;

type Client = ReturnType<typeof apiClient>;

let axle: AxleProcesses;
let alice: TestAgent;
let asAlice: Client;
let asOperator: Client;
let asOutsider: Client;
let anonymous: Client;

// ---- the external edge: a tiny MCP server (streamable HTTP, JSON-RPC) ----
type McpCall = {
  name: string;
  arguments: unknown;
  authorization: string | undefined;
  session: string | undefined;
};
const mcpCalls: McpCall[] = [];
let mcp: Server;
let mcpUrl: string;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function startMcpServer(): Promise<void> {
  mcp = createServer((req, res) => {
    void (async () => {
      if (req.method === 'DELETE') return void res.writeHead(200).end();
      const msg = JSON.parse(await readBody(req)) as {
        id?: number;
        method: string;
        params?: Record<string, unknown>;
      };
      const json = (body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      switch (msg.method) {
        case 'initialize':
          return json(
            {
              jsonrpc: '2.0',
              id: msg.id,
              result: {
                protocolVersion: '2025-06-18',
                capabilities: { tools: {} },
                serverInfo: { name: 'test-mcp', version: '1.0.0' },
              },
            },
            { 'mcp-session-id': `s-${randomUUID()}` },
          );
        case 'notifications/initialized':
          return void res.writeHead(202).end();
        case 'tools/list':
          return json({
            jsonrpc: '2.0',
            id: msg.id,
            result: {
              tools: [
                {
                  name: 'echo',
                  description: 'Echo back the given text',
                  inputSchema: {
                    $schema: 'http://json-schema.org/draft-07/schema#',
                    type: 'object',
                    properties: { text: { type: 'string' } },
                    required: ['text'],
                  },
                },
                {
                  name: 'getWeather',
                  description: 'Current weather for a city.\nLong second line that is not shown.',
                  inputSchema: { type: 'object', properties: { city: { type: 'string' } } },
                },
              ],
            },
          });
        case 'tools/call': {
          const params = msg.params ?? {};
          mcpCalls.push({
            name: params.name as string,
            arguments: params.arguments,
            authorization: req.headers.authorization,
            session: req.headers['mcp-session-id'] as string | undefined,
          });
          const text = JSON.stringify(params.arguments);
          // Answered as an SSE stream, as streamable HTTP servers may.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(
            `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text }] } })}\n\n`,
          );
          return;
        }
        default:
          return json({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'no such method' } });
      }
    })();
  });
  return new Promise((resolve) =>
    mcp.listen(0, '127.0.0.1', () => {
      mcpUrl = `http://127.0.0.1:${(mcp.address() as AddressInfo).port}/mcp`;
      resolve();
    }),
  );
}

// ---- helpers ----
async function openSession(
  capabilities: string[],
  tier: 'none' | 'kernel' = 'none',
  client: Client = asAlice,
): Promise<{ id: string; token: string; workspace: string }> {
  const res = await client('POST', '/v1/exec/sessions', { body: { sandbox_tier: tier, capabilities } });
  assert.equal(res.status, 200, res.text);
  return {
    id: res.body.session_id as string,
    token: res.body.cap_token as string,
    workspace: res.body.workspace as string,
  };
}

const tokenHeader = (token: string) => ({ 'x-axp-cap-token': token });

async function callTool(
  session: { id: string; token: string },
  name: string,
  input: unknown,
  client: Client = asAlice,
) {
  return client('POST', `/v1/exec/sessions/${session.id}/tools/${name}/call`, {
    body: { input },
    headers: tokenHeader(session.token),
  });
}

/** Waits for the job to end, then replays its whole log: stdout, stderr and the exit frame. */
async function outputOf(jobId: string, token: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await asAlice('GET', `/v1/exec/jobs/${jobId}`, { headers: tokenHeader(token) });
    assert.equal(res.status, 200, res.text);
    const job = res.body.job as { status: string };
    if (['exited', 'killed', 'failed'].includes(job.status)) break;
    if (Date.now() > deadline) assert.fail(`job ${jobId} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  const res = await asAlice('GET', `/v1/exec/jobs/${jobId}/attach`, { headers: tokenHeader(token) });
  assert.equal(res.status, 200, res.text);
  let stdout = '';
  let stderr = '';
  let exit: Record<string, unknown> = {};
  for (const frame of parseSse(res.text)) {
    const data = frame.data as { stream?: string; data?: string; data_b64?: string };
    const text = data.data ?? Buffer.from(data.data_b64 ?? '', 'base64').toString('utf8');
    if (frame.event === 'exit') exit = frame.data;
    else if (data.stream === 'stdout') stdout += text;
    else stderr += text;
  }
  return {
    stdout,
    stderr,
    exit: exit as { status: string; exit_code: number | null; error: { code: string } | null },
  };
}

async function runTool(session: { id: string; token: string }, name: string, input: unknown) {
  const res = await callTool(session, name, input);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.tool, name);
  return outputOf(res.body.job_id as string, session.token);
}

async function rpc(body: unknown, client: Client = asAlice) {
  const res = await client('POST', '/axp', { body });
  assert.equal(res.status, 200, res.text);
  return res.body as unknown as {
    jsonrpc: string;
    id: unknown;
    result?: Record<string, unknown>;
    error?: { code: number; message: string; data?: Record<string, unknown> };
  };
}

describe('exec tools end to end', () => {
  before(async () => {
    await startMcpServer();
    axle = await AxleProcesses.create({ AXLE_EXEC_ALLOW_NONE: 'true' });
    await axle.startAll(['gateway', 'worker', 'runner']);
    alice = await registerTestAgent(prisma, { org: ORG, name: 'alice' });
    const operator = await registerTestAgent(prisma, { org: ORG, name: 'olga', role: 'operator' });
    const outsider = await registerTestAgent(prisma, { org: OTHER, name: 'eve', role: 'admin' });
    asAlice = apiClient(axle.baseUrl, alice.key);
    asOperator = apiClient(axle.baseUrl, operator.key);
    asOutsider = apiClient(axle.baseUrl, outsider.key);
    anonymous = apiClient(axle.baseUrl);
  });
  after(async () => {
    await axle.stopAll();
    await prisma.onModuleDestroy();
    mcp.close();
  });

  test('the index shows only granted tools; describe gives the signature and a 2020-12 schema', async () => {
    const all = await openSession(['proc.spawn']);
    const res = await asAlice('GET', `/v1/exec/sessions/${all.id}/index`, {
      headers: tokenHeader(all.token),
    });
    assert.equal(res.status, 200, res.text);
    const entries = res.body.entries as { name: string; desc: string }[];
    assert.deepEqual(entries.map((e) => e.name).sort(), ['read_file', 'run_command', 'write_file']);
    for (const e of entries) {
      assert.ok(
        !e.desc.includes('\n') && Buffer.byteLength(e.desc) >= 10 && Buffer.byteLength(e.desc) <= 120,
      );
      assert.deepEqual(Object.keys(e).sort(), ['desc', 'name']);
    }

    const one = await openSession(['tool:read_file']);
    const index = await asAlice('GET', `/v1/exec/sessions/${one.id}/index?cap_token=${one.token}`);
    assert.deepEqual(
      (index.body.entries as { name: string }[]).map((e) => e.name),
      ['read_file'],
    );
    const none = await openSession([]);
    const empty = await asAlice('GET', `/v1/exec/sessions/${none.id}/index`, {
      headers: tokenHeader(none.token),
    });
    assert.deepEqual(empty.body.entries, []);

    const described = await asAlice('GET', `/v1/exec/sessions/${one.id}/describe/read_file`, {
      headers: tokenHeader(one.token),
    });
    assert.equal(described.status, 200, described.text);
    assert.equal(described.body.name, 'read_file');
    assert.equal(described.body.signature, 'read_file(path: string): string');
    const schema = described.body.schema as Record<string, unknown>;
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(schema.required, ['path']);
    // Not granted and unknown are the same 404 (but for the name).
    const answers: string[] = [];
    for (const name of ['run_command', 'no_such_tool']) {
      const r = await asAlice('GET', `/v1/exec/sessions/${one.id}/describe/${name}`, {
        headers: tokenHeader(one.token),
      });
      assert.equal(r.status, 404, r.text);
      assert.equal((r.body.error as { code: string }).code, 'tool_not_found');
      answers.push(r.text.split(name).join('<name>'));
    }
    assert.equal(answers[0], answers[1]);
    const notGranted = await callTool(one, 'run_command', { argv: ['true'] });
    assert.equal(notGranted.status, 404, notGranted.text);
  });

  test('read_file inside the workspace and an fs.read grant; outside refused, symlinks do not leak', async () => {
    const outside = join(tmpdir(), `axle-tools-${sfx}`);
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'granted.txt'), 'granted data\n');
    const session = await openSession(['tool:read_file', `fs.read(${outside})`]);
    await writeFile(join(session.workspace, 'hello.txt'), 'hello from the workspace\n');
    await symlink('/etc/shadow', join(session.workspace, 'leak'));
    await symlink('/etc', join(session.workspace, 'etc-link'));

    const ok = await runTool(session, 'read_file', { path: 'hello.txt' });
    assert.equal(ok.stdout, 'hello from the workspace\n');
    assert.equal(ok.exit.exit_code, 0);
    const granted = await runTool(session, 'read_file', { path: join(outside, 'granted.txt') });
    assert.equal(granted.stdout, 'granted data\n');

    // Lexically outside: refused by the gateway before any job.
    for (const path of ['/etc/shadow', '../../../../etc/passwd', `${outside}-x/granted.txt`]) {
      const res = await callTool(session, 'read_file', { path });
      assert.equal(res.status, 403, `${path}: ${res.text}`);
      assert.equal((res.body.error as { code: string }).code, 'capability_denied');
    }
    // Through a symlink: the job resolves the real path and refuses it.
    const shadow = await readFile('/etc/shadow', 'utf8').catch(() => 'root:');
    for (const path of ['leak', 'etc-link/passwd']) {
      const leak = await runTool(session, 'read_file', { path });
      assert.equal(leak.stdout, '', path);
      assert.ok(!leak.stdout.includes(shadow.slice(0, 5)));
      assert.equal(leak.exit.exit_code, 3, `${path}: ${leak.stderr}`);
      assert.match(leak.stderr, /outside the granted paths/);
    }
    await rm(outside, { recursive: true, force: true });
  });

  test('write_file inside works; outside refused and nothing written (also through a symlink)', async () => {
    const outside = join(tmpdir(), `axle-tools-out-${sfx}`);
    await mkdir(outside, { recursive: true });
    const session = await openSession(['tool:write_file', 'tool:read_file']);
    await symlink(outside, join(session.workspace, 'out-link'));

    const ok = await runTool(session, 'write_file', { path: 'notes.txt', content: 'line 1\nline 2 ünïcode' });
    assert.equal(ok.exit.exit_code, 0, ok.stderr);
    assert.equal(await readFile(join(session.workspace, 'notes.txt'), 'utf8'), 'line 1\nline 2 ünïcode');
    const back = await runTool(session, 'read_file', { path: 'notes.txt' });
    assert.equal(back.stdout, 'line 1\nline 2 ünïcode');

    const direct = await callTool(session, 'write_file', { path: join(outside, 'evil.txt'), content: 'x' });
    assert.equal(direct.status, 403, direct.text);
    const viaLink = await runTool(session, 'write_file', { path: 'out-link/evil.txt', content: 'x' });
    assert.equal(viaLink.exit.exit_code, 3, viaLink.stderr);
    assert.ok(!existsSync(join(outside, 'evil.txt')), 'nothing written outside');
    // fs.read is not fs.write
    const readOnly = await openSession(['tool:write_file', `fs.read(${outside})`]);
    const ro = await callTool(readOnly, 'write_file', { path: join(outside, 'evil.txt'), content: 'x' });
    assert.equal(ro.status, 403, ro.text);
    assert.ok(!existsSync(join(outside, 'evil.txt')));

    const bad = await callTool(session, 'write_file', { path: 'a', content: 7, mode: 'x' });
    assert.equal(bad.status, 422, bad.text);
    const paths = ((bad.body.error as { details: { errors: { path: string }[] } }).details.errors ?? []).map(
      (e) => e.path,
    );
    assert.deepEqual(paths.sort(), ['input.content', 'input.mode']);
    await rm(outside, { recursive: true, force: true });
  });

  test('tier kernel: read and write inside, a symlink to /etc/shadow does not leak', async () => {
    const session = await openSession(['tool:read_file', 'tool:write_file', 'tool:run_command'], 'kernel');
    await symlink('/etc/shadow', join(session.workspace, 'leak'));
    const wrote = await runTool(session, 'write_file', { path: 'k.txt', content: 'kernel tier' });
    assert.equal(wrote.exit.exit_code, 0, wrote.stderr);
    const read = await runTool(session, 'read_file', { path: 'k.txt' });
    assert.equal(read.stdout, 'kernel tier');
    const leak = await runTool(session, 'read_file', { path: 'leak' });
    assert.equal(leak.stdout, '');
    assert.notEqual(leak.exit.exit_code, 0);
    // Even a command cannot see the host file: the sandbox has no /etc/shadow at all.
    const cat = await runTool(session, 'run_command', { argv: ['cat', '/etc/shadow'] });
    assert.equal(cat.stdout, '');
    assert.notEqual(cat.exit.exit_code, 0);
  });

  test('run_command runs argv in the workspace; bad input is 422 per path', async () => {
    const session = await openSession(['tool:run_command']);
    await mkdir(join(session.workspace, 'sub'));
    const out = await runTool(session, 'run_command', { argv: ['sh', '-c', 'pwd; echo hi'], cwd: 'sub' });
    assert.equal(out.stdout, `${join(session.workspace, 'sub')}\nhi\n`);
    assert.equal(out.exit.status, 'exited');
    const bad = await callTool(session, 'run_command', { argv: 'ls' });
    assert.equal(bad.status, 422, bad.text);
    assert.match(bad.text, /input\.argv/);
    const missing = await callTool(session, 'run_command', {});
    assert.equal(missing.status, 422);
    const escape = await callTool(session, 'run_command', { argv: ['true'], cwd: '../..' });
    assert.equal(escape.status, 422, escape.text);
  });

  test('MCP servers: operators register; tools mount as <server>.<tool>; a call reaches the server', async () => {
    const member = await asAlice('POST', '/v1/exec/mcp-servers', { body: { name: 'tools', url: mcpUrl } });
    assert.equal(member.status, 403, member.text);
    assert.equal((await asAlice('GET', '/v1/exec/mcp-servers')).status, 403);
    const reg = await asOperator('POST', '/v1/exec/mcp-servers', {
      body: { name: 'tools', url: mcpUrl, headers: { authorization: 'Bearer mcp-secret' } },
    });
    assert.equal(reg.status, 200, reg.text);
    assert.ok(!reg.text.includes('mcp-secret'));
    const serverId = (reg.body.mcp_server as { mcp_server_id: string }).mcp_server_id;
    const dup = await asOperator('POST', '/v1/exec/mcp-servers', { body: { name: 'tools', url: mcpUrl } });
    assert.equal(dup.status, 409, dup.text);
    const invalid = await asOperator('POST', '/v1/exec/mcp-servers', {
      body: { name: 'Bad.Name', url: 'ftp://x', headers: { 'bad header': 'v' } },
    });
    assert.equal(invalid.status, 422, invalid.text);
    const list = await asOperator('GET', '/v1/exec/mcp-servers');
    assert.equal(list.status, 200);
    assert.ok(!list.text.includes('mcp-secret'));
    assert.deepEqual(
      (list.body.mcp_servers as { name: string }[]).map((s) => s.name),
      ['tools'],
    );

    const session = await openSession(['tool:tools.echo']);
    const index = await asAlice('GET', `/v1/exec/sessions/${session.id}/index`, {
      headers: tokenHeader(session.token),
    });
    assert.deepEqual(index.body.entries, [{ name: 'tools.echo', desc: 'Echo back the given text' }]);
    const all = await openSession(['proc.spawn']);
    const allIndex = await asAlice('GET', `/v1/exec/sessions/${all.id}/index`, {
      headers: tokenHeader(all.token),
    });
    const weather = (allIndex.body.entries as { name: string; desc: string }[]).find(
      (e) => e.name === 'tools.getWeather',
    );
    assert.equal(weather?.desc, 'Current weather for a city.');

    const described = await asAlice('GET', `/v1/exec/sessions/${session.id}/describe/tools.echo`, {
      headers: tokenHeader(session.token),
    });
    assert.equal(described.status, 200, described.text);
    assert.equal(described.body.signature, 'tools.echo(input: {text: string}): object');
    assert.deepEqual((described.body.schema as { required: string[] }).required, ['text']);
    const hidden = await asAlice('GET', `/v1/exec/sessions/${session.id}/describe/tools.getWeather`, {
      headers: tokenHeader(session.token),
    });
    assert.equal(hidden.status, 404);

    const bad = await callTool(session, 'tools.echo', { text: 5 });
    assert.equal(bad.status, 422, bad.text);
    assert.equal(mcpCalls.length, 0);
    const out = await runTool(session, 'tools.echo', { text: 'hello mcp' });
    assert.equal(out.exit.status, 'exited');
    assert.equal(out.exit.exit_code, 0);
    const result = JSON.parse(out.stdout) as { content: { type: string; text: string }[] };
    assert.deepEqual(result.content, [{ type: 'text', text: JSON.stringify({ text: 'hello mcp' }) }]);
    assert.equal(mcpCalls.length, 1);
    assert.equal(mcpCalls[0]?.name, 'echo');
    assert.equal(mcpCalls[0]?.authorization, 'Bearer mcp-secret');
    assert.ok(mcpCalls[0]?.session?.startsWith('s-'));

    // Another org cannot see or delete it; deleting it takes its tools out of the index.
    assert.equal((await asOutsider('DELETE', `/v1/exec/mcp-servers/${serverId}`)).status, 404);
    assert.equal((await asOperator('DELETE', `/v1/exec/mcp-servers/${randomUUID()}`)).status, 404);
    const del = await asOperator('DELETE', `/v1/exec/mcp-servers/${serverId}`);
    assert.equal(del.status, 200, del.text);
    const after = await asAlice('GET', `/v1/exec/sessions/${session.id}/index`, {
      headers: tokenHeader(session.token),
    });
    assert.deepEqual(after.body.entries, []);
  });

  test('POST /axp: every method, batches, and the JSON-RPC error codes', async () => {
    const opened = await rpc({
      jsonrpc: '2.0',
      id: 1,
      method: 'session.open',
      params: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(opened.id, 1);
    const sessionId = opened.result?.session_id as string;
    const token = opened.result?.cap_token as string;
    assert.match(token, /^axp_ct_/);
    const auth = { session_id: sessionId, cap_token: token };

    const index = await rpc({ jsonrpc: '2.0', id: 'i', method: 'axp.index', params: auth });
    assert.deepEqual((index.result?.entries as { name: string }[]).map((e) => e.name).sort(), [
      'read_file',
      'run_command',
      'write_file',
    ]);
    const described = await rpc({
      jsonrpc: '2.0',
      id: 2,
      method: 'axp.describe',
      params: { ...auth, name: 'read_file' },
    });
    assert.equal(described.result?.signature, 'read_file(path: string): string');
    const missingTool = await rpc({
      jsonrpc: '2.0',
      id: 3,
      method: 'axp.describe',
      params: { ...auth, name: 'nope' },
    });
    assert.equal(missingTool.error?.code, -32001);

    const started = await rpc({
      jsonrpc: '2.0',
      id: 4,
      method: 'job.start',
      params: { ...auth, command: 'echo via-axp' },
    });
    const jobId = started.result?.job_id as string;
    assert.ok(jobId, JSON.stringify(started));
    const out = await outputOf(jobId, token);
    assert.equal(out.stdout, 'via-axp\n');
    const status = await rpc({
      jsonrpc: '2.0',
      id: 5,
      method: 'job.status',
      params: { ...auth, job_id: jobId },
    });
    assert.equal(status.result?.status, 'exited');
    assert.equal(typeof status.result?.seq, 'number');
    const late = await rpc({
      jsonrpc: '2.0',
      id: 6,
      method: 'job.cancel',
      params: { ...auth, job_id: jobId },
    });
    assert.equal(late.result?.ok, false);

    const tool = await rpc({
      jsonrpc: '2.0',
      id: 7,
      method: 'job.start',
      params: { ...auth, kind: 'capability', name: 'run_command', params: { argv: ['echo', 'tool'] } },
    });
    assert.equal((await outputOf(tool.result?.job_id as string, token)).stdout, 'tool\n');

    const sleeper = await rpc({
      jsonrpc: '2.0',
      id: 8,
      method: 'job.start',
      params: { ...auth, command: ['sleep', '30'] },
    });
    const cancel = await rpc({
      jsonrpc: '2.0',
      id: 9,
      method: 'job.cancel',
      params: { ...auth, job_id: sleeper.result?.job_id },
    });
    assert.equal(cancel.result?.cancel_requested, true);
    assert.equal((await outputOf(sleeper.result?.job_id as string, token)).exit.status, 'killed');

    // Another session's job is NOT_FOUND, like a missing one.
    const other = await rpc({
      jsonrpc: '2.0',
      id: 10,
      method: 'session.open',
      params: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    const otherAuth = { session_id: other.result?.session_id, cap_token: other.result?.cap_token };
    const foreignJob = await rpc({
      jsonrpc: '2.0',
      id: 11,
      method: 'job.status',
      params: { ...otherAuth, job_id: jobId },
    });
    const missingJob = await rpc({
      jsonrpc: '2.0',
      id: 11,
      method: 'job.status',
      params: { ...otherAuth, job_id: randomUUID() },
    });
    assert.equal(foreignJob.error?.code, -32001);
    assert.equal(missingJob.error?.code, -32001);

    // Batch: answers in order, notifications answered by nothing.
    const batch = (await asAlice('POST', '/axp', {
      body: [
        { jsonrpc: '2.0', id: 'a', method: 'axp.index', params: auth },
        { jsonrpc: '2.0', method: 'axp.index', params: auth },
        { jsonrpc: '2.0', id: 'b', method: 'nope.method' },
        { jsonrpc: '2.0', id: 'c', method: 'job.attach', params: { ...auth, job_id: jobId } },
        { foo: 1 },
      ],
    })) as unknown as { status: number; body: { id: unknown; error?: { code: number; message: string } }[] };
    assert.equal(batch.status, 200);
    assert.deepEqual(
      batch.body.map((r) => r.id),
      ['a', 'b', 'c', null],
    );
    assert.deepEqual(
      batch.body.map((r) => r.error?.code ?? 0),
      [0, -32601, -32600, -32600],
    );
    assert.match(batch.body[2]?.error?.message ?? '', /\/v1\/exec\/jobs\/\{job_id\}\/attach/);
    const emptyBatch = await rpc([]);
    assert.equal(emptyBatch.error?.code, -32600);
    const onlyNotifications = await asAlice('POST', '/axp', {
      body: { jsonrpc: '2.0', method: 'axp.index', params: auth },
    });
    assert.equal(onlyNotifications.status, 204);

    // Parse error, bad params, unknown method.
    const parse = await fetch(`${axle.baseUrl}/axp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': alice.key },
      body: '{"jsonrpc": "2.0", "method": ',
    });
    assert.equal(parse.status, 200);
    const parsed = (await parse.json()) as { id: unknown; error: { code: number } };
    assert.equal(parsed.error.code, -32700);
    assert.equal(parsed.id, null);
    const badParams = await rpc({
      jsonrpc: '2.0',
      id: 12,
      method: 'session.open',
      params: { sandbox_tier: 'vm' },
    });
    assert.equal(badParams.error?.code, -32602);
    assert.ok(badParams.error?.data?.errors);
    const noName = await rpc({ jsonrpc: '2.0', id: 13, method: 'axp.describe', params: auth });
    assert.equal(noName.error?.code, -32602);
    const arrayParams = await rpc({ jsonrpc: '2.0', id: 14, method: 'axp.index', params: [1] });
    assert.equal(arrayParams.error?.code, -32602);
    const unknown = await rpc({ jsonrpc: '2.0', id: 15, method: 'session.audit', params: auth });
    assert.equal(unknown.error?.code, -32601);
    const notRpc = await rpc({ id: 16, method: 'axp.index' });
    assert.equal(notRpc.error?.code, -32600);

    // A bad token and an unknown session: the same UNAUTHORIZED.
    const badToken = await rpc({
      jsonrpc: '2.0',
      id: 17,
      method: 'axp.index',
      params: { session_id: sessionId, cap_token: `axp_ct_${'0'.repeat(64)}` },
    });
    const unknownSession = await rpc({
      jsonrpc: '2.0',
      id: 17,
      method: 'axp.index',
      params: { session_id: randomUUID(), cap_token: `axp_ct_${'0'.repeat(64)}` },
    });
    const noToken = await rpc({
      jsonrpc: '2.0',
      id: 17,
      method: 'axp.index',
      params: { session_id: sessionId },
    });
    assert.equal(badToken.error?.code, -32004);
    assert.deepEqual(unknownSession, badToken);
    assert.deepEqual(noToken, badToken);
    // Another org with the real token: the same answer.
    const foreign = await rpc({ jsonrpc: '2.0', id: 17, method: 'axp.index', params: auth }, asOutsider);
    assert.deepEqual(foreign, badToken);

    // The API key is still required.
    const noKey = await anonymous('POST', '/axp', {
      body: { jsonrpc: '2.0', id: 1, method: 'axp.index', params: auth },
    });
    assert.equal(noKey.status, 401);

    const closed = await rpc({ jsonrpc: '2.0', id: 18, method: 'session.close', params: auth });
    assert.equal(closed.result?.status, 'closed');
    const afterClose = await rpc({ jsonrpc: '2.0', id: 17, method: 'axp.index', params: auth });
    assert.deepEqual(afterClose, badToken);
  });

  test('REST edges: malformed 400, no key 401, no token 401, other org 404, audit rows', async () => {
    const session = await openSession(['tool:run_command']);
    const malformed = await fetch(`${axle.baseUrl}/v1/exec/sessions/${session.id}/tools/run_command/call`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': alice.key, ...tokenHeader(session.token) },
      body: '{"input": ',
    });
    assert.equal(malformed.status, 400);
    const notObject = await asAlice('POST', `/v1/exec/sessions/${session.id}/tools/run_command/call`, {
      body: { input: [1] },
      headers: tokenHeader(session.token),
    });
    assert.equal(notObject.status, 422, notObject.text);
    const huge = await callTool(session, 'run_command', { argv: ['x'.repeat(70_000)] });
    assert.equal(huge.status, 422);
    assert.equal((await anonymous('GET', `/v1/exec/sessions/${session.id}/index`)).status, 401);
    assert.equal((await asAlice('GET', `/v1/exec/sessions/${session.id}/index`)).status, 401);
    assert.equal(
      (await asAlice('GET', `/v1/exec/sessions/${session.id}/index?cap_token=axp_ct_${'1'.repeat(64)}`))
        .status,
      403,
    );
    for (const [method, path] of [
      ['GET', `/v1/exec/sessions/${session.id}/index`],
      ['GET', `/v1/exec/sessions/${session.id}/describe/run_command`],
      ['POST', `/v1/exec/sessions/${session.id}/tools/run_command/call`],
    ] as const) {
      const res = await asOutsider(method, path, {
        headers: tokenHeader(session.token),
        ...(method === 'POST' ? { body: { input: { argv: ['true'] } } } : {}),
      });
      assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
    }
    const badId = await asAlice('GET', '/v1/exec/sessions/not-a-uuid/index', {
      headers: tokenHeader(session.token),
    });
    assert.equal(badId.status, 404);
    // An unknown (odd) name is 404; an oversized one is refused by the router (414).
    const badName = await asAlice('GET', `/v1/exec/sessions/${session.id}/describe/${'x'.repeat(90)}`, {
      headers: tokenHeader(session.token),
    });
    assert.equal(badName.status, 404);
    const oddName = await asAlice('GET', `/v1/exec/sessions/${session.id}/describe/a%20b`, {
      headers: tokenHeader(session.token),
    });
    assert.equal(oddName.status, 404);
    const longName = await asAlice('GET', `/v1/exec/sessions/${session.id}/describe/${'x'.repeat(300)}`, {
      headers: tokenHeader(session.token),
    });
    assert.equal(longName.status, 414);

    const call = await callTool(session, 'run_command', { argv: ['true'] });
    assert.equal(call.status, 200, call.text);
    const refused = await callTool(session, 'read_file', { path: 'x' });
    assert.equal(refused.status, 404);
    const rows = await prisma.client.auditEvent.findMany({
      where: {
        action: { in: ['exec.tool.call', 'exec.capability.granted', 'exec.capability.refused'] },
        actorId: alice.id,
      },
      orderBy: { at: 'asc' },
    });
    const callRow = rows.find((r) => r.action === 'exec.tool.call' && r.targetId === call.body.job_id);
    assert.ok(callRow, 'exec.tool.call audited');
    assert.ok(
      rows.some(
        (r) =>
          r.action === 'exec.capability.refused' &&
          (r.details as { tool?: string; for?: string }).tool === 'read_file' &&
          (r.details as { for?: string }).for === 'tool',
      ),
      'the refused tool is audited',
    );
    assert.ok(!JSON.stringify(rows.map((r) => r.details)).includes(session.token), 'no token in the trail');
  });
});
