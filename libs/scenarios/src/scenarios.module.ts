import { RegistryModule } from '@axle/registry';
import { Module } from '@nestjs/common';
import { ScenarioService } from './scenario.service';

/** ScenarioBundle validate/apply for the gateway; needs the global ConfigModule, DataModule and IntentsModule. */
@Module({ imports: [RegistryModule], providers: [ScenarioService], exports: [ScenarioService] })
export class ScenariosModule {}
