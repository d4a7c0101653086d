import { InboxModule } from '@axle/inbox';
import { Module } from '@nestjs/common';
import { HumanTaskService } from './human-task.service';
import { Mailer } from './mailer';
import { MagicLinkPages } from './magic-link-pages.service';
import { MyTasksService } from './my-tasks.service';

const services = [HumanTaskService, Mailer, MagicLinkPages, MyTasksService];

/**
 * Human tasks for the worker (opening tasks, emails) and the gateway (GET /v1/me/tasks, the magic
 * link pages). Needs the global ConfigModule, ObservabilityModule, DataModule and IntentsModule.
 */
@Module({ imports: [InboxModule], providers: services, exports: services })
export class HumansModule {}
