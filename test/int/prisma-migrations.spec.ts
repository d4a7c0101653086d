// prisma/migrations against real PostgreSQL, through the stock Prisma CLI and the wasm schema-engine
// stand-in (prisma/schema-engine): no drift from schema.prisma, an idempotent deploy, and a
// _prisma_migrations table that matches the folders (same names, same checksums).
import { requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'pg';

// Tests run from the repository root, both from src and from the SWC build in dist/.
const MIGRATIONS_DIR = join(process.cwd(), 'prisma', 'migrations');
const CLI_TIMEOUT_MS = 120_000;

function prisma(args: string[], databaseUrl: string) {
  const run = spawnSync('npx', ['--no-install', 'prisma', ...args], {
    cwd: process.cwd(),
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
    timeout: CLI_TIMEOUT_MS,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  assert.equal(run.error, undefined, `could not run prisma ${args.join(' ')}: ${run.error?.message}`);
  return { status: run.status, stdout: run.stdout, output };
}

function migrationFolders(): string[] {
  return readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

test('prisma/migrations matches prisma/schema.prisma (no drift)', { timeout: CLI_TIMEOUT_MS }, () => {
  const databaseUrl = requireEnv('DATABASE_URL');
  const diff = prisma(
    [
      'migrate',
      'diff',
      '--from-migrations',
      'prisma/migrations',
      '--to-schema',
      'prisma/schema.prisma',
      '--exit-code',
    ],
    databaseUrl,
  );
  assert.equal(
    diff.status,
    0,
    `schema.prisma and prisma/migrations differ (exit ${diff.status}):\n${diff.output}`,
  );
  // Exit 0 alone is not proof: the CLI can exit 0 when its schema engine dies.
  assert.match(diff.stdout, /No difference detected/, diff.output);
});

test('prisma migrate deploy on a migrated database applies nothing', { timeout: CLI_TIMEOUT_MS }, () => {
  const databaseUrl = requireEnv('DATABASE_URL');
  const deploy = prisma(['migrate', 'deploy'], databaseUrl);
  assert.equal(deploy.status, 0, `migrate deploy failed (exit ${deploy.status}):\n${deploy.output}`);
  assert.match(deploy.stdout, /No pending migrations to apply/, deploy.output);
});

test('_prisma_migrations has one finished row per migration folder, with its checksum', async () => {
  const databaseUrl = requireEnv('DATABASE_URL');
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
    }>(
      `SELECT migration_name, checksum, finished_at FROM _prisma_migrations
       WHERE rolled_back_at IS NULL ORDER BY migration_name`,
    );
    const folders = migrationFolders();
    assert.ok(folders.length > 0, `no migration folders in ${MIGRATIONS_DIR}`);
    assert.deepEqual(
      rows.map((row) => row.migration_name),
      folders,
    );
    for (const row of rows) {
      assert.ok(row.finished_at, `migration ${row.migration_name} never finished`);
      // Prisma's checksum is the SHA-256 of migration.sql: an edited migration would not match.
      const sql = readFileSync(join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      assert.equal(
        row.checksum,
        createHash('sha256').update(sql).digest('hex'),
        `${row.migration_name}/migration.sql changed after it was applied`,
      );
    }
  } finally {
    await client.end();
  }
});
