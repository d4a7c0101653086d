import { HumanTaskRepository, platformScope } from '@axle/data';
import { ExecJobService } from '@axle/exec';
import { scrapeMetrics, setScrapeSources } from '@axle/observability';
import { QUEUES } from '@axle/protocol';
import { Controller, Get, type OnModuleInit, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { Public } from '../http/request-context';

/**
 * `GET /metrics`: the gateway's Prometheus registry (docs/metrics.md). Public like /health, and
 * nothing in it names a tenant. The human-task and queue gauges are read here at scrape time, each
 * time-boxed, so a scrape while PostgreSQL or Redis is down still answers (with those gauges stale).
 */
@Public()
@Controller()
export class MetricsController implements OnModuleInit {
  constructor(
    private readonly tasks: HumanTaskRepository,
    private readonly jobs: ExecJobService,
  ) {}

  onModuleInit(): void {
    setScrapeSources({
      humanTasksWaiting: () => this.tasks.countOpen(platformScope()),
      queueJobs: async () => ({ [QUEUES.execJobs]: await this.jobs.queueCounts() }),
    });
  }

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply) {
    const { contentType, body } = await scrapeMetrics();
    return reply
      .status(200)
      .header('content-type', contentType)
      .header('cache-control', 'no-store')
      .send(body);
  }
}
