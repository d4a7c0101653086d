import { Module } from '@nestjs/common';
import { RegistryService } from './registry.service';

/** The registry API's logic; needs the global ConfigModule and DataModule. */
@Module({ providers: [RegistryService], exports: [RegistryService] })
export class RegistryModule {}
