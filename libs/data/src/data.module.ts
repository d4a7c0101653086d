import { Global, Module } from '@nestjs/common';
import { DATABASE_URL, PrismaService } from './prisma.service';
import { AuditRepository } from './repositories/audit.repository';
import { ExecRepository } from './repositories/exec.repository';
import { HumanTaskRepository } from './repositories/human-task.repository';
import { IdempotencyRepository } from './repositories/idempotency.repository';
import { InboxRepository } from './repositories/inbox.repository';
import { IntentRepository } from './repositories/intent.repository';
import { MeshRepository } from './repositories/mesh.repository';
import { QuotaRepository } from './repositories/quota.repository';
import { PolicyRepository } from './repositories/policy.repository';
import { RegistryRepository } from './repositories/registry.repository';
import { SessionRepository } from './repositories/session.repository';
import { SigningKeyRepository } from './repositories/signing-key.repository';
import { WebhookRepository } from './repositories/webhook.repository';

const repositories = [
  AuditRepository,
  ExecRepository,
  HumanTaskRepository,
  IdempotencyRepository,
  InboxRepository,
  IntentRepository,
  MeshRepository,
  QuotaRepository,
  PolicyRepository,
  RegistryRepository,
  SessionRepository,
  SigningKeyRepository,
  WebhookRepository,
];

@Global()
@Module({})
export class DataModule {
  static forRoot(options: { databaseUrl: string }) {
    return {
      module: DataModule,
      providers: [{ provide: DATABASE_URL, useValue: options.databaseUrl }, PrismaService, ...repositories],
      exports: [PrismaService, ...repositories],
    };
  }
}
