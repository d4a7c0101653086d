// Scenario idempotency-storm: N concurrent POST /v1/intents with one Idempotency-Key and one body
// must make exactly one intent and give every caller 200 with its id (SPEC §1: same caller + route +
// key + body → the original answer; create-intent stores it in the intent's own transaction, so no
// request waits for an in-flight twin). Then the key with another body → 409 idempotency_conflict,
// and a mixed storm (half one body, half another, on a fresh key) → one intent, 200s for the winning
// body and 409 idempotency_conflict for the other. Counts come from the database.
import { PrismaService } from '@axle/data';
import { registerTestAgent, requireEnv } from '@axle/testing';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type ChaosContext, gatewayErrorLog, type ScenarioResult } from './harness';
import { jsonOf, type RawResponse, send } from './http';

type Tally = {
  /** The first 5xx answer's body, for the report. */
  firstServerError?: string;
  byStatus: Map<number | string, number>;
  ids: Set<string>;
  replayed: number;
  codes: Set<string>;
};

function tally(answers: RawResponse[]): Tally {
  const t: Tally = { byStatus: new Map(), ids: new Set(), replayed: 0, codes: new Set() };
  for (const a of answers) {
    const key = a.kind === 'response' ? a.status : a.error;
    t.byStatus.set(key, (t.byStatus.get(key) ?? 0) + 1);
    if (a.kind !== 'response') continue;
    if (a.status >= 500) t.firstServerError ??= a.text.slice(0, 500);
    const body = jsonOf(a.text) as { intent_id?: unknown; error?: { code?: unknown } } | undefined;
    if (a.status === 200 && typeof body?.intent_id === 'string') t.ids.add(body.intent_id);
    if (typeof body?.error?.code === 'string') t.codes.add(body.error.code);
    if (a.headers['idempotent-replayed'] === 'true') t.replayed++;
  }
  return t;
}

const fmtStatuses = (t: Tally) =>
  [...t.byStatus.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([s, n]) => `${s}×${n}`)
    .join(', ');

export async function idempotencyStorm(ctx: ChaosContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const n = ctx.args.stormSize;
  const findings: string[] = [];
  const counts: ScenarioResult['counts'] = [];
  const prisma = new PrismaService(requireEnv('DATABASE_URL'));
  const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
  await db.connect();
  try {
    const org = `chaos-storm-${randomUUID().slice(0, 8)}`;
    const sender = await registerTestAgent(prisma, { org, name: 'sender' });
    const handler = await registerTestAgent(prisma, { org, name: 'handler' });
    const post = (key: string, body: unknown) =>
      send(
        ctx.baseUrl,
        {
          method: 'POST',
          path: '/v1/intents',
          headers: [
            ['x-api-key', sender.key],
            ['content-type', 'application/json'],
            ['idempotency-key', key],
          ],
          body: JSON.stringify(body),
        },
        120_000,
      );
    const intentsOf = async (correlationIds: string[]) =>
      Number(
        (
          await db.query<{ n: string }>(
            'SELECT count(*) AS n FROM intents WHERE correlation_id = ANY($1::uuid[])',
            [correlationIds],
          )
        ).rows[0]?.n ?? -1,
      );

    // 1. The storm: n at once, one key, one body.
    const key = `storm-${randomUUID()}`;
    const body = {
      intent_type: 'chaos.storm.v1',
      correlation_id: randomUUID(),
      to_agent: handler.address,
      payload: { n },
    };
    ctx.log(`idempotency-storm: ${n} concurrent POST /v1/intents with one key`);
    const t1 = Date.now();
    const answers = await Promise.all(Array.from({ length: n }, () => post(key, body)));
    const stormSeconds = (Date.now() - t1) / 1000;
    const storm = tally(answers);
    const made = await intentsOf([body.correlation_id]);
    counts.push(
      ['storm requests (concurrent)', n],
      ['storm answers by status', fmtStatuses(storm)],
      ['storm distinct intent ids answered', storm.ids.size],
      ['storm answers marked Idempotent-Replayed', storm.replayed],
      ['intents in the database for the storm', made],
      ['storm wall time', `${stormSeconds.toFixed(1)} s`],
    );
    if (made !== 1) findings.push(`the storm made ${made} intents, expected exactly 1`);
    if ((storm.byStatus.get(200) ?? 0) !== n)
      findings.push(`not every storm answer was 200: ${fmtStatuses(storm)}`);
    if (storm.ids.size !== 1) findings.push(`the storm answered ${storm.ids.size} different intent ids`);
    if (storm.replayed !== n - 1)
      findings.push(`${storm.replayed} answers were marked replayed, expected ${n - 1} (all but the first)`);

    // 2. The same key with another body.
    const other = await post(key, { ...body, payload: { n, other: true } });
    const otherCode =
      other.kind === 'response'
        ? `${other.status} ${String((jsonOf(other.text) as { error?: { code?: string } } | undefined)?.error?.code)}`
        : other.error;
    counts.push(['same key, another body', otherCode]);
    if (otherCode !== '409 idempotency_conflict')
      findings.push(`same key, another body answered ${otherCode}`);

    // 3. Mixed storm: a fresh key, half body A and half body B, interleaved.
    const mixedKey = `storm-mixed-${randomUUID()}`;
    const bodies = [0, 1].map((i) => ({ ...body, correlation_id: randomUUID(), payload: { variant: i } }));
    ctx.log(`idempotency-storm: ${n} concurrent creates, one key, two bodies`);
    const mixed = await Promise.all(Array.from({ length: n }, (_, i) => post(mixedKey, bodies[i % 2])));
    const mixedTally = tally(mixed);
    const mixedMade = await intentsOf(bodies.map((b) => b.correlation_id));
    counts.push(
      ['mixed storm answers by status', fmtStatuses(mixedTally)],
      ['mixed storm error codes', [...mixedTally.codes].join(', ') || '-'],
      ['intents in the database for the mixed storm', mixedMade],
    );
    const ok = mixedTally.byStatus.get(200) ?? 0;
    const conflicts = mixedTally.byStatus.get(409) ?? 0;
    if (mixedMade !== 1) findings.push(`the mixed storm made ${mixedMade} intents, expected exactly 1`);
    if (ok + conflicts !== n || ok !== n / 2 || mixedTally.ids.size !== 1)
      findings.push(
        `mixed storm: expected ${n / 2}×200 with one id and ${n / 2}×409, got ${fmtStatuses(mixedTally)}`,
      );
    if (conflicts > 0 && [...mixedTally.codes].some((c) => c !== 'idempotency_conflict'))
      findings.push(`mixed storm error codes: ${[...mixedTally.codes].join(', ')}`);

    const fivexx = [...storm.byStatus, ...mixedTally.byStatus].filter(
      ([s]) => typeof s !== 'number' || s >= 500,
    );
    if (fivexx.length)
      findings.push(
        `5xx or transport errors: ${fivexx.map(([s, c]) => `${s}×${c}`).join(', ')}; first: ${storm.firstServerError ?? mixedTally.firstServerError ?? '-'}\n${gatewayErrorLog(ctx, /error id ([0-9a-f-]{36})/.exec(storm.firstServerError ?? mixedTally.firstServerError ?? '')?.[1])}`,
      );
    return {
      name: 'idempotency-storm',
      passed: findings.length === 0,
      what: `${n} concurrent \`POST /v1/intents\` from one service account with one \`Idempotency-Key\` and one body; then that key with another body; then ${n} concurrent creates on a fresh key, alternating between two bodies. Intents counted in PostgreSQL by correlation id.`,
      counts,
      findings,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await db.end();
    await prisma.onModuleDestroy();
  }
}
