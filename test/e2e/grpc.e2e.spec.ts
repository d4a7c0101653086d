// gRPC end to end (SPEC §8, docs/grpc.md): a real gateway and worker; a @grpc/grpc-js client loads
// the same .proto as the server. The RPCs run the REST use cases, so this checks the gRPC edge:
// metadata auth, the message ↔ body mapping, error statuses with the REST code in the trailers,
// idempotency across calls, tenancy, and a server stream that follows an intent to its end.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  grpcMetadata,
  axleGrpcClients,
  type IntentsGrpcClient,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import { type ServiceError, status } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Json = Record<string, unknown>;

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
let axle: AxleProcesses;
let grpc: ReturnType<typeof axleGrpcClients>;
let client: IntentsGrpcClient;

const metadata = (key: string | null = TEST_ADMIN_KEY) => grpcMetadata(key);
const call = (method: string, req: Json, key: string | null = TEST_ADMIN_KEY) => grpc.call(method, req, key);
const failure = (method: string, req: Json, key: string | null = TEST_ADMIN_KEY) =>
  grpc.failure(method, req, key);

const createRequest = (extra: Json = {}) => ({
  intent_type: 'ops.deploy.v1',
  to_agent: `agent://default/default/grpc-${randomUUID().slice(0, 8)}`,
  payload_json: JSON.stringify({ service: 'api-gateway', version: '3.2.1' }),
  ...extra,
});

