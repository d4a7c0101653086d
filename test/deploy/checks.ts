// Checkers for the deployment files (k8s/, docker-compose.yml, .env.example, Dockerfile). Each takes
// parsed objects and returns a list of problems (empty = fine), so the specs can run them on the real
// files and on deliberately broken copies (a checker that finds nothing wrong in a broken copy fails).
import { envSchema } from '@axle/config';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = process.cwd();

/**
 * Axle's metrics (a test holds this list equal to the catalog in @axle/observability's metrics.ts):
 * the alerts may use only these, their histogram series (_bucket, _count, _sum), prom-client's
 * default process_/nodejs_ metrics, and EXTERNAL_METRICS.
 */
export const AXLE_METRICS: Readonly<Record<string, 'counter' | 'gauge' | 'histogram'>> = {
  axle_http_request_duration_seconds: 'histogram',
  axle_intents_created_total: 'counter',
  axle_event_delivery_lag_seconds: 'histogram',
  axle_sse_streams_open: 'gauge',
  axle_human_tasks_waiting: 'gauge',
  axle_queue_jobs: 'gauge',
  axle_intents_terminal_total: 'counter',
  axle_delivery_attempts_total: 'counter',
  axle_delivery_failures_total: 'counter',
  axle_worker_cached_workflows: 'gauge',
  axle_exec_jobs_total: 'counter',
  axle_exec_job_duration_seconds: 'histogram',
  axle_build_info: 'gauge',
};

/** Series Axle does not export: Prometheus's own `up` and kube-state-metrics (kube-prometheus-stack). */
export const EXTERNAL_METRICS: ReadonlySet<string> = new Set([
  'up',
  'kube_deployment_status_replicas_available',
  'kube_deployment_spec_replicas',
]);

export const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.keys(envSchema.in.shape));

// ---------------------------------------------------------------------------------------------
// Kubernetes object shapes (only what the checks read)

export type Labels = Record<string, string>;
export type Probe = { httpGet?: { path?: string; port?: number | string } };
export type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
};
export type Container = {
  name: string;
  image?: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
};
export type PodSpec = {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
};
export type PodTemplate = { metadata?: { labels?: Labels }; spec: PodSpec };
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels; annotations?: Labels };
  // Kind-specific parts, read through the narrowing helpers below.
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};

