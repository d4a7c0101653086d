import { BootstrapService } from '@axle/auth';
import { PrismaService } from '@axle/data';
import { EventBus, IntentWorkflowClient } from '@axle/intents';
import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { gatewayDrain } from '../http/drain';
import { Public } from '../http/request-context';

@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly bus: EventBus,
    private readonly temporal: IntentWorkflowClient,
    private readonly bootstrap: BootstrapService,
  ) {}

  @Get(['health', 'v1/health'])
  health() {
    return { ok: true };
  }

  /**
   * Ready when Postgres, Redis and Temporal all answer and first-boot tenancy exists (so the admin key
   * works as soon as /ready says so); 503 with Retry-After otherwise. A draining gateway (SIGTERM,
   * http/drain.ts) answers 503 `checks.draining` at once.
   */
  @Get('ready')
  async ready(@Res() reply: FastifyReply) {
    if (gatewayDrain.draining)
      return reply
        .status(503)
        .header('retry-after', '1')
        .send({ ok: false, checks: { draining: 'true' } });
    const probe = async (name: string, check: () => Promise<void>): Promise<[string, string]> => {
      try {
        await withTimeout(check(), 2_000);
        return [name, 'up'];
      } catch {
        return [name, 'down'];
      }
    };
    const checks = Object.fromEntries(
      await Promise.all([
        probe('postgres', () => this.prisma.ping()),
        probe('redis', () => this.bus.ping()),
        probe('temporal', () => this.temporal.ping()),
      ]),
    );
    checks.bootstrap = this.bootstrap.done ? 'up' : 'pending';
    const ok = Object.values(checks).every((v) => v === 'up');
    if (!ok) void reply.header('retry-after', '5');
    return reply.status(ok ? 200 : 503).send({ ok, checks });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms))),
  ]).finally(() => clearTimeout(timer));
}
