import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client';

export const DATABASE_URL = Symbol('DATABASE_URL');

/** How long a query or transaction waits for a pooled connection before it is a 503. */
const POOL_WAIT_MS = 3_000;

/** The one PrismaClient of a process, and its connection pool. Only repositories in this lib use them. */
@Injectable()
export class PrismaService implements OnModuleDestroy {
  readonly client: PrismaClient;
  /**
   * The pool under the client, for the few hot queries that skip Prisma's result mapping
   * (raw-sql.ts): one pool, so they share its bound and its 503 behaviour with every other query.
   */
  readonly pool: pg.Pool;

  constructor(@Inject(DATABASE_URL) url: string) {
    // A bounded pool that fails fast when Postgres is down, so callers can answer 503 instead of hanging.
    this.pool = new pg.Pool({
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: POOL_WAIT_MS,
      idleTimeoutMillis: 30_000,
    });
    // A transaction waits for a pooled connection as long as a plain query does (Prisma's own
    // default is 2 s, which under a burst of creates failed with P2028 before the pool gave up).
    this.client = new PrismaClient({
      adapter: new PrismaPg(this.pool, { disposeExternalPool: true }),
      transactionOptions: { maxWait: POOL_WAIT_MS },
    });
  }

  async ping(): Promise<void> {
    await this.client.$queryRaw`SELECT 1`;
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.$disconnect();
  }
}