export function parseYamlDocuments(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`YAML error: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * Renders a kustomization with the command the test harness found (scripts/lib/tools.mjs
 * ensureKustomize, passed as AXLE_KUSTOMIZE: an argv prefix as JSON). Throws when it cannot.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const raw = process.env.AXLE_KUSTOMIZE;
  if (!raw)
    throw new Error(
      'AXLE_KUSTOMIZE is not set: run the suite with `npm test`, which finds or builds kustomize',
    );
  const argv = JSON.parse(raw) as string[];
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error(`AXLE_KUSTOMIZE is empty: ${raw}`);
  const res = spawnSync(cmd, [...args, join(ROOT, dir)], { encoding: 'utf8', timeout: 120_000 });
  if (res.error || res.status !== 0)
    throw new Error(`${argv.join(' ')} ${dir} failed: ${res.error?.message ?? res.stderr}`);
  return parseYamlDocuments(res.stdout);
}

export const readText = (file: string) => readFileSync(join(ROOT, file), 'utf8');

// ---------------------------------------------------------------------------------------------
// Schema validation with kubernetes-models

type Model = new (data: unknown) => { validate(): void };

/** apiVersion/kind → [package file under node_modules, class name]. A kind not here fails. */
const MODELS: Record<string, [string, string]> = {
  'v1/ConfigMap': ['kubernetes-models/v1/index.js', 'ConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/index.js', 'Secret'],
  'v1/Service': ['kubernetes-models/v1/index.js', 'Service'],
  'v1/ServiceAccount': ['kubernetes-models/v1/index.js', 'ServiceAccount'],
  'v1/Namespace': ['kubernetes-models/v1/index.js', 'Namespace'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/index.js', 'Deployment'],
  'batch/v1/Job': ['kubernetes-models/batch/v1/index.js', 'Job'],
  'autoscaling/v2/HorizontalPodAutoscaler': [
    'kubernetes-models/autoscaling/v2/index.js',
    'HorizontalPodAutoscaler',
  ],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/index.js', 'PodDisruptionBudget'],
  'networking.k8s.io/v1/Ingress': ['kubernetes-models/networking.k8s.io/v1/index.js', 'Ingress'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/index.js', 'NetworkPolicy'],
  'monitoring.coreos.com/v1/ServiceMonitor': [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js',
    'ServiceMonitor',
  ],
  'monitoring.coreos.com/v1/PrometheusRule': [
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js',
    'PrometheusRule',
  ],
};

/**
 * The model classes, loaded by absolute path: the packages are ES modules exporting only an
 * `import` condition, and the CommonJS build turns import() into require() (Node >= 20.19 loads
 * ES modules that way, by path).
 */
export async function loadModels(): Promise<Map<string, Model>> {
  const models = new Map<string, Model>();
  for (const [key, [file, name]] of Object.entries(MODELS)) {
    const mod = (await import(join(ROOT, 'node_modules', file))) as Record<string, Model | undefined>;
    const model = mod[name];
    if (!model) throw new Error(`${file} exports no ${name}`);
    models.set(key, model);
  }
  return models;
}

export function validateObjects(objects: K8sObject[], models: Map<string, Model>): string[] {
  const problems: string[] = [];
  for (const obj of objects) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const model = models.get(key);
    if (!model) {
      problems.push(`${key} ${obj.metadata?.name}: no model for this kind (add it to MODELS)`);
      continue;
    }
    // kustomize wraps long base64 values over lines; Kubernetes' decoder (Go's base64) ignores
    // newlines, the model's `byte` format does not: validate what the API server decodes.
    const data =
      obj.kind === 'Secret' && obj.data
        ? Object.fromEntries(Object.entries(obj.data).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]))
        : undefined;
    try {
      new model(data ? { ...obj, data } : obj).validate();
    } catch (err) {
      problems.push(`${key} ${obj.metadata?.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Helpers over rendered objects

export const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

export function findObject(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export function podTemplate(obj: K8sObject): PodTemplate | null {
  const spec = obj.spec as { template?: PodTemplate } | undefined;
  return (obj.kind === 'Deployment' || obj.kind === 'Job') && spec?.template ? spec.template : null;
}

export const allContainers = (pod: PodSpec) => [...(pod.initContainers ?? []), ...pod.containers];

export function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  if (!selector || !Object.keys(selector).length) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The Axle process a workload runs: the component label (gateway, worker, runner, migrate). */
export const componentOf = (obj: K8sObject) => obj.metadata.labels?.['app.kubernetes.io/component'];

// ---------------------------------------------------------------------------------------------
// Environment names

/** Variables Node and glibc read (not Axle): the worker's heap and malloc limits in k8s/base/worker.yaml. */
const NODE_ENV_NAMES: ReadonlySet<string> = new Set(['NODE_OPTIONS', 'MALLOC_ARENA_MAX']);

/** Problems for every name that is not one of Axle's configuration keys (or Node's/glibc's above). */
export function checkEnvNames(names: Iterable<string>, where: string): string[] {
  return [...names]
    .filter((name) => !CONFIG_KEYS.has(name) && !NODE_ENV_NAMES.has(name))
    .map((name) => `${where}: ${name} is not an Axle configuration key (libs/config/src/config.schema.ts)`);
}

/** Every environment variable name the rendered manifests set (ConfigMaps, Secrets, env:). */
export function manifestEnvNames(objects: K8sObject[]): { name: string; where: string }[] {
  const out: { name: string; where: string }[] = [];
  for (const cm of ofKind(objects, 'ConfigMap')) {
    if (cm.metadata.name.startsWith('axle-config-file')) continue; // a file, checked as a file
    for (const key of Object.keys(cm.data ?? {}))
      out.push({ name: key, where: `ConfigMap ${cm.metadata.name}` });
  }
  for (const secret of ofKind(objects, 'Secret'))
    for (const key of Object.keys({ ...secret.data, ...secret.stringData }))
      out.push({ name: key, where: `Secret ${secret.metadata.name}` });
  for (const obj of objects) {
    const pod = podTemplate(obj);
    if (!pod) continue;
    for (const c of allContainers(pod.spec))
      for (const env of c.env ?? [])
        out.push({ name: env.name, where: `${obj.kind} ${obj.metadata.name}/${c.name}` });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Workloads: ports, probes, security, grace periods

export type AppExpectation = {
  /** The port the app listens on, from the configuration (AXLE_PORT / *_HEALTH_PORT). */
  port: number;
  /** Paths the app serves with GET (probes must use these). */
  paths: ReadonlySet<string>;
  /** The app's own shutdown grace; terminationGracePeriodSeconds must be greater. */
  graceSeconds: number;
};

function resolvePort(container: Container, port: number | string | undefined): number | null {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort ?? null;
}

/** Ports, probes, non-root security context and grace period of each Deployment's app container. */
export function checkWorkloads(objects: K8sObject[], apps: Record<string, AppExpectation>): string[] {
  const problems: string[] = [];
  const deployments = ofKind(objects, 'Deployment');
  for (const app of Object.keys(apps))
    if (!deployments.some((d) => componentOf(d) === app)) problems.push(`no Deployment for ${app}`);
  for (const deployment of deployments) {
    const where = `Deployment ${deployment.metadata.name}`;
    const app = componentOf(deployment);
    const expected = app ? apps[app] : undefined;
    const pod = podTemplate(deployment);
    if (!expected || !pod) {
      problems.push(`${where}: unknown component ${app}`);
      continue;
    }
    const main = pod.spec.containers.find((c) => c.name === app);
    if (!main) {
      problems.push(`${where}: no container named ${app}`);
      continue;
    }
    const ports = (main.ports ?? []).map((p) => p.containerPort);
    if (!ports.includes(expected.port))
      problems.push(
        `${where}: container ports ${ports.join(',')} do not include the configured ${expected.port}`,
      );
    for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
      const probe = main[kind]?.httpGet;
      if (!probe) {
        problems.push(`${where}: no ${kind} (httpGet)`);
        continue;
      }
      const port = resolvePort(main, probe.port);
      if (port !== expected.port)
        problems.push(
          `${where}: ${kind} port ${String(probe.port)} (${port}) is not the app's port ${expected.port}`,
        );
      if (!probe.path || !expected.paths.has(probe.path))
        problems.push(
          `${where}: ${kind} path ${probe.path} is not served by ${app} (${[...expected.paths].join(', ')})`,
        );
    }
    if (main.readinessProbe?.httpGet?.path !== '/ready')
      problems.push(`${where}: readinessProbe must use /ready (it reflects dependencies and draining)`);
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    if (!(grace > expected.graceSeconds))
      problems.push(
        `${where}: terminationGracePeriodSeconds ${grace} must exceed the app's grace ${expected.graceSeconds}`,
      );
    if (pod.spec.securityContext?.runAsNonRoot !== true)
      problems.push(`${where}: pod runAsNonRoot is not true`);
    if (pod.spec.automountServiceAccountToken !== false)
      problems.push(`${where}: automountServiceAccountToken must be false`);
    for (const c of allContainers(pod.spec)) {
      const sc = c.securityContext;
      if (sc?.allowPrivilegeEscalation !== false)
        problems.push(`${where}/${c.name}: allowPrivilegeEscalation must be false`);
      if (!sc?.capabilities?.drop?.includes('ALL'))
        problems.push(`${where}/${c.name}: capabilities must drop ALL`);
      if (sc?.capabilities?.add?.length) problems.push(`${where}/${c.name}: adds capabilities`);
      if (sc?.readOnlyRootFilesystem !== true)
        problems.push(`${where}/${c.name}: root filesystem is writable`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// References between objects

/**
 * Service selectors, HPA and PDB targets, NetworkPolicy pod selectors, ServiceMonitor selectors and
 * port names, Ingress backends, ServiceAccounts, ConfigMaps and Secrets all name objects that exist.
 * `externalSecrets` are Secret names created outside the manifests (prod's axle-secrets).
 */
export function checkReferences(objects: K8sObject[], externalSecrets: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const workloads = objects.filter((o) => podTemplate(o));
  const podLabels = workloads.map((w) => podTemplate(w)?.metadata?.labels);
  const services = ofKind(objects, 'Service');
  const names = (kind: string) => new Set(ofKind(objects, kind).map((o) => o.metadata.name));
  const configMaps = names('ConfigMap');
  const secrets = names('Secret');
  const accounts = names('ServiceAccount');

  for (const svc of services) {
    const spec = svc.spec as { selector?: Labels; ports?: { name?: string; targetPort?: number | string }[] };
    const targets = workloads.filter((w) => selects(spec.selector, podTemplate(w)?.metadata?.labels));
    if (!targets.length) problems.push(`Service ${svc.metadata.name}: selector matches no pod template`);
    for (const port of spec.ports ?? []) {
      if (!port.name) problems.push(`Service ${svc.metadata.name}: unnamed port`);
      if (typeof port.targetPort === 'string') {
        const ok = targets.some((w) =>
          podTemplate(w)?.spec.containers.some((c) => c.ports?.some((p) => p.name === port.targetPort)),
        );
        if (!ok)
          problems.push(`Service ${svc.metadata.name}: targetPort ${port.targetPort} is no container port`);
      }
    }
  }
  for (const kind of ['HorizontalPodAutoscaler']) {
    for (const hpa of ofKind(objects, kind)) {
      const ref = (hpa.spec as { scaleTargetRef?: { kind: string; name: string } }).scaleTargetRef;
      if (!ref || !findObject(objects, ref.kind, ref.name))
        problems.push(`${kind} ${hpa.metadata.name}: target ${ref?.kind} ${ref?.name} does not exist`);
    }
  }
  for (const pdb of ofKind(objects, 'PodDisruptionBudget')) {
    const selector = (pdb.spec as { selector?: { matchLabels?: Labels } }).selector?.matchLabels;
    if (!podLabels.some((labels) => selects(selector, labels)))
      problems.push(`PodDisruptionBudget ${pdb.metadata.name}: selector matches no pod template`);
  }
  for (const np of ofKind(objects, 'NetworkPolicy')) {
    const selector = (np.spec as { podSelector?: { matchLabels?: Labels } }).podSelector?.matchLabels;
    if (selector && Object.keys(selector).length && !podLabels.some((labels) => selects(selector, labels)))
      problems.push(`NetworkPolicy ${np.metadata.name}: podSelector matches no pod template`);
  }
  for (const sm of ofKind(objects, 'ServiceMonitor')) {
    const spec = sm.spec as { selector?: { matchLabels?: Labels }; endpoints?: { port?: string }[] };
    const matched = services.filter((s) => selects(spec.selector?.matchLabels, s.metadata.labels));
    if (!matched.length) problems.push(`ServiceMonitor ${sm.metadata.name}: selects no Service`);
    for (const endpoint of spec.endpoints ?? []) {
      const ok = matched.some((s) =>
        (s.spec as { ports?: { name?: string }[] }).ports?.some((p) => p.name === endpoint.port),
      );
      if (!ok)
        problems.push(
          `ServiceMonitor ${sm.metadata.name}: no selected Service has a port named ${endpoint.port}`,
        );
    }
  }
  for (const ing of ofKind(objects, 'Ingress')) {
    const rules = (ing.spec as { rules?: { http?: { paths?: IngressPath[] } }[] }).rules ?? [];
    for (const path of rules.flatMap((r) => r.http?.paths ?? [])) {
      const backend = path.backend.service;
      const svc = services.find((s) => s.metadata.name === backend?.name);
      const ports = (svc?.spec as { ports?: { name?: string; port: number }[] } | undefined)?.ports ?? [];
      if (!svc)
        problems.push(`Ingress ${ing.metadata.name}: backend Service ${backend?.name} does not exist`);
      else if (!ports.some((p) => p.name === backend?.port.name || p.port === backend?.port.number))
        problems.push(
          `Ingress ${ing.metadata.name}: Service ${svc.metadata.name} has no port ${JSON.stringify(backend?.port)}`,
        );
    }
  }
  for (const w of workloads) {
    const pod = podTemplate(w)!.spec;
    const where = `${w.kind} ${w.metadata.name}`;
    if (!pod.serviceAccountName || !accounts.has(pod.serviceAccountName))
      problems.push(`${where}: ServiceAccount ${pod.serviceAccountName} does not exist`);
    const secretOk = (name: string) => secrets.has(name) || externalSecrets.has(name);
    for (const c of allContainers(pod)) {
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef && !configMaps.has(from.configMapRef.name))
          problems.push(`${where}/${c.name}: ConfigMap ${from.configMapRef.name} does not exist`);
        if (from.secretRef && !secretOk(from.secretRef.name))
          problems.push(`${where}/${c.name}: Secret ${from.secretRef.name} does not exist`);
      }
      for (const env of c.env ?? []) {
        const ref = env.valueFrom?.secretKeyRef;
        if (ref && !secretOk(ref.name))
          problems.push(`${where}/${c.name}: Secret ${ref.name} does not exist`);
      }
    }
    for (const volume of pod.volumes ?? [])
      if (volume.configMap && !configMaps.has(volume.configMap.name))
        problems.push(`${where}: volume ConfigMap ${volume.configMap.name} does not exist`);
  }
  return problems;
}

export type IngressPath = {
  path: string;
  pathType: string;
  backend: { service?: { name: string; port: { name?: string; number?: number } } };
};

/** Whether a Kubernetes Prefix path matches a request path (element-wise, as the spec defines). */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.replace(/\/+$/, '');
  return p === '' || path === p || path.startsWith(`${p}/`);
}

// ---------------------------------------------------------------------------------------------
// Images and the Dockerfile

export type DockerStage = { name: string | null; from: string; user: string | null; cmd: string[] | null };

/** FROM … AS name stages with their last USER and CMD (a stage inherits both from its base stage). */
export function parseDockerfile(text: string): DockerStage[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const stages: DockerStage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const op = instruction.toUpperCase();
    if (op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      const from = m?.[1] ?? args;
      const base = stages.find((s) => s.name === from);
      stages.push({ name: m?.[2] ?? null, from, user: base?.user ?? null, cmd: base?.cmd ?? null });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) continue;
    if (op === 'USER') stage.user = args;
    if (op === 'CMD')
      stage.cmd = args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
  }
  return stages;
}

/** Runtime targets: a non-root USER and a CMD whose entry file exists (run after `npm run build`). */
export function checkDockerTargets(
  stages: DockerStage[],
  targets: string[],
  exists: (file: string) => boolean,
): string[] {
  const problems: string[] = [];
  for (const target of targets) {
    const stage = stages.find((s) => s.name === target);
    if (!stage) {
      problems.push(`Dockerfile: no stage named ${target}`);
      continue;
    }
    const user = stage.user?.split(':')[0];
    if (!user || user === '0' || user === 'root')
      problems.push(`Dockerfile ${target}: runs as ${user ?? 'root (no USER)'}`);
    if (!stage.cmd?.length) {
      problems.push(`Dockerfile ${target}: no CMD`);
      continue;
    }
    const entry = stage.cmd[0] === 'node' ? stage.cmd[1] : stage.cmd[0];
    if (!entry || !exists(entry))
      problems.push(`Dockerfile ${target}: CMD entry ${entry} does not exist in the build`);
  }
  return problems;
}

/** Every container image is ghcr.io/axle/axle-<target> of a Dockerfile target (tag aside). */
export function checkImages(
  images: { image: string; where: string }[],
  targets: ReadonlySet<string>,
): string[] {
  return images.flatMap(({ image, where }) => {
    const m = /^ghcr\.io\/axle\/axle-([a-z]+)(?::[\w.-]+)?$/.exec(image);
    return m?.[1] && targets.has(m[1])
      ? []
      : [`${where}: image ${image} is not built by a Dockerfile target`];
  });
}

// ---------------------------------------------------------------------------------------------
// PrometheusRule

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
]);

/** The metric names a PromQL expression reads (functions, keywords, labels and strings left out). */
export function promqlMetricNames(expr: string): Set<string> {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))/g)) {
    const word = m[0];
    const next = stripped.slice((m.index ?? 0) + word.length).trimStart();
    if (next.startsWith('(') || PROMQL_WORDS.has(word) || /^\d/.test(word)) continue;
    names.add(word);
  }
  return names;
}

