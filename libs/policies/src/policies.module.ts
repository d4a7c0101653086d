import { Module } from '@nestjs/common';
import { PolicyService } from './policy.service';

/** Send/receive policies; needs the data lib's repositories (DataModule is global). */
@Module({ providers: [PolicyService], exports: [PolicyService] })
export class PoliciesModule {}
