import { createServer } from 'node:net';

/** The test harness (scripts/test.mjs) provides the real services; a missing one fails the test. */
export function requireEnv(name: 'DATABASE_URL' | 'REDIS_URL' | 'TEMPORAL_ADDRESS'): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run the suite with \`npm test\`, which starts PostgreSQL, Redis and Temporal`,
    );
  return value;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** The platform-admin key every test gateway bootstraps with (AXLE_BOOTSTRAP_API_KEY). */
export const TEST_ADMIN_KEY = `axme_sa_00000000-0000-4000-8000-00000000a001_${'ab'.repeat(32)}`;
export const TEST_ADMIN_ADDRESS = 'agent://default/default/admin';
