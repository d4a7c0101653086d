import { EXEC_RUNNERS_KEY, type RunnerReport, type SandboxTier } from '@axle/protocol';
import { availableTiers } from '@axle/sandbox';
import { type Redis } from 'ioredis';

/** How often a runner refreshes its report, and how old a report may be before it no longer counts. */
export const RUNNER_REPORT_INTERVAL_MS = 10_000;
const REPORT_FRESH_MS = 3 * RUNNER_REPORT_INTERVAL_MS;
/** Reports this old are removed by whoever reads them (a runner killed with -9 never removes its own). */
const REPORT_PRUNE_MS = 3_600_000;

/**
 * Which sandbox tiers the deployment enforces. The runners run the jobs, so they say: each runner
 * reports the tiers it probed on its own host, and a session may ask for a tier some live runner
 * enforces. With no live runner report (the all-in-one `npm start`, a gateway started first), the
 * tiers of this host count, as before runners reported.
 */
export class RunnerRegistry {
  constructor(private readonly redis: Redis) {}

  async report(runnerId: string, tiers: SandboxTier[], now = Date.now()): Promise<void> {
    const report: RunnerReport = { tiers, reported_at: now };
    await this.redis.hset(EXEC_RUNNERS_KEY, runnerId, JSON.stringify(report));
  }

  async withdraw(runnerId: string): Promise<void> {
    await this.redis.hdel(EXEC_RUNNERS_KEY, runnerId);
  }

  /** Union of the tiers of runners that reported recently; null when none did. */
  async liveTiers(now = Date.now()): Promise<SandboxTier[] | null> {
    const reports = await this.redis.hgetall(EXEC_RUNNERS_KEY);
    const tiers = new Set<SandboxTier>();
    let live = false;
    const stale: string[] = [];
    for (const [runnerId, json] of Object.entries(reports)) {
      const report = parseReport(json);
      const age = report ? now - report.reported_at : Infinity;
      if (report && age <= REPORT_FRESH_MS) {
        live = true;
        for (const tier of report.tiers) tiers.add(tier);
      } else if (age > REPORT_PRUNE_MS) stale.push(runnerId);
    }
    if (stale.length) await this.redis.hdel(EXEC_RUNNERS_KEY, ...stale);
    return live ? [...tiers] : null;
  }

  /** What a session may ask for: the live runners' tiers, else this host's. */
  async offeredTiers(allowNone: boolean): Promise<SandboxTier[]> {
    const live = await this.liveTiers().catch(() => null);
    return live ?? availableTiers({ allowNone });
  }
}

function parseReport(json: string): RunnerReport | null {
  try {
    const value = JSON.parse(json) as Partial<RunnerReport>;
    return Array.isArray(value.tiers) && typeof value.reported_at === 'number'
      ? (value as RunnerReport)
      : null;
  } catch {
    return null;
  }
}
