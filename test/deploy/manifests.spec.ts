// k8s/: each overlay rendered with kustomize, every object validated against the Kubernetes (and
// Prometheus Operator) schemas, and checked against the real code: env names are configuration keys,
// the ConfigMap passes loadConfig, ports and probe paths are what the apps serve, references between
// objects resolve, images are Dockerfile targets, alerts read only the issue #7 metrics. The last
// block breaks copies on purpose to prove each checker catches its mistake.
import { loadConfig, type AxleConfig } from '@axle/config';
import { axleMetrics, startHealthServer } from '@axle/observability';
import { freePort, gatewayRouteKeys } from '@axle/testing';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import {
  AXLE_METRICS,
  type AppExpectation,
  allContainers,
  checkAlertMetrics,
  checkDockerTargets,
  checkEnvNames,
  checkImages,
  checkReferences,
  checkWorkloads,
  CONFIG_KEYS,
  type Container,
  componentOf,
  findObject,
  type IngressPath,
  type K8sObject,
  loadModels,
  manifestEnvNames,
  ofKind,
  parseDockerfile,
  parseYamlDocuments,
  podTemplate,
  prefixMatches,
  prometheusRules,
  readText,
  renderKustomization,
  ROOT,
  validateObjects,
} from './checks';

const OVERLAYS = ['dev', 'prod'] as const;
type Overlay = (typeof OVERLAYS)[number];
const APPS = ['gateway', 'worker', 'runner'] as const;
const TARGETS = ['gateway', 'worker', 'runner', 'migrate'];
/** Placeholder values for the Secret's keys (prod's Secret is created outside the manifests). */
const PLACEHOLDER_SECRETS = {
  DATABASE_URL: 'postgresql://axle:placeholder@postgres.example:5432/axle',
  REDIS_URL: 'redis://redis.example:6379',
  AXLE_JWT_SECRET: 'placeholder-secret-of-at-least-32-characters',
  AXLE_BOOTSTRAP_API_KEY: `axme_sa_00000000-0000-4000-8000-000000000000_${'0'.repeat(64)}`,
  SMTP_URL: 'smtp://mail.example:587',
};

const rendered = new Map<Overlay, K8sObject[]>();
/** The overlay as kustomize renders it; a render failure fails the test that asked. */
function render(overlay: Overlay): K8sObject[] {
  let objects = rendered.get(overlay);
  if (!objects) {
    objects = renderKustomization(`k8s/overlays/${overlay}`);
    rendered.set(overlay, objects);
  }
  return structuredClone(objects);
}

let modelsPromise: ReturnType<typeof loadModels> | null = null;
const models = () => (modelsPromise ??= loadModels());

function configMapData(objects: K8sObject[], prefix: string): Record<string, string> {
  const cm = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name.startsWith(`${prefix}-`));
  assert.ok(cm, `no ConfigMap ${prefix}-<hash>`);
  return cm.data ?? {};
}

