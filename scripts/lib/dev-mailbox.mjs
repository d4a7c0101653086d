// The development mailbox of `npm start`: when SMTP_URL is unset, a local SMTP server receives the
// apps' emails (human-task magic links, reminders, notifications), keeps each as an .eml file under
// .axle/mail/ and prints its links, so a human-approval flow can be clicked through on one machine.
// Loaded after ensureNodeModules (smtp-server is a dev dependency, always installed by npm start).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { ROOT, log } from './deps.mjs';

/** Starts the mailbox on 127.0.0.1 (a free port); answers its SMTP_URL and a stop function. */
export async function startDevMailbox(dir) {
  const { SMTPServer } = createRequire(path.join(ROOT, 'package.json'))('smtp-server');
  fs.mkdirSync(dir, { recursive: true });
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${++count}.eml`);
        fs.writeFileSync(file, raw);
        const subject = /^Subject: (.*)$/im.exec(raw)?.[1] ?? '(no subject)';
        // Quoted-printable soft breaks and escapes, enough to find the links again.
        const text = raw.replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
        const links = [...new Set(text.match(/https?:\/\/[^\s"<>]+\/h\/[A-Za-z0-9_-]+/g) ?? [])];
        log(`[mail] to ${to}: ${subject}${links.length ? `\n         ${links.join('\n         ')}` : ''}`);
        callback();
      });
    },
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.server.address();
  return {
    url: `smtp://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
