import { Module } from '@nestjs/common';
import { SessionService } from './session.service';

/** AXME sessions for the gateway. Needs the global ConfigModule, DataModule and IntentsModule (EventBus). */
@Module({ providers: [SessionService], exports: [SessionService] })
export class SessionsModule {}
