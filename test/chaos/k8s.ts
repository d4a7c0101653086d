// What the base Kubernetes manifests (k8s/base/<app>.yaml) give an app's container, so the chaos
// harness runs the apps as deployed (the worker's NODE_OPTIONS) and checks against their limits.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { MiB } from './harness';

type Container = {
  name?: string;
  env?: { name?: string; value?: string }[];
  resources?: { limits?: { memory?: string } };
};

/** The app's container in the Deployment of k8s/base/<app>.yaml (a file of several documents). */
function container(app: string): Container | undefined {
  try {
    for (const doc of parseAllDocuments(readFileSync(`k8s/base/${app}.yaml`, 'utf8'))) {
      const obj = doc.toJS() as {
        kind?: string;
        spec?: { template?: { spec?: { containers?: Container[] } } };
      } | null;
      if (obj?.kind !== 'Deployment') continue;
      const c = obj.spec?.template?.spec?.containers?.find((x) => x.name === app);
      if (c) return c;
    }
  } catch {
    // no manifest: run the app with the harness's environment only
  }
  return undefined;
}

/** The container's memory limit in bytes (Mi/Gi), or null. */
export function k8sMemoryLimit(app: string): number | null {
  const m = /^(\d+)(Mi|Gi)$/.exec(container(app)?.resources?.limits?.memory ?? '');
  return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) * MiB : null;
}

/** The container's literal environment variables (value, not valueFrom). */
export function k8sEnv(app: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container(app)?.env ?? []) if (e.name && e.value !== undefined) env[e.name] = e.value;
  return env;
}
