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

const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 that this process has not handed out before: several apps of one
 * test are given their ports before any of them binds, so the same free port must not come twice.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() =>
          typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
        );
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free TCP port on 127.0.0.1');
}

/** The platform-admin key every test gateway bootstraps with (AXLE_BOOTSTRAP_API_KEY). */
export const TEST_ADMIN_KEY = `axme_sa_00000000-0000-4000-8000-00000000a001_${'ab'.repeat(32)}`;
export const TEST_ADMIN_ADDRESS = 'agent://default/default/admin';