describe('gRPC axle.v1.Intents', () => {
  before(async () => {
    axle = await AxleProcesses.create({ AXLE_EXEC_ALLOW_NONE: 'true' });
    await axle.startAll(['gateway', 'worker', 'runner']);
    grpc = axleGrpcClients(axle.env.AXLE_GRPC_PORT!);
    client = grpc.client;
  });
  after(async () => {
    grpc?.close();
    await axle?.stopAll();
    await prisma.onModuleDestroy();
  });

  test('create, get, follow the events as a stream, resume, list: the REST lifecycle', async () => {
    const created = await call('CreateIntent', createRequest());
    const id = created.intent_id as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(created.replayed, false);
    assert.equal((JSON.parse(created.body_json as string) as Json).intent_id, id);

    const intent = await call('GetIntent', { intent_id: id });
    assert.equal(intent.intent_id, id);
    assert.equal(intent.intent_type, 'ops.deploy.v1');
    assert.deepEqual((JSON.parse(intent.view_json as string) as Json).payload, {
      service: 'api-gateway',
      version: '3.2.1',
    });

    // The stream sends what happened so far, then the completion as it happens, and ends there.
    const stream = client.StreamIntentEvents({ intent_id: id, since: 0 }, metadata());
    const received: Json[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (event: Json) => received.push(event));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const deadline = Date.now() + 30_000;
    while (!received.some((e) => e.status === 'DELIVERED')) {
      assert.ok(Date.now() < deadline, `no DELIVERED event: ${JSON.stringify(received)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const resumed = await call('ResumeIntent', {
      intent_id: id,
      action: 'complete',
      result_json: JSON.stringify({ deployed: true }),
    });
    assert.equal(resumed.status, 'COMPLETED');
    await ended;
    assert.deepEqual(
      received.map((e) => e.seq),
      received.map((_, i) => i + 1),
    );
    const last = received.at(-1)!;
    assert.equal(last.event_type, 'intent.completed');
    const done = await call('GetIntent', { intent_id: id });
    assert.equal(done.status, 'COMPLETED');
    assert.deepEqual((JSON.parse(done.view_json as string) as Json).result, { deployed: true });

    const listed = await call('ListIntentEvents', { intent_id: id, since: 1, limit: 0 });
    assert.deepEqual(
      (listed.events as Json[]).map((e) => e.seq),
      received.slice(1).map((e) => e.seq),
    );
    // A reconnect after the last seq gets nothing more and ends at once: the intent has ended.
    const tail = client.StreamIntentEvents({ intent_id: id, since: last.seq }, metadata());
    const more: Json[] = [];
    await new Promise<void>((resolve, reject) => {
      tail.on('data', (e: Json) => more.push(e));
      tail.on('end', resolve);
      tail.on('error', reject);
    });
    assert.deepEqual(more, []);

    // Out of order: a resolve after the end is the REST 409, ABORTED here.
    const late = await failure('ResolveIntent', { intent_id: id, status: 'CANCELED', reason: 'late' });
    assert.equal(late.code, status.ABORTED);
  });

  test('resolve ends an intent; an idempotency key replays a create and refuses another body', async () => {
    const key = randomUUID();
    const first = await call(
      'CreateIntent',
      createRequest({ idempotency_key: key, to_agent: 'agent://default/default/grpc-idem' }),
    );
    const again = await call(
      'CreateIntent',
      createRequest({ idempotency_key: key, to_agent: 'agent://default/default/grpc-idem' }),
    );
    assert.equal(again.intent_id, first.intent_id);
    assert.equal(again.replayed, true);
    const other = await failure(
      'CreateIntent',
      createRequest({ idempotency_key: key, to_agent: 'agent://default/default/grpc-other' }),
    );
    assert.deepEqual([other.code, other.error], [status.ABORTED, 'idempotency_conflict']);

    const resolved = await call('ResolveIntent', {
      intent_id: first.intent_id,
      status: 'CANCELED',
      reason: 'not needed',
    });
    assert.equal(resolved.status, 'CANCELED');
    const missing = await failure('ResolveIntent', { intent_id: first.intent_id, status: 'FAILED' });
    assert.equal(missing.code, status.INVALID_ARGUMENT);
  });

  test('bad input: the REST validation errors as INVALID_ARGUMENT, with their field paths', async () => {
    const badType = await failure('CreateIntent', createRequest({ intent_type: 'Deploy' }));
    assert.deepEqual([badType.code, badType.error], [status.INVALID_ARGUMENT, 'validation_error']);
    const paths = ((badType.details?.errors ?? []) as { path: string }[]).map((e) => e.path);
    assert.deepEqual(paths, ['intent_type']);
    // A refused write is audited like a refused REST write.
    const rows = await prisma.client.auditEvent.findMany({ where: { requestId: String(badType.requestId) } });
    assert.deepEqual(
      rows.map((r) => [r.action, r.outcome]),
      [['grpc.CreateIntent', 'failure']],
    );
    const badJson = await failure('CreateIntent', createRequest({ payload_json: '{"not json' }));
    assert.deepEqual([badJson.code, badJson.error], [status.INVALID_ARGUMENT, 'validation_error']);
    const notObject = await failure('CreateIntent', createRequest({ payload_json: '[1]' }));
    assert.equal(notObject.code, status.INVALID_ARGUMENT);
    const noAddress = await failure('CreateIntent', createRequest({ to_agent: '' }));
    assert.equal(noAddress.code, status.INVALID_ARGUMENT);
    const oversized = await failure(
      'CreateIntent',
      createRequest({ payload_json: JSON.stringify({ blob: 'x'.repeat(200 * 1024) }) }),
    );
    assert.deepEqual([oversized.code, oversized.error], [status.RESOURCE_EXHAUSTED, 'payload_too_large']);
    const noIntent = await failure('GetIntent', { intent_id: randomUUID() });
    assert.equal(noIntent.code, status.NOT_FOUND);
    const notAnId = await failure('GetIntent', { intent_id: 'not-a-uuid' });
    assert.ok([status.NOT_FOUND, status.INVALID_ARGUMENT].includes(notAnId.code), String(notAnId.code));
  });

  test('Agents.Listen: an agent streams its own deliveries and resumes after the last seq it got', async () => {
    const agent = await registerTestAgent(prisma, { name: `listener-${randomUUID().slice(0, 8)}` });
    const listen = (since: number) => {
      const stream = grpc.agents.Listen({ address: agent.address, since }, metadata(agent.key));
      const deliveries: Json[] = [];
      stream.on('data', (d: Json) => deliveries.push(d));
      stream.on('error', () => undefined); // the cancel at the end
      return { stream, deliveries };
    };
    const next = async (deliveries: Json[], count: number) => {
      const deadline = Date.now() + 30_000;
      while (deliveries.length < count) {
        assert.ok(Date.now() < deadline, `${deliveries.length} of ${count} deliveries`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return deliveries[count - 1]!;
    };
    const first = listen(0);
    const one = await call('CreateIntent', createRequest({ to_agent: agent.address }));
    const got = await next(first.deliveries, 1);
    assert.equal((got.intent as Json).intent_id, one.intent_id);
    assert.equal((got.intent as Json).status, 'DELIVERED');
    assert.ok(Number(got.seq) > 0);
    first.stream.cancel();

    // Reconnecting after the last seq: only what came since.
    const two = await call('CreateIntent', createRequest({ to_agent: agent.address }));
    const second = listen(Number(got.seq));
    const after = await next(second.deliveries, 1);
    assert.equal((after.intent as Json).intent_id, two.intent_id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(second.deliveries.length, 1);
    second.stream.cancel();

    // Another agent's address: refused as on REST.
    const other = grpc.agents.Listen({ address: `${agent.address}-not-mine`, since: 0 }, metadata(agent.key));
    const refused = await new Promise<ServiceError>((resolve) => other.on('error', resolve));
    assert.equal(refused.code, status.PERMISSION_DENIED);
    assert.equal(refused.metadata.get('axle-error-code')[0], 'owner_scope_violation');
  });

  test('Jobs: start, attach to the exact bytes and the exit, get, cancel; bad input and tokens', async () => {
    const admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    const opened = await admin('POST', '/v1/exec/sessions', {
      body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(opened.status, 200, opened.text);
    const session = {
      session_id: opened.body.session_id as string,
      cap_token: opened.body.cap_token as string,
    };
    const attach = (jobId: string, since = 0) =>
      new Promise<Json[]>((resolve, reject) => {
        const out: Json[] = [];
        const stream = grpc.jobs.AttachJob(
          { job_id: jobId, cap_token: session.cap_token, since },
          metadata(),
        );
        stream.on('data', (o: Json) => out.push(o));
        stream.on('end', () => resolve(out));
        stream.on('error', reject);
      });

    const started = await call('Jobs.StartJob', {
      ...session,
      argv: ['sh', '-c', "printf 'a\\377b'; echo oops >&2"],
    });
    const jobId = started.job_id as string;
    assert.match(jobId, /^[0-9a-f-]{36}$/);
    const output = await attach(jobId);
    const bytes = (name: string) =>
      Buffer.concat(
        output
          .filter((o) => (o.chunk as Json | null)?.stream === name)
          .map((o) => (o.chunk as Json).data as Buffer),
      );
    assert.deepEqual([...bytes('stdout')], [0x61, 0xff, 0x62], 'stdout byte for byte, not valid UTF-8');
    assert.equal(bytes('stderr').toString(), 'oops\n');
    const exit = output.at(-1)!.exit as Json;
    assert.equal(exit.status, 'exited');
    assert.equal((JSON.parse(exit.exit_json as string) as Json).exit_code, 0);
    // Attaching again after the last seq gives only the exit.
    const again = await attach(jobId, Number(output.at(-2)!.seq));
    assert.deepEqual(
      again.map((o) => Boolean(o.exit)),
      [true],
    );
    assert.equal(
      (await call('Jobs.GetJob', { job_id: jobId, cap_token: session.cap_token })).status,
      'exited',
    );
    const late = await failure('Jobs.CancelJob', { job_id: jobId, cap_token: session.cap_token });
    assert.deepEqual([late.code, late.error], [status.ABORTED, 'job_ended']);

    const sleeper = await call('Jobs.StartJob', { ...session, command: 'sleep 30' });
    await call('Jobs.CancelJob', { job_id: sleeper.job_id, cap_token: session.cap_token });
    const killed = (await attach(sleeper.job_id as string)).at(-1)!.exit as Json;
    assert.equal(killed.status, 'killed');

    const nothing = await failure('Jobs.StartJob', { ...session });
    assert.equal(nothing.code, status.INVALID_ARGUMENT);
    const noToken = await failure('Jobs.GetJob', { job_id: jobId });
    assert.equal(noToken.code, status.UNAUTHENTICATED);
    const outsider = await registerTestAgent(prisma, {
      org: `grpc-${randomUUID().slice(0, 8)}`,
      name: 'mallory',
    });
    const foreign = await failure(
      'Jobs.GetJob',
      { job_id: jobId, cap_token: session.cap_token },
      outsider.key,
    );
    assert.equal(foreign.code, status.NOT_FOUND);
  });

  test('Tasks: the handler lists its human task, decides it with ResumeIntent, and finds it decided', async () => {
    const reviewer = await registerTestAgent(prisma, { name: `reviewer-${randomUUID().slice(0, 8)}` });
    const created = await call(
      'CreateIntent',
      createRequest({
        to_agent: reviewer.address,
        human_task_json: JSON.stringify({ title: 'Ship 3.2.1?', task_type: 'approval' }),
      }),
    );
    const mine = async (status: string) =>
      ((await call('Tasks.ListMyTasks', { status }, reviewer.key)).tasks as Json[]).filter(
        (t) => t.intent_id === created.intent_id,
      );
    const deadline = Date.now() + 30_000;
    let open = await mine('open');
    while (open.length === 0) {
      assert.ok(Date.now() < deadline, 'the task never opened');
      await new Promise((r) => setTimeout(r, 100));
      open = await mine('open');
    }
    assert.equal(open[0]!.status, 'WAITING');
    assert.ok((open[0]!.allowed_outcomes as string[]).length > 0);
    const outcome = (open[0]!.allowed_outcomes as string[])[0];
    const decided = await call(
      'ResumeIntent',
      { intent_id: created.intent_id, task_result_json: JSON.stringify({ outcome }) },
      reviewer.key,
    );
    assert.ok(['COMPLETED', 'FAILED'].includes(decided.status as string), String(decided.status));
    assert.deepEqual(
      (await mine('decided')).map((t) => t.status),
      ['DECIDED'],
    );
    assert.deepEqual(await mine('open'), []);
    const bad = await failure('Tasks.ListMyTasks', { status: 'someday' }, reviewer.key);
    assert.equal(bad.code, status.INVALID_ARGUMENT);
  });

  test('no key, a bad key, another org, an unsigned signed agent: refused as on REST', async () => {
    const anonymous = await failure('GetIntent', { intent_id: randomUUID() }, null);
    assert.deepEqual([anonymous.code, anonymous.error], [status.UNAUTHENTICATED, 'missing_platform_api_key']);
    const forged = await failure(
      'GetIntent',
      { intent_id: randomUUID() },
      `axme_sa_${randomUUID()}_${'0'.repeat(64)}`,
    );
    assert.equal(forged.code, status.UNAUTHENTICATED);
    const mine = await call('CreateIntent', createRequest());
    const outsider = await registerTestAgent(prisma, {
      org: `grpc-${randomUUID().slice(0, 8)}`,
      name: 'eve',
    });
    const foreign = await failure('GetIntent', { intent_id: mine.intent_id }, outsider.key);
    assert.equal(foreign.code, status.NOT_FOUND);
    const stream = client.StreamIntentEvents({ intent_id: mine.intent_id, since: 0 }, metadata(outsider.key));
    const streamError = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    assert.equal(streamError.code, status.NOT_FOUND);

    // A gRPC call carries no request signature: an agent that requires one is refused.
    const signer = await registerTestAgent(prisma, { name: `signer-${randomUUID().slice(0, 8)}` });
    await prisma.client.serviceAccount.update({ where: { id: signer.id }, data: { requireSignature: true } });
    const unsigned = await failure('CreateIntent', createRequest(), signer.key);
    assert.deepEqual([unsigned.code, unsigned.error], [status.UNAUTHENTICATED, 'signature_required']);
  });
});
