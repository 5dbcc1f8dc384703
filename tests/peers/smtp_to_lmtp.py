# Origin: the commsd project's peer notes (shared/peers/smtp_to_lmtp.py), unchanged but for this line.
# Dovecot submission cannot relay straight into LMTP; this relay sits between them in the tests.
"""Minimal MTA: accept SMTP on 127.0.0.1:PORT (aiosmtpd) and deliver every message to dovecot LMTP."""
import asyncio, smtplib, sys
from aiosmtpd.controller import Controller

LMTP_HOST, LMTP_PORT = "127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 10024

class LmtpRelay:
    async def handle_DATA(self, server, session, envelope):
        def deliver():
            with smtplib.LMTP(LMTP_HOST, LMTP_PORT) as l:
                return l.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        try:
            refused = await asyncio.get_running_loop().run_in_executor(None, deliver)
        except smtplib.SMTPRecipientsRefused as e:
            return "550 5.1.1 recipient(s) refused: %s" % list(e.recipients)
        return "250 2.0.0 delivered" if not refused else "451 4.3.0 partial: %s" % refused

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 10025
    c = Controller(LmtpRelay(), hostname="127.0.0.1", port=port)
    c.start(); print("smtp->lmtp relay on", port, flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        c.stop()
