// A local SMTP server in the test process (the one external edge of human-task emails): it keeps
// every message and decodes its text part, so tests can read the magic links.
import { SMTPServer } from 'smtp-server';

export type SinkMessage = {
  to: string[];
  from: string | null;
  subject: string;
  text: string;
  html: string;
  raw: string;
};

export class SmtpSink {
  readonly messages: SinkMessage[] = [];
  private readonly server: SMTPServer;
  private port = 0;
  /** Per recipient: how many more RCPTs to accept, then how many to refuse with a 450. */
  private readonly refusals = new Map<string, { accept: number; refuse: number }>();

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const plan = this.refusals.get(address.address.toLowerCase());
        if (plan && plan.accept-- <= 0 && plan.refuse-- > 0)
          return callback(Object.assign(new Error('mailbox busy, try again later'), { responseCode: 450 }));
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const parsed = parseMessage(raw);
          this.messages.push({
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            ...parsed,
            raw,
          });
          callback();
        });
      },
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as { port: number }).port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Refuses the next `refuse` messages to `recipient` (a 450 at RCPT) after accepting `accept` more. */
  refuse(recipient: string, options: { accept?: number; refuse?: number } = {}): void {
    this.refusals.set(recipient.toLowerCase(), { accept: options.accept ?? 0, refuse: options.refuse ?? 1 });
  }

  to(recipient: string): SinkMessage[] {
    return this.messages.filter((m) => m.to.includes(recipient.toLowerCase()));
  }

  /** Waits until `recipient` has at least `count` messages (matching `filter`), then returns them. */
  async waitFor(
    recipient: string,
    options: { count?: number; timeoutMs?: number; filter?: (m: SinkMessage) => boolean } = {},
  ): Promise<SinkMessage[]> {
    const count = options.count ?? 1;
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const found = this.to(recipient).filter(options.filter ?? (() => true));
      if (found.length >= count) return found;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${count} message(s) to ${recipient}; got ${found.length}: ${found.map((m) => m.subject).join(' | ')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The magic link (`…/h/<token>`) in a message's text part. */
export function magicLinkOf(message: SinkMessage): string {
  const match = /https?:\/\/\S+\/h\/[A-Za-z0-9_-]+/.exec(message.text);
  if (!match) throw new Error(`no magic link in: ${message.text}`);
  return match[0];
}

type Part = { headers: Record<string, string>; body: string };

function splitPart(raw: string): Part {
  const index = raw.search(/\r?\n\r?\n/);
  const head = index < 0 ? raw : raw.slice(0, index);
  const body = index < 0 ? '' : raw.slice(index).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decodeBody(part: Part): string {
  const encoding = (part.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable')
    return Buffer.from(
      part.body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    ).toString('utf8');
  return part.body;
}

/** Encoded-word subjects (=?UTF-8?Q?…?= / =?UTF-8?B?…?=) as text. */
function decodeHeader(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_m, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_x, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

function parseMessage(raw: string): { subject: string; text: string; html: string } {
  const top = splitPart(raw);
  const subject = decodeHeader(top.headers.subject ?? '');
  let text = '';
  let html = '';
  const visit = (part: Part) => {
    const type = (part.headers['content-type'] ?? 'text/plain').toLowerCase();
    const boundary = /boundary="?([^";]+)"?/i.exec(part.headers['content-type'] ?? '')?.[1];
    if (type.startsWith('multipart/') && boundary) {
      for (const chunk of part.body.split(`--${boundary}`).slice(1)) {
        if (chunk.startsWith('--')) break;
        visit(splitPart(chunk.replace(/^\r?\n/, '')));
      }
    } else if (type.startsWith('text/plain')) text ||= decodeBody(part);
    else if (type.startsWith('text/html')) html ||= decodeBody(part);
  };
  visit(top);
  return { subject, text, html };
}