/** The problem for a metric name that is neither Axle's (contract above) nor an accepted external one. */
export function unknownMetric(name: string): string | null {
  if (EXTERNAL_METRICS.has(name) || /^(process|nodejs)_/.test(name)) return null;
  const base = name.replace(/_(bucket|count|sum)$/, '');
  if (AXLE_METRICS[name]) return null;
  if (base !== name && AXLE_METRICS[base] === 'histogram') return null;
  return `metric ${name} is not in the issue #7 metric list`;
}

export type AlertRule = { alert?: string; expr: string; for?: string; annotations?: Labels; labels?: Labels };

export function prometheusRules(objects: K8sObject[]): AlertRule[] {
  return ofKind(objects, 'PrometheusRule').flatMap(
    (r) => (r.spec as { groups?: { rules?: AlertRule[] }[] }).groups?.flatMap((g) => g.rules ?? []) ?? [],
  );
}

export function checkAlertMetrics(rules: AlertRule[]): string[] {
  return rules.flatMap((rule) =>
    [...promqlMetricNames(rule.expr)]
      .map(unknownMetric)
      .filter((p): p is string => p !== null)
      .map((p) => `alert ${rule.alert}: ${p}`),
  );
}

// ---------------------------------------------------------------------------------------------
// docker compose

export type ComposeService = {
  image?: string;
  build?: { context?: string; target?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  security_opt?: string[];
  stop_grace_period?: string;
  restart?: string;
};
export type ComposeFile = { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

/** Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$. */
export function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^}])*))?\}/g,
    (whole, name?: string, op?: string, arg?: string) => {
      if (whole === '$$') return '$';
      const value = vars[name!];
      const empty = value === undefined || (op?.startsWith(':') && value === '');
      if (op?.endsWith('-')) return empty ? (arg ?? '') : value;
      if (op?.endsWith('?')) {
        if (empty) throw new Error(`compose: ${name} is required: ${arg}`);
        return value;
      }
      return value ?? '';
    },
  );
}

