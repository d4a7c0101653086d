import { RegistryRepository } from '@axle/data';
import { agentAddress } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateApiKey, hashSecret, parseApiKey } from './api-key';

export type BootstrapResult =
  | { created: false }
  | {
      created: true;
      address: string;
      key: string;
      keySource: 'environment' | 'generated';
      keyFile: string | null;
    };

/**
 * First start with an empty database: org `default`, workspace `default` and a platform-admin
 * service account whose key is AXLE_BOOTSTRAP_API_KEY or a generated one written once to
 * <data dir>/admin.key (mode 0600). Safe to run on every boot and from several processes at once.
 */
@Injectable()
export class BootstrapService {
  /** True once this process has seen the tenancy exist (readiness waits for it). */
  done = false;

  constructor(private readonly registry: RegistryRepository) {}

  async ensureBootstrapped(options: {
    bootstrapApiKey: string | null;
    dataDir: string;
  }): Promise<BootstrapResult> {
    const result = await this.bootstrap(options);
    this.done = true;
    return result;
  }

  private async bootstrap(options: {
    bootstrapApiKey: string | null;
    dataDir: string;
  }): Promise<BootstrapResult> {
    if ((await this.registry.countOrganizations()) > 0) return { created: false };
    const provided = options.bootstrapApiKey ? parseApiKey(options.bootstrapApiKey) : null;
    const generated = provided ? null : generateApiKey();
    const serviceAccountId = provided?.serviceAccountId ?? generated!.serviceAccountId;
    const secret = provided?.secret ?? generated!.secret;
    const key = options.bootstrapApiKey ?? generated!.key;
    const address = agentAddress('default', 'default', 'admin');
    const created = await this.registry.bootstrap({
      orgSlug: 'default',
      workspaceSlug: 'default',
      agentId: serviceAccountId,
      agentName: 'admin',
      address,
      secretHash: await hashSecret(secret),
      hint: secret.slice(-4),
    });
    if (!created) return { created: false };
    let keyFile: string | null = null;
    if (!provided) {
      await mkdir(options.dataDir, { recursive: true });
      keyFile = join(options.dataDir, 'admin.key');
      await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    }
    return { created: true, address, key, keySource: provided ? 'environment' : 'generated', keyFile };
  }
}