/** loadConfig over what a pod gets: the ConfigMap, the Secret (or placeholders), the config file. */
function podConfig(objects: K8sObject[]): AxleConfig {
  const env: Record<string, string> = { ...PLACEHOLDER_SECRETS, ...configMapData(objects, 'axle-config') };
  const secret = ofKind(objects, 'Secret').find((s) => s.metadata.name.startsWith('axle-secrets'));
  for (const [k, v] of Object.entries(secret?.data ?? {})) env[k] = Buffer.from(v, 'base64').toString('utf8');
  const dir = mkdtempSync(join(tmpdir(), 'axle-deploy-'));
  try {
    const fileData = configMapData(objects, 'axle-config-file');
    const mounted = env.AXLE_CONFIG_FILE;
    assert.ok(mounted, 'AXLE_CONFIG_FILE is not set');
    const name = mounted.split('/').at(-1)!;
    assert.ok(
      fileData[name] !== undefined,
      `axle-config-file has no ${name} for AXLE_CONFIG_FILE=${mounted}`,
    );
    writeFileSync(join(dir, name), fileData[name]);
    return loadConfig({ ...env, AXLE_CONFIG_FILE: join(dir, name) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The paths the worker's and runner's health server answers (not 404), asked of the real server. */
async function healthServerPaths(candidates: string[]): Promise<Set<string>> {
  const port = await freePort();
  const server = await startHealthServer({
    host: '127.0.0.1',
    port,
    ready: () => Promise.resolve({ ok: true, checks: {} }),
  });
  try {
    const served = new Set<string>();
    for (const path of candidates) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      await res.arrayBuffer();
      if (res.status !== 404) served.add(path);
    }
    return served;
  } finally {
    server.close();
  }
}

async function expectations(
  config: AxleConfig,
  objects: K8sObject[],
): Promise<Record<string, AppExpectation>> {
  const probePaths = new Set(
    objects
      .flatMap((o) => podTemplate(o)?.spec.containers ?? [])
      .flatMap((c: Container) => [c.startupProbe, c.livenessProbe, c.readinessProbe])
      .map((p) => p?.httpGet?.path)
      .filter((p): p is string => !!p),
  );
  const gatewayGets = new Set(
    (await gatewayRouteKeys()).filter((r) => r.startsWith('GET ')).map((r) => r.slice('GET '.length)),
  );
  const health = await healthServerPaths([...probePaths, '/health', '/ready']);
  return {
    gateway: { port: config.http.port, paths: gatewayGets, graceSeconds: config.shutdownGraceSeconds },
    worker: { port: config.health.workerPort, paths: health, graceSeconds: config.shutdownGraceSeconds },
    runner: {
      port: config.health.runnerPort,
      paths: health,
      graceSeconds: config.runner.shutdownGraceSeconds,
    },
  };
}

const externalSecrets = (overlay: Overlay) => new Set(overlay === 'prod' ? ['axle-secrets'] : []);

function containerImages(objects: K8sObject[]) {
  return objects.flatMap((o) => {
    const pod = podTemplate(o);
    return pod
      ? allContainers(pod.spec).map((c) => ({
          image: c.image ?? '',
          where: `${o.kind} ${o.metadata.name}/${c.name}`,
        }))
      : [];
  });
}

const dockerTargets = () =>
  new Set(
    parseDockerfile(readText('Dockerfile'))
      .map((s) => s.name)
      .filter((n): n is string => !!n),
  );

for (const overlay of OVERLAYS) {
  describe(`k8s/overlays/${overlay}`, () => {
    test('renders with kustomize and every object is valid for its Kubernetes schema', async () => {
      const objects = render(overlay);
      assert.ok(objects.length > 20, `only ${objects.length} objects rendered`);
      assert.deepEqual(validateObjects(objects, await models()), []);
    });

    test('has the objects a deployment needs', () => {
      const objects = render(overlay);
      const count = (kind: string) => ofKind(objects, kind).length;
      for (const app of APPS) {
        for (const kind of [
          'Deployment',
          'Service',
          'HorizontalPodAutoscaler',
          'PodDisruptionBudget',
          'ServiceMonitor',
        ])
          assert.ok(
            ofKind(objects, kind).some((o) => componentOf(o) === app),
            `no ${kind} for ${app}`,
          );
        assert.ok(findObject(objects, 'ServiceAccount', `axle-${app}`), `no ServiceAccount axle-${app}`);
      }
      assert.equal(count('Ingress'), 1);
      assert.equal(count('Job'), 1);
      assert.equal(count('PrometheusRule'), 1);
      assert.equal(count('Namespace'), 1);
      assert.ok(count('NetworkPolicy') >= 5);
      const namespace = ofKind(objects, 'Namespace')[0]!.metadata.name;
      for (const o of objects.filter((o) => o.kind !== 'Namespace'))
        assert.equal(o.metadata.namespace, namespace, `${o.kind} ${o.metadata.name} is not in ${namespace}`);
      for (const sa of ofKind(objects, 'ServiceAccount'))
        assert.equal((sa as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false);
    });

    test('every environment variable it sets is an Axle configuration key', () => {
      const objects = render(overlay);
      const names = manifestEnvNames(objects);
      assert.ok(names.some((n) => n.name === 'AXLE_HOST'));
      assert.deepEqual(
        names.flatMap((n) => checkEnvNames([n.name], n.where)),
        [],
      );
      const file = parseYamlDocuments(
        configMapData(objects, 'axle-config-file')['config.yaml'] ?? '',
      )[0] as unknown;
      assert.ok(file && typeof file === 'object', 'config.yaml is not a map');
      assert.deepEqual(checkEnvNames(Object.keys(file), 'axle-config-file config.yaml'), []);
      if (overlay === 'dev') {
        const secret = ofKind(objects, 'Secret').find((s) => s.metadata.name.startsWith('axle-secrets-'));
        assert.ok(secret, 'the dev overlay generates the Secret axle-secrets');
        for (const key of ['DATABASE_URL', 'REDIS_URL'])
          assert.ok(secret.data?.[key], `dev Secret has no ${key}`);
      } else {
        assert.equal(ofKind(objects, 'Secret').length, 0, 'prod commits no Secret');
      }
    });

    test('the ConfigMap, file layer and Secret pass loadConfig with container values', () => {
      const objects = render(overlay);
      const config = podConfig(objects);
      assert.equal(config.nodeEnv, 'production');
      assert.equal(config.http.host, '0.0.0.0');
      assert.equal(config.addressing, 'strict');
      assert.match(config.temporal.address, /^temporal-frontend\.temporal\.svc:7233$/);
      assert.equal(config.dataDir, '/var/lib/axle');
      // The file layer is read: a value only the file sets.
      assert.equal(config.runner.concurrency, 4);
    });

    test('ports, probes, grace periods and security contexts match the apps', async () => {
      const objects = render(overlay);
      const config = podConfig(objects);
      const apps = await expectations(config, objects);
      assert.ok(apps.gateway!.paths.has('/health') && apps.gateway!.paths.has('/ready'), 'gateway routes');
      assert.deepEqual([...apps.worker!.paths].sort(), ['/health', '/ready']);
      assert.deepEqual(checkWorkloads(objects, apps), []);
      // The contract of issue #7: gateway and worker 30 s, runner 45 s.
      const grace = (name: string) =>
        podTemplate(findObject(objects, 'Deployment', name)!)!.spec.terminationGracePeriodSeconds;
      assert.equal(grace('axle-gateway'), 30);
      assert.equal(grace('axle-worker'), 30);
      assert.equal(grace('axle-runner'), 45);
    });

    test('the runner has the sandbox exceptions of docs/exec.md and nothing more', () => {
      const objects = render(overlay);
      for (const deployment of ofKind(objects, 'Deployment')) {
        const pod = podTemplate(deployment)!.spec as {
          securityContext?: { seccompProfile?: { type: string } };
          containers: (Container & {
            securityContext?: { seccompProfile?: { type: string }; appArmorProfile?: { type: string } };
          })[];
        };
        const main = pod.containers[0]!;
        if (componentOf(deployment) === 'runner') {
          assert.equal(main.securityContext?.seccompProfile?.type, 'Unconfined');
          assert.equal(main.securityContext?.appArmorProfile?.type, 'Unconfined');
          const init = podTemplate(deployment)!.spec.initContainers ?? [];
          assert.equal(init[0]?.image, main.image, 'the launcher comes from the runner image');
        } else {
          assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
          assert.equal(main.securityContext?.seccompProfile, undefined);
        }
      }
    });

    test('selectors, targets, port names, ServiceAccounts, ConfigMaps and Secrets resolve', () => {
      assert.deepEqual(checkReferences(render(overlay), externalSecrets(overlay)), []);
    });

    test('every image is a Dockerfile target with the overlay tag', () => {
      const objects = render(overlay);
      const images = containerImages(objects);
      assert.deepEqual(checkImages(images, dockerTargets()), []);
      const tag = overlay === 'dev' ? 'dev' : /^\d+\.\d+\.\d+$/;
      for (const { image, where } of images) {
        const [, imageTag = ''] = image.split(':');
        if (typeof tag === 'string') assert.equal(imageTag, tag, `${where}: ${image}`);
        else assert.match(imageTag, tag, `${where}: ${image}`);
      }
      for (const o of objects.filter((o) => podTemplate(o))) {
        const component = componentOf(o);
        assert.ok(
          podTemplate(o)!.spec.containers[0]!.image?.startsWith(`ghcr.io/axle/axle-${component}:`),
          `${o.kind} ${o.metadata.name} runs the image of another component`,
        );
      }
    });

    test('the migrations step applies everything the Job needs (label selector of docs/deploy.md)', () => {
      const objects = render(overlay);
      const step = new Set(['config', 'migrate']);
      const inStep = (o: K8sObject | undefined) => !!o && step.has(componentOf(o) ?? '');
      const job = ofKind(objects, 'Job')[0]!;
      assert.ok(inStep(job));
      const pod = podTemplate(job)!.spec;
      assert.ok(inStep(findObject(objects, 'ServiceAccount', pod.serviceAccountName ?? '')));
      for (const c of allContainers(pod)) {
        assert.equal(c.command, undefined, 'the Job runs the image CMD');
        for (const env of c.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref && !externalSecrets(overlay).has(ref.name))
            assert.ok(
              inStep(findObject(objects, 'Secret', ref.name)),
              `Secret ${ref.name} is not in the step`,
            );
        }
      }
      for (const o of objects.filter((o) => o.kind === 'ConfigMap' || o.kind === 'Secret'))
        assert.ok(inStep(o), `${o.kind} ${o.metadata.name} is not labelled component=config`);
    });

    test('the Ingress routes every API route of the gateway, and not /metrics, /health or /ready', async () => {
      const objects = render(overlay);
      const ingress = ofKind(objects, 'Ingress')[0]!;
      const paths = (ingress.spec as { rules: { http: { paths: IngressPath[] } }[] }).rules.flatMap(
        (r) => r.http.paths,
      );
      for (const p of paths) assert.equal(p.pathType, 'Prefix');
      const routed = (path: string) => paths.some((p) => prefixMatches(p.path, path));
      const internal = new Set(['/health', '/ready', '/metrics']);
      const routes = (await gatewayRouteKeys()).map((r) => r.split(' ')[1]!);
      assert.ok(routes.length > 50, `only ${routes.length} routes found`);
      const unrouted = routes.filter((r) => !internal.has(r) && !routed(r.replace(/:[^/]+/g, 'x')));
      assert.deepEqual(unrouted, []);
      for (const path of internal) assert.equal(routed(path), false, `${path} is routed publicly`);
      const annotations = ingress.metadata.annotations ?? {};
      assert.equal(
        annotations['nginx.ingress.kubernetes.io/proxy-buffering'],
        'off',
        'SSE needs buffering off',
      );
      assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600);
    });

    test('NetworkPolicies deny ingress by default and open only the app ports', () => {
      const objects = render(overlay);
      const policies = ofKind(objects, 'NetworkPolicy');
      const spec = (o: K8sObject) =>
        o.spec as {
          podSelector: { matchLabels?: Record<string, string> };
          policyTypes: string[];
          ingress?: { ports?: { port: number }[] }[];
        };
      assert.ok(
        policies.some(
          (p) =>
            !Object.keys(spec(p).podSelector.matchLabels ?? {}).length &&
            spec(p).policyTypes.includes('Ingress') &&
            !spec(p).ingress,
        ),
        'no default-deny ingress policy',
      );
      const config = podConfig(objects);
      const appPorts = {
        gateway: [config.http.port, config.http.grpcPort],
        worker: [config.health.workerPort],
        runner: [config.health.runnerPort],
      };
      for (const app of APPS) {
        const own = policies.filter(
          (p) => spec(p).podSelector.matchLabels?.['app.kubernetes.io/component'] === app,
        );
        assert.ok(own.length, `no ingress policy for ${app}`);
        for (const rule of own.flatMap((p) => spec(p).ingress ?? []))
          for (const port of rule.ports ?? [])
            assert.ok(appPorts[app].includes(port.port), `${app} opens port ${port.port}`);
      }
    });

    test('alerts read only issue #7 metrics and each has a runbook in docs/operations.md', () => {
      const objects = render(overlay);
      const rules = prometheusRules(objects);
      assert.deepEqual(checkAlertMetrics(rules), []);
      const alerts = rules.map((r) => r.alert);
      for (const required of [
        'AxleHighErrorRate',
        'AxleHighLatencyP99',
        'AxleEventDeliveryLag',
        'AxleExecQueueBacklog',
        'AxleHumanTasksWaiting',
        'AxleExecJobFailures',
        'AxlePodsNotReady',
      ])
        assert.ok(alerts.includes(required), `no alert ${required}`);
      const operations = readText('docs/operations.md');
      const anchors = new Set(
        [...operations.matchAll(/^#+\s+(.+)$/gm)].map((m) =>
          m[1]!
            .trim()
            .toLowerCase()
            .replace(/[^\w\s-]/g, '')
            .replace(/\s+/g, '-'),
        ),
      );
      for (const rule of rules) {
        assert.ok(rule.labels?.severity, `${rule.alert} has no severity`);
        const anchor = rule.annotations?.runbook_url?.split('#')[1];
        assert.ok(
          anchor && anchors.has(anchor),
          `${rule.alert}: runbook anchor #${anchor} is not a heading of docs/operations.md`,
        );
      }
      if (overlay === 'prod')
        for (const o of [...ofKind(objects, 'ServiceMonitor'), ...ofKind(objects, 'PrometheusRule')])
          assert.equal(o.metadata.labels?.release, 'kube-prometheus-stack', `${o.kind} ${o.metadata.name}`);
    });
  });
}

describe('k8s/components/runner-userns', () => {
  test('added to an overlay, it runs the runner in a user namespace with an unmasked /proc', async () => {
    mkdirSync(join(ROOT, '.axle'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.axle', 'kustomize-'));
    try {
      const rel = (p: string) => relative(dir, join(ROOT, p));
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `resources:\n  - ${rel('k8s/overlays/prod')}\ncomponents:\n  - ${rel('k8s/components/runner-userns')}\n`,
      );
      const objects = renderKustomization(relative(ROOT, dir));
      assert.deepEqual(validateObjects(objects, await models()), []);
      const runner = podTemplate(findObject(objects, 'Deployment', 'axle-runner')!)!.spec as {
        hostUsers?: boolean;
        containers: { securityContext?: { procMount?: string } }[];
      };
      assert.equal(runner.hostUsers, false);
      assert.equal(runner.containers[0]?.securityContext?.procMount, 'Unmasked');
      const gateway = podTemplate(findObject(objects, 'Deployment', 'axle-gateway')!)!.spec as {
        hostUsers?: boolean;
      };
      assert.equal(gateway.hostUsers, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Dockerfile', () => {
  test('has the four targets, each non-root, each CMD pointing at a file the build makes', () => {
    const stages = parseDockerfile(readText('Dockerfile'));
    assert.deepEqual(
      checkDockerTargets(stages, TARGETS, (f) => existsSync(join(ROOT, f))),
      [],
    );
    for (const app of APPS)
      assert.deepEqual(stages.find((s) => s.name === app)?.cmd, ['node', `dist/apps/${app}/src/main.js`]);
    for (const bundle of ['dist/workflow-bundle.js', 'dist/workflow-bundle.untraced.js'])
      assert.ok(existsSync(join(ROOT, bundle)), `the build prebuilds ${bundle}`);
    assert.ok(
      existsSync(join(ROOT, 'dist/libs/sandbox/src/launcher.js')),
      'the launcher build step requires it',
    );
    const text = readText('Dockerfile');
    assert.match(text, /ENV NODE_ENV=production \\\s+AXLE_HOST=0\.0\.0\.0/);
    assert.match(text, /^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    assert.match(text, /^ARG NODE_IMAGE=node:22\.\d+\.\d+-bookworm-slim$/m);
    assert.match(text, /apt-get install -y --no-install-recommends bubblewrap util-linux libc-bin/);
  });

  test('the build context leaves out host builds, dependencies and secrets', () => {
    const ignored = readText('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of [
      '**/node_modules',
      'dist',
      '.axle',
      '.tools',
      '.git',
      'libs/data/src/generated',
      '.env',
    ])
      assert.ok(ignored.includes(entry), `.dockerignore misses ${entry}`);
    const copied = [...readText('Dockerfile').matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap(
      (m) => m[1]!.split(/\s+/),
    );
    for (const path of copied) assert.ok(existsSync(join(ROOT, path)), `COPY ${path}: no such file`);
  });
});

describe('the checkers catch mistakes', () => {
  test('a probe on the wrong port, a path the app does not serve, a short grace period', async () => {
    const objects = render('prod');
    const apps = await expectations(podConfig(objects), objects);
    const gateway = podTemplate(findObject(objects, 'Deployment', 'axle-gateway')!)!.spec;
    gateway.containers[0]!.readinessProbe!.httpGet!.port = 8101;
    gateway.containers[0]!.livenessProbe!.httpGet!.path = '/healthz';
    gateway.terminationGracePeriodSeconds = 20;
    const worker = podTemplate(findObject(objects, 'Deployment', 'axle-worker')!)!.spec;
    worker.containers[0]!.ports![0]!.containerPort = 8100;
    const problems = checkWorkloads(objects, apps);
    assert.ok(
      problems.some((p) => /readinessProbe port 8101/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /livenessProbe path \/healthz/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /terminationGracePeriodSeconds 20/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /axle-worker: container ports 8100/.test(p)),
      problems.join('\n'),
    );
  });

  test('an unknown env name', () => {
    assert.ok(CONFIG_KEYS.has('AXLE_PORT'));
    assert.deepEqual(checkEnvNames(['AXLE_PORT'], 'x'), []);
    assert.equal(checkEnvNames(['AXLE_PROT'], 'ConfigMap axle-config').length, 1);
    const objects = render('dev');
    const cm = ofKind(objects, 'ConfigMap').find(
      (c) => c.metadata.name.startsWith('axle-config-') && !c.metadata.name.includes('file'),
    )!;
    cm.data!.AXLE_WORKER_PORT = '8102';
    const problems = manifestEnvNames(objects).flatMap((n) => checkEnvNames([n.name], n.where));
    assert.deepEqual(problems, [
      `ConfigMap ${cm.metadata.name}: AXLE_WORKER_PORT is not an Axle configuration key (libs/config/src/config.schema.ts)`,
    ]);
  });

  test('a schema violation and a kind without a model', async () => {
    const objects = render('dev');
    const deployment = findObject(objects, 'Deployment', 'axle-runner')!;
    (podTemplate(deployment)!.spec.containers[0]!.ports![0] as { containerPort: unknown }).containerPort =
      'http';
    objects.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });
    const problems = validateObjects(objects, await models());
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /axle-runner: .*containerPort must be integer/);
    assert.match(problems[1]!, /Widget w: no model/);
  });

  test('broken references: a Service selector, a ServiceMonitor port, an HPA target, a Secret', () => {
    const objects = render('prod');
    (findObject(objects, 'Service', 'axle-worker')!.spec as { selector: Record<string, string> }).selector[
      'app.kubernetes.io/component'
    ] = 'wroker';
    (
      findObject(objects, 'ServiceMonitor', 'axle-runner')!.spec as { endpoints: { port: string }[] }
    ).endpoints[0]!.port = 'http';
    (
      findObject(objects, 'HorizontalPodAutoscaler', 'axle-gateway')!.spec as {
        scaleTargetRef: { name: string };
      }
    ).scaleTargetRef.name = 'gateway';
    const problems = checkReferences(objects, new Set());
    assert.ok(
      problems.includes('Service axle-worker: selector matches no pod template'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('ServiceMonitor axle-runner: no selected Service has a port named http'),
      problems.join('\n'),
    );
    assert.ok(
      problems.includes('HorizontalPodAutoscaler axle-gateway: target Deployment gateway does not exist'),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /Secret axle-secrets does not exist/.test(p)),
      problems.join('\n'),
    );
  });

  test('an image no Dockerfile target builds', () => {
    assert.deepEqual(
      checkImages([{ image: 'ghcr.io/axle/axle-runner:1.0.0', where: 'a' }], dockerTargets()),
      [],
    );
    assert.equal(
      checkImages([{ image: 'ghcr.io/axle/axle-scheduler:1.0.0', where: 'b' }], dockerTargets()).length,
      1,
    );
    assert.equal(checkImages([{ image: 'busybox', where: 'c' }], dockerTargets()).length, 1);
  });

  test('an alert on a metric that is not in the list, and PromQL parsing', () => {
    const rules = [
      {
        alert: 'Good',
        expr: 'histogram_quantile(0.99, sum by (le, route) (rate(axle_http_request_duration_seconds_bucket{route!~".*stream"}[5m]))) > 2',
      },
      {
        alert: 'Typo',
        expr: 'sum(rate(axle_http_requests_total{status_code=~"5.."}[5m])) / on(namespace) group_left up > 0',
      },
      { alert: 'CounterSuffix', expr: 'rate(axle_exec_jobs_total_count[5m]) > 0' },
    ];
    assert.deepEqual(checkAlertMetrics(rules), [
      'alert Typo: metric axle_http_requests_total is not in the issue #7 metric list',
      'alert CounterSuffix: metric axle_exec_jobs_total_count is not in the issue #7 metric list',
    ]);
  });

  test('a Dockerfile target running as root or starting a file the build does not make', () => {
    const stages = parseDockerfile(
      [
        'FROM node:22 AS runtime',
        'FROM runtime AS gateway',
        'CMD ["node", "dist/apps/gateway/src/main.js"]',
        'FROM runtime AS worker',
        'USER 10001',
        'CMD ["node", "dist/apps/wroker/src/main.js"]',
        'FROM runtime AS runner',
        'USER root',
        'CMD ["node", "dist/apps/runner/src/main.js"]',
      ].join('\n'),
    );
    const problems = checkDockerTargets(stages, ['gateway', 'worker', 'runner', 'migrate'], (f) =>
      existsSync(join(ROOT, f)),
    );
    assert.deepEqual(problems, [
      'Dockerfile gateway: runs as root (no USER)',
      'Dockerfile worker: CMD entry dist/apps/wroker/src/main.js does not exist in the build',
      'Dockerfile runner: runs as root',
      'Dockerfile: no stage named migrate',
    ]);
  });
});

describe('alert metrics', () => {
  test('AXLE_METRICS (what alerts may use) is exactly the catalog the apps register', async () => {
    const registry = new Registry();
    for (const metric of Object.values(axleMetrics)) registry.registerMetric<string>(metric);
    const exported = Object.fromEntries(
      (await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]),
    );
    assert.deepEqual(exported, { ...AXLE_METRICS });
  });
});
