// API keys look like `axme_sa_<service_account_id>_<secret>` (SPEC §1). Only a scrypt hash of the
// secret is stored; the key is shown once.
import {
  createHash,
  randomBytes,
  randomUUID,
  scrypt as scryptCb,
  type ScryptOptions,
  timingSafeEqual,
} from 'node:crypto';

const PREFIX = 'axme_sa_';
const KEY_PATTERN =
  /^axme_sa_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_([0-9a-f]{32,128})$/;
const SCRYPT = { N: 1 << 14, r: 8, p: 1, keylen: 32 } as const;

function scrypt(secret: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export type ParsedApiKey = { serviceAccountId: string; secret: string };

export function parseApiKey(key: string): ParsedApiKey | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { serviceAccountId: match[1]!, secret: match[2]! } : null;
}

export function generateApiKey(serviceAccountId: string = randomUUID()): {
  key: string;
  serviceAccountId: string;
  secret: string;
} {
  const secret = randomBytes(32).toString('hex');
  return { key: `${PREFIX}${serviceAccountId}_${secret}`, serviceAccountId, secret };
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A non-reversible fingerprint to key caches by, so the raw key is never held as a map key. */
export function fingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