/** The ${VAR} names a compose file reads. */
export function composeVariables(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}

export function serviceEnvironment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export function dependsOn(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

/**
 * depends_on targets exist; every service_healthy target has a healthcheck; every long-running
 * service has one; one-shots (restart no / on-failure) are waited for with
 * service_completed_successfully; the migrate service is one.
 */
export function checkComposeDependencies(compose: ComposeFile, oneShots: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const hasHealthcheck = !!service.healthcheck?.test && !service.healthcheck.disable;
    if (!oneShots.has(name) && !hasHealthcheck)
      problems.push(`compose ${name}: long-running service without a healthcheck`);
    for (const [dep, condition] of Object.entries(dependsOn(service))) {
      const target = compose.services[dep];
      if (!target) {
        problems.push(`compose ${name}: depends on unknown service ${dep}`);
        continue;
      }
      if (condition === 'service_healthy' && !(target.healthcheck?.test && !target.healthcheck.disable))
        problems.push(`compose ${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      if (oneShots.has(dep) && condition !== 'service_completed_successfully')
        problems.push(
          `compose ${name}: one-shot ${dep} must be service_completed_successfully, not ${condition}`,
        );
      if (!oneShots.has(dep) && condition !== 'service_healthy')
        problems.push(`compose ${name}: waits for ${dep} with ${condition}, not service_healthy`);
    }
  }
  return problems;
}

/** Parses a Go duration as compose writes them (30s, 1m30s) into seconds. */
export function durationSeconds(text: string | undefined): number | null {
  if (!text) return null;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** KEY=value lines of an env file (comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
