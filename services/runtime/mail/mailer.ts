import nodemailer, { type Transporter } from "nodemailer";
import type { Logger } from "../logger.js";
import { unavailable } from "../errors.js";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

/** Where mail goes: an SMTP server in production, the log in development. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/**
 * Development mailer: writes the mail to the log, where a developer running `npm start` reads
 * the verification or reset link. Never configure it where logs are shared.
 */
export class LogMailer implements Mailer {
  constructor(private readonly logger: Logger) {}

  async send(mail: Mail): Promise<void> {
    this.logger.info({ mailTo: mail.to, subject: mail.subject, body: mail.text }, "mail (no ROLLCALL_SMTP_URL: written to the log)");
  }

  close(): void {}
}

export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(url: string, private readonly from: string) {
    this.transport = nodemailer.createTransport(url, { from });
  }

  async send(mail: Mail): Promise<void> {
    try {
      await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text });
    } catch (err) {
      throw unavailable(`the mail server did not accept the message: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.transport.close();
  }
}

export function createMailer(smtpUrl: string | undefined, from: string, logger: Logger): Mailer {
  return smtpUrl ? new SmtpMailer(smtpUrl, from) : new LogMailer(logger);
}
