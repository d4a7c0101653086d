import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig, parseCidr } from './config.schema';

const base = {
  DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/axle',
  REDIS_URL: 'redis://127.0.0.1:6379',
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
};

function issuesOf(env: Record<string, string>): { key: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('defaults follow SPEC §1', () => {
    const config = loadConfig(base);
    assert.equal(config.http.port, 8100);
    assert.equal(config.http.grpcPort, 8101);
    assert.equal(config.temporal.namespace, 'default');
    assert.equal(config.limits.maxPayloadBytes, 131072);
    assert.equal(config.addressing, 'open');
    assert.equal(config.limits.maxBodyBytes, 1024 * 1024);
    assert.equal(config.rateLimit.perMinute, 120);
    assert.equal(config.rateLimit.agentPerMinute, 600);
  });

  test('magic links live 7 days unless AXLE_MAGIC_LINK_TTL_SECONDS says otherwise; bad values name the key', () => {
    const config = loadConfig(base);
    assert.equal(config.humans.magicLinkTtlSeconds, 604_800);
    assert.equal(config.publicUrl, 'http://127.0.0.1:8100');
    assert.equal(config.smtpUrl, null);
    const set = loadConfig({
      ...base,
      AXLE_MAGIC_LINK_TTL_SECONDS: '60',
      AXLE_PUBLIC_URL: 'https://axle.example.com/',
      SMTP_URL: 'smtp://mail.example.com:2525',
    });
    assert.equal(set.humans.magicLinkTtlSeconds, 60);
    assert.equal(set.publicUrl, 'https://axle.example.com');
    assert.equal(set.smtpUrl, 'smtp://mail.example.com:2525');
    for (const bad of ['0', '-5', '1.5', 'week', '31536001'])
      assert.deepEqual(
        issuesOf({ ...base, AXLE_MAGIC_LINK_TTL_SECONDS: bad }).map((i) => i.key),
        ['AXLE_MAGIC_LINK_TTL_SECONDS'],
        bad,
      );
    assert.deepEqual(
      issuesOf({ ...base, SMTP_URL: 'http://mail.example.com' }).map((i) => i.key),
      ['SMTP_URL'],
    );
  });

  test('the per-agent rate limit is read from the environment; 0 turns the default bucket off', () => {
    assert.equal(
      loadConfig({ ...base, AXLE_AGENT_RATE_LIMIT_PER_MINUTE: '30' }).rateLimit.agentPerMinute,
      30,
    );
    assert.equal(loadConfig({ ...base, AXLE_AGENT_RATE_LIMIT_PER_MINUTE: '0' }).rateLimit.agentPerMinute, 0);
  });

  test('body limit and rate limit are read from the environment; 0 turns rate limiting off', () => {
    const config = loadConfig({ ...base, AXLE_MAX_BODY_BYTES: '2097152', AXLE_RATE_LIMIT_PER_MINUTE: '5' });
    assert.equal(config.limits.maxBodyBytes, 2_097_152);
    assert.equal(config.rateLimit.perMinute, 5);
    assert.equal(loadConfig({ ...base, AXLE_RATE_LIMIT_PER_MINUTE: '0' }).rateLimit.perMinute, 0);
  });

  test('a body limit below the payload limit is refused, naming AXLE_MAX_BODY_BYTES', () => {
    const issues = issuesOf({ ...base, AXLE_MAX_BODY_BYTES: '65536', AXLE_MAX_PAYLOAD_BYTES: '131072' });
    assert.deepEqual(
      issues.map((i) => i.key),
      ['AXLE_MAX_BODY_BYTES'],
    );
    assert.match(issues[0]!.message, /AXLE_MAX_PAYLOAD_BYTES/);
  });

  test('production defaults to strict addressing; an explicit value wins', () => {
    assert.equal(loadConfig({ ...base, NODE_ENV: 'production' }).addressing, 'strict');
    assert.equal(loadConfig({ ...base, NODE_ENV: 'production', AXLE_ADDRESSING: 'open' }).addressing, 'open');
  });

  test('egress: private addresses are reachable outside production; CIDRs are parsed once', () => {
    assert.deepEqual(loadConfig(base).egress, { allowPrivate: true, allowedCidrs: [] });
    assert.equal(loadConfig({ ...base, NODE_ENV: 'production' }).egress.allowPrivate, false);
    const config = loadConfig({
      ...base,
      NODE_ENV: 'production',
      AXLE_EGRESS_ALLOW_PRIVATE: 'true',
      AXLE_EGRESS_ALLOWED_CIDRS: '10.0.0.0/8, fd00::/8,',
    });
    assert.deepEqual(config.egress, {
      allowPrivate: true,
      allowedCidrs: [
        { network: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { network: 'fd00::', prefix: 8, family: 'ipv6' },
      ],
    });
    const [issue] = issuesOf({ ...base, AXLE_EGRESS_ALLOWED_CIDRS: '10.0.0.0/8,10.0.0.0/33' });
    assert.equal(issue?.key, 'AXLE_EGRESS_ALLOWED_CIDRS');
    assert.match(issue?.message ?? '', /"10\.0\.0\.0\/33" is not a CIDR/);
    for (const bad of ['10.0.0.0', '::/129', 'host/8', '10.0.0.0/8/1', '10.0.0.0/x', '/8'])
      assert.equal(parseCidr(bad), null, bad);
  });

  test('missing required keys are each named', () => {
    const keys = issuesOf({})
      .map((i) => i.key)
      .sort();
    assert.deepEqual(keys, ['DATABASE_URL', 'REDIS_URL', 'TEMPORAL_ADDRESS']);
  });

  for (const [key, value] of [
    ['AXLE_PORT', 'eighty'],
    ['AXLE_PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'not a url'],
    ['TEMPORAL_ADDRESS', 'localhost'],
    ['AXLE_ADDRESSING', 'sometimes'],
    ['AXLE_JWT_SECRET', 'short'],
    ['AXLE_BOOTSTRAP_API_KEY', 'axme_sa_nope'],
    ['AXLE_MAX_PAYLOAD_BYTES', '-1'],
    ['AXLE_MAX_BODY_BYTES', '100'],
    ['AXLE_MAX_BODY_BYTES', 'lots'],
    ['AXLE_MAX_BODY_BYTES', '1.5'],
    ['AXLE_RATE_LIMIT_PER_MINUTE', '-1'],
    ['AXLE_RATE_LIMIT_PER_MINUTE', 'many'],
    ['AXLE_RATE_LIMIT_PER_MINUTE', '2.5'],
    ['AXLE_AGENT_RATE_LIMIT_PER_MINUTE', '-1'],
    ['AXLE_AGENT_RATE_LIMIT_PER_MINUTE', 'lots'],
    ['AXLE_AGENT_RATE_LIMIT_PER_MINUTE', '0.5'],
    ['AXLE_AGENT_RATE_LIMIT_PER_MINUTE', '1000001'],
    ['LOG_LEVEL', 'loud'],
    ['AXLE_EGRESS_ALLOW_PRIVATE', 'maybe'],
    ['AXLE_EGRESS_ALLOWED_CIDRS', '10.0.0.0'],
  ] as const) {
    test(`a bad ${key} (${value}) is refused with its name`, () => {
      const issues = issuesOf({ ...base, [key]: value });
      assert.deepEqual(
        issues.map((i) => i.key),
        [key],
      );
      assert.ok(issues[0]!.message.length > 0);
    });
  }

  test('a missing key is "required"; a key with a bad value is not, and its value is not echoed', () => {
    const { DATABASE_URL: _omitted, ...rest } = base;
    const issues = issuesOf({ ...rest, AXLE_PORT: 'abc' });
    assert.deepEqual(
      issues.map((i) => [i.key, /is required/.test(i.message)]),
      [
        ['AXLE_PORT', false],
        ['DATABASE_URL', true],
      ],
    );
    assert.doesNotMatch(issues[0]!.message, /abc/);
  });

  test('the error message lists every bad key', () => {
    assert.throws(
      () => loadConfig({ ...base, AXLE_PORT: 'x', LOG_LEVEL: 'y' }),
      (err: Error) => /AXLE_PORT/.test(err.message) && /LOG_LEVEL/.test(err.message),
    );
  });

  test('webhook retries: defaults, overrides, and bad values named', () => {
    assert.deepEqual(loadConfig(base).webhooks, { maxAttempts: 5, backoffMs: 30_000, backoffMaxMs: 600_000 });
    assert.deepEqual(
      loadConfig({
        ...base,
        AXLE_WEBHOOK_MAX_ATTEMPTS: '3',
        AXLE_WEBHOOK_BACKOFF_MS: '50',
        AXLE_WEBHOOK_BACKOFF_MAX_MS: '200',
      }).webhooks,
      { maxAttempts: 3, backoffMs: 50, backoffMaxMs: 200 },
    );
    for (const [key, value] of [
      ['AXLE_WEBHOOK_MAX_ATTEMPTS', '0'],
      ['AXLE_WEBHOOK_MAX_ATTEMPTS', '101'],
      ['AXLE_WEBHOOK_MAX_ATTEMPTS', 'many'],
      ['AXLE_WEBHOOK_BACKOFF_MS', '0'],
      ['AXLE_WEBHOOK_BACKOFF_MS', '1.5'],
      ['AXLE_WEBHOOK_BACKOFF_MAX_MS', '-1'],
    ] as const) {
      assert.deepEqual(
        issuesOf({ ...base, [key]: value }).map((i) => i.key),
        [key],
        `${key}=${value}`,
      );
    }
  });

  test('a webhook backoff ceiling below the base delay is refused', () => {
    const issues = issuesOf({
      ...base,
      AXLE_WEBHOOK_BACKOFF_MS: '5000',
      AXLE_WEBHOOK_BACKOFF_MAX_MS: '1000',
    });
    assert.deepEqual(
      issues.map((i) => i.key),
      ['AXLE_WEBHOOK_BACKOFF_MAX_MS'],
    );
    assert.match(issues[0]!.message, /AXLE_WEBHOOK_BACKOFF_MS/);
  });

  test('empty values count as unset', () => {
    assert.equal(loadConfig({ ...base, AXLE_PORT: '' }).http.port, 8100);
  });
});

describe('mesh configuration', () => {
  test('defaults: degraded after 90 s, unreachable after 300 s, killed re-check at most every 30 s', () => {
    assert.deepEqual(loadConfig(base).mesh, {
      degradedAfterSeconds: 90,
      unreachableAfterSeconds: 300,
      killedRecheckMaxSeconds: 30,
    });
  });

  test('thresholds are read from the environment', () => {
    assert.deepEqual(
      loadConfig({
        ...base,
        AXLE_MESH_DEGRADED_AFTER_SECONDS: '5',
        AXLE_MESH_UNREACHABLE_AFTER_SECONDS: '20',
        AXLE_MESH_KILLED_RECHECK_MAX_SECONDS: '1',
      }).mesh,
      { degradedAfterSeconds: 5, unreachableAfterSeconds: 20, killedRecheckMaxSeconds: 1 },
    );
  });

  for (const [key, value] of [
    ['AXLE_MESH_DEGRADED_AFTER_SECONDS', '0'],
    ['AXLE_MESH_DEGRADED_AFTER_SECONDS', '1.5'],
    ['AXLE_MESH_DEGRADED_AFTER_SECONDS', 'soon'],
    ['AXLE_MESH_DEGRADED_AFTER_SECONDS', '86401'],
    ['AXLE_MESH_UNREACHABLE_AFTER_SECONDS', '-5'],
    ['AXLE_MESH_UNREACHABLE_AFTER_SECONDS', '604801'],
    ['AXLE_MESH_KILLED_RECHECK_MAX_SECONDS', '0'],
    ['AXLE_MESH_KILLED_RECHECK_MAX_SECONDS', '3601'],
  ] as const) {
    test(`a bad ${key} (${value}) is refused with its name`, () => {
      assert.deepEqual(
        issuesOf({ ...base, [key]: value }).map((i) => i.key),
        [key],
      );
    });
  }

  test('unreachable must come after degraded, naming AXLE_MESH_UNREACHABLE_AFTER_SECONDS', () => {
    for (const unreachable of ['60', '90']) {
      const issues = issuesOf({
        ...base,
        AXLE_MESH_DEGRADED_AFTER_SECONDS: '90',
        AXLE_MESH_UNREACHABLE_AFTER_SECONDS: unreachable,
      });
      assert.deepEqual(
        issues.map((i) => i.key),
        ['AXLE_MESH_UNREACHABLE_AFTER_SECONDS'],
      );
      assert.match(issues[0]!.message, /AXLE_MESH_DEGRADED_AFTER_SECONDS/);
    }
    // A default on one side still takes part in the rule.
    assert.deepEqual(
      issuesOf({ ...base, AXLE_MESH_DEGRADED_AFTER_SECONDS: '400' }).map((i) => i.key),
      ['AXLE_MESH_UNREACHABLE_AFTER_SECONDS'],
    );
  });
});

describe('exec configuration', () => {
  test('defaults: tier none off, 64 MiB output ceiling, runner concurrency 4, stalled policy timings', () => {
    const config = loadConfig(base);
    assert.equal(config.exec.allowNone, false);
    assert.equal(config.exec.ceilings.output_bytes, 64 * 1024 * 1024);
    assert.equal(config.exec.workspacesDir.endsWith('/.axle/exec/workspaces'), true);
    assert.deepEqual(config.runner, {
      concurrency: 4,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxAttempts: 3,
      requeueAfterMs: 30_000,
      shutdownGraceSeconds: 30,
    });
  });

  test('values are read from the environment', () => {
    const config = loadConfig({
      ...base,
      AXLE_EXEC_ALLOW_NONE: 'true',
      AXLE_EXEC_WORKSPACES_DIR: '/srv/ws',
      AXLE_EXEC_MAX_OUTPUT_BYTES: '2048',
      AXLE_RUNNER_CONCURRENCY: '8',
      AXLE_WORKER_MAX_CACHED_WORKFLOWS: '0',
      AXLE_RUNNER_REQUEUE_AFTER_MS: '5000',
    });
    assert.equal(config.exec.allowNone, true);
    assert.equal(config.exec.workspacesDir, '/srv/ws');
    assert.equal(config.exec.ceilings.output_bytes, 2048);
    assert.equal(config.runner.concurrency, 8);
    assert.equal(config.worker.maxCachedWorkflows, 0);
    assert.equal(config.runner.requeueAfterMs, 5000);
  });

  test('the worker keeps at most 64 workflows in its sticky cache by default', () => {
    assert.equal(loadConfig(base).worker.maxCachedWorkflows, 64);
    assert.equal(loadConfig({ ...base, AXLE_WORKER_MAX_CACHED_WORKFLOWS: '2' }).worker.maxCachedWorkflows, 2);
  });

  for (const [key, value] of [
    ['AXLE_EXEC_ALLOW_NONE', 'maybe'],
    ['AXLE_EXEC_MAX_OUTPUT_BYTES', '10'],
    ['AXLE_EXEC_MAX_CPU_SECONDS', '0'],
    ['AXLE_RUNNER_CONCURRENCY', '0'],
    ['AXLE_RUNNER_LOCK_DURATION_MS', '10'],
    ['AXLE_RUNNER_STALLED_INTERVAL_MS', 'often'],
    ['AXLE_RUNNER_MAX_ATTEMPTS', '0'],
    ['AXLE_RUNNER_REQUEUE_AFTER_MS', '999'],
    ['AXLE_RUNNER_REQUEUE_AFTER_MS', '3600001'],
    ['AXLE_RUNNER_REQUEUE_AFTER_MS', 'soon'],
    ['AXLE_WORKER_MAX_CACHED_WORKFLOWS', '1'],
    ['AXLE_WORKER_MAX_CACHED_WORKFLOWS', '-5'],
    ['AXLE_WORKER_MAX_CACHED_WORKFLOWS', '100001'],
    ['AXLE_WORKER_MAX_CACHED_WORKFLOWS', 'lots'],
    ['AXLE_SHUTDOWN_GRACE_SECONDS', '-1'],
    ['AXLE_TRACING_EXPORTER', 'jaeger'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
    ['AXLE_TRACING_SAMPLE_RATIO', '1.5'],
  ] as const) {
    test(`a bad ${key} (${value}) is refused with its name`, () => {
      assert.deepEqual(
        issuesOf({ ...base, [key]: value }).map((i) => i.key),
        [key],
      );
    });
  }

  test('tracing is off by default; the OTLP endpoint loses its trailing slash', () => {
    assert.deepEqual(loadConfig(base).tracing, {
      exporter: 'none',
      otlpEndpoint: 'http://127.0.0.1:4318',
      sampleRatio: 1,
    });
    const config = loadConfig({
      ...base,
      AXLE_TRACING_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      AXLE_TRACING_SAMPLE_RATIO: '0.25',
    });
    assert.deepEqual(config.tracing, {
      exporter: 'otlp',
      otlpEndpoint: 'http://collector:4318',
      sampleRatio: 0.25,
    });
  });
});

describe('layered configuration: defaults < AXLE_CONFIG_FILE < environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'axle-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  test('a YAML file fills what the environment leaves unset; the environment wins', () => {
    const path = file(
      'axle.yaml',
      'AXLE_PORT: 9000\nLOG_LEVEL: debug\nAXLE_EXEC_ALLOW_NONE: true\nREDIS_URL: redis://file:6379\n',
    );
    const config = loadConfig({ ...base, AXLE_CONFIG_FILE: path, LOG_LEVEL: 'warn' });
    assert.equal(config.http.port, 9000);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.exec.allowNone, true);
    assert.equal(config.redis.url, 'redis://127.0.0.1:6379');
    // Keys the file and the environment leave unset keep their defaults.
    assert.equal(config.rateLimit.perMinute, 120);
  });

  test('a JSON file works too, and can hold the required keys', () => {
    const path = file('axle.json', JSON.stringify({ ...base, AXLE_RATE_LIMIT_PER_MINUTE: 7 }));
    const config = loadConfig({ AXLE_CONFIG_FILE: path });
    assert.equal(config.database.url, base.DATABASE_URL);
    assert.equal(config.rateLimit.perMinute, 7);
  });

  test('a bad value from the file names the key and the file; the same bad value from env names the key', () => {
    const path = file('bad.yaml', 'AXLE_PORT: 70000\n');
    const [issue] = issuesOf({ ...base, AXLE_CONFIG_FILE: path });
    assert.equal(issue?.key, 'AXLE_PORT');
    assert.match(issue?.message ?? '', new RegExp(`from ${path}`));
    const [fromEnv] = issuesOf({ ...base, AXLE_CONFIG_FILE: path, AXLE_PORT: '70001' });
    assert.equal(fromEnv?.key, 'AXLE_PORT');
    assert.doesNotMatch(fromEnv?.message ?? '', /from /);
  });

  test('unknown keys, nested values, a list, bad YAML and a missing file are refused by name', () => {
    assert.deepEqual(
      issuesOf({ ...base, AXLE_CONFIG_FILE: file('typo.yaml', 'AXLE_PROT: 1\nAXLE_PORT: {a: 1}\n') }).map(
        (i) => i.key,
      ),
      ['AXLE_PROT', 'AXLE_PORT'],
    );
    for (const [name, text] of [
      ['list.yaml', '- AXLE_PORT\n'],
      ['broken.yaml', 'AXLE_PORT: [unclosed\n'],
    ] as const)
      assert.deepEqual(
        issuesOf({ ...base, AXLE_CONFIG_FILE: file(name, text) }).map((i) => i.key),
        ['AXLE_CONFIG_FILE'],
        name,
      );
    const [missing] = issuesOf({ ...base, AXLE_CONFIG_FILE: join(dir, 'nope.yaml') });
    assert.equal(missing?.key, 'AXLE_CONFIG_FILE');
    assert.match(missing?.message ?? '', /cannot read/);
  });

  test('an empty file changes nothing', () => {
    assert.equal(loadConfig({ ...base, AXLE_CONFIG_FILE: file('empty.yaml', '') }).http.port, 8100);
  });
});
