// Second anchor for the read path: the least a database-backed GET does. Fastify in its own process
// reads the same intent row with node-postgres (a pool of 10, as the gateway's) and answers it as
// JSON: no credential, no framework, no quota. Usage: fastify-pg.mjs <database-url> <intent-id>.
// Prints its port on stdout.
import Fastify from 'fastify';
import pg from 'pg';

const [databaseUrl, intentId] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
const app = Fastify({ logger: false });
app.get('/', async () => {
  const { rows } = await pool.query('SELECT * FROM intents WHERE id = $1', [intentId]);
  // A missing row fails the request, so the benchmark cannot measure an empty answer.
  if (!rows[0]) throw new Error(`intent ${intentId} not found`);
  return { ok: true, intent: rows[0] };
});
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: app.server.address().port }));
