import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { markAudited, runWithCorrelation, type CorrelationContext } from './correlation';
import { createLogger } from './logger';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', app: 'test' }, { write: (line: string) => lines.push(line) });
  return { logger, text: () => lines.join('') };
}

const SECRET = 'axme_sa_00000000-0000-4000-8000-000000000001_' + 'cd'.repeat(32);

describe('logger redaction', () => {
  test('credential and signature headers are redacted wherever headers are logged', () => {
    const { logger, text } = capture();
    const headers = {
      authorization: `Bearer ${SECRET}`,
      'x-api-key': SECRET,
      'x-axle-signature': `keyId=k,sig=${SECRET}`,
      'x-axme-signature': `sha256=${SECRET}`,
      'content-type': 'application/json',
    };
    logger.info({ req: { headers } }, 'a');
    logger.info({ headers }, 'b');
    logger.info({ request: { headers } }, 'c');
    assert.doesNotMatch(text(), new RegExp(SECRET));
    assert.match(text(), /application\/json/);
    assert.equal(text().match(/\[redacted\]/g)?.length, 12);
  });

  test('exec cap tokens and cookies are redacted in headers, cap_token fields too', () => {
    const { logger, text } = capture();
    const headers = { 'x-axp-cap-token': SECRET, cookie: `axle_session=${SECRET}`, 'x-trace-id': 'visible' };
    logger.info({ req: { headers } }, 'a');
    logger.info({ headers }, 'b');
    logger.info({ cap_token: SECRET, session: { capToken: SECRET } }, 'c');
    assert.doesNotMatch(text(), new RegExp(SECRET));
    assert.match(text(), /visible/);
    assert.equal(text().match(/\[redacted\]/g)?.length, 6);
  });

  test('secret-named fields are redacted at the top level and one level down', () => {
    const { logger, text } = capture();
    for (const key of [
      'secret',
      'webhookSecret',
      'webhook_secret',
      'apiKey',
      'api_key',
      'token',
      'password',
    ]) {
      logger.info({ [key]: SECRET }, 'top');
      logger.warn({ agent: { [key]: SECRET, name: 'visible' } }, 'nested');
    }
    assert.doesNotMatch(text(), new RegExp(SECRET));
    assert.match(text(), /visible/);
  });

  test('log lines carry the request id of the correlation context', () => {
    const { logger, text } = capture();
    runWithCorrelation({ requestId: 'req-1', traceId: 'trace-1' }, () => logger.info('inside'));
    assert.match(text(), /"request_id":"req-1"/);
    assert.match(text(), /"trace_id":"trace-1"/);
  });

  test('a job or activity context (no request) carries intent_id and job_id only', () => {
    const { logger, text } = capture();
    runWithCorrelation({ intentId: 'int-1', jobId: 'job-1' }, () => logger.info('inside'));
    assert.match(text(), /"intent_id":"int-1"/);
    assert.match(text(), /"job_id":"job-1"/);
    assert.doesNotMatch(text(), /request_id/);
  });
});

describe('markAudited', () => {
  test('marks the current context only for its own request id', () => {
    const context: CorrelationContext = { requestId: 'req-2' };
    runWithCorrelation(context, () => markAudited('other'));
    assert.equal(context.audited, undefined);
    runWithCorrelation(context, () => markAudited(null));
    assert.equal(context.audited, undefined);
    runWithCorrelation(context, () => markAudited('req-2'));
    assert.equal(context.audited, true);
    // Outside any context it is a no-op.
    markAudited('req-2');
  });
});
