import { Module } from '@nestjs/common';
import { MeshService } from './mesh.service';

/** The agent mesh for the gateway. Needs the global ConfigModule, DataModule and IntentsModule (EventBus). */
@Module({ providers: [MeshService], exports: [MeshService] })
export class MeshModule {}
