import { Global, Module } from '@nestjs/common';
import { AuditQueryService } from './audit-query.service';
import { AuthService } from './auth.service';
import { BootstrapService } from './bootstrap.service';
import { QuotaService } from './quota.service';

@Module({
  providers: [AuthService, BootstrapService, AuditQueryService],
  exports: [AuthService, BootstrapService, AuditQueryService],
})
export class AuthModule {}

/**
 * Quota enforcement for the gateway (requests) and for every process that creates intents (the
 * intent use cases are global). Needs the global ConfigModule, ObservabilityModule and DataModule.
 */
@Global()
@Module({ providers: [QuotaService], exports: [QuotaService] })
export class QuotaModule {}
