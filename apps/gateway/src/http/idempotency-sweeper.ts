import { IdempotencyRepository, platformScope } from '@axle/data';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';

const SWEEP_EVERY_MS = 60 * 60_000;

/**
 * Deletes expired idempotency records once an hour. Housekeeping only: an expired key is already
 * treated as new when it is claimed again, whether or not the sweep has run.
 */
@Injectable()
export class IdempotencySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly records: IdempotencyRepository,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
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
