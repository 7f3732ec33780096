import nodemailer from "nodemailer";

/** One message, plain text: the gateway mails only links people act on (password resets). */
export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/**
 * Mail through the SMTP server of `SMTP_URL` (nodemailer). smtps:// is TLS from the start; smtp://
 * upgrades with STARTTLS when the server offers it. Sends time out rather than hold a request.
 */
export function smtpMailer(config: { smtpUrl: string; from: string }): Mailer {
  const url = new URL(config.smtpUrl);
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : url.protocol === "smtps:" ? 465 : 587,
    secure: url.protocol === "smtps:",
    auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: config.from, to: mail.to, subject: mail.subject, text: mail.text });
    },
  };
}
