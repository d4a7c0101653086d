import { IdempotencyRepository, platformScope } from '@axle/data';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';

const FIRST_SWEEP_AFTER_MS = 60_000;
const SWEEP_EVERY_MS = 60 * 60_000;

/**
 * Deletes expired idempotency records once an hour. Housekeeping only: an expired key is already
 * treated as new when it is claimed again, whether or not the sweep has run.
 */
@Injectable()
export class IdempotencySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private first: NodeJS.Timeout | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly records: IdempotencyRepository,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // Once soon after start (gateways that restart often still sweep), then hourly.
    this.first = setTimeout(() => void this.sweep(), FIRST_SWEEP_AFTER_MS);
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.first.unref();
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    try {
      const deleted = await this.records.purgeExpired(platformScope());
      if (deleted > 0) this.logger.info({ deleted }, 'expired idempotency records deleted');
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'idempotency sweep failed');
    }
  }
}
