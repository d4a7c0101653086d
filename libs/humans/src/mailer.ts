import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';

export type MailMessage = { to: string; subject: string; text: string; html: string };

/**
 * Email over SMTP (SMTP_URL, e.g. smtp://user:pass@host:587 or smtps://…). Without SMTP_URL nothing
 * is sent: one warning per process says so, and `send` answers false. Message bodies carry magic
 * links, so neither bodies nor links are ever logged; only the recipient's domain is.
 */
@Injectable()
export class Mailer implements OnModuleDestroy {
  private readonly transport: Transporter | null;
  private warned = false;

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {
    this.transport = config.smtpUrl
      ? createTransport(config.smtpUrl, { from: config.humans.mailFrom })
      : null;
  }

  get enabled(): boolean {
    return this.transport !== null;
  }

  /** Sends one message; false when email is not configured. SMTP failures throw (callers retry). */
  async send(message: MailMessage): Promise<boolean> {
    if (!this.transport) {
      this.warnIfDisabled();
      return false;
    }
    try {
      await this.transport.sendMail({
        from: this.config.humans.mailFrom,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
      return true;
    } catch (err) {
      this.logger.warn(
        {
          to_domain: message.to.split('@')[1] ?? null,
          err: err instanceof Error ? err.message : String(err),
        },
        'sending a human task email failed',
      );
      throw err;
    }
  }

  /** The one warning per process that emails are off. */
  warnIfDisabled(): void {
    if (this.transport || this.warned) return;
    this.warned = true;
    this.logger.warn('SMTP_URL is not set: human task emails (magic links, reminders) are not sent');
  }

  onModuleDestroy(): void {
    this.transport?.close();
  }
}
