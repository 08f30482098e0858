"""Account emails (RFC 5322 messages sent over RFC 5321 SMTP): address verification, password reset,
invitation, and the notice sent when someone signs up with an address that has an account.

``Mailer`` is the interface. ``LogMailer`` (the default) writes each message to the log — and keeps
the last ones in memory — so a development server needs no mail server; ``SmtpMailer`` sends
through the SMTP server of the settings (STARTTLS or implicit TLS, optional login).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from smart_auth.config import AuthConfig, SmtpSettings

log = logging.getLogger("smart_auth.mail")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class LogMailer:
    """Writes messages to the log (logger ``smart_auth.mail``) instead of sending them."""

    def __init__(self, keep: int = 100) -> None:
        self.sent: deque[Mail] = deque(maxlen=keep)

    async def send(self, mail: Mail) -> None:
        self.sent.append(mail)
        log.warning("mail (FHIR_AUTH_MAIL=log, not sent) to %s: %s\n%s", mail.to, mail.subject, mail.text)


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg.set_content(mail.text)
        return msg

    def _send(self, mail: Mail) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with smtp:
            if s.starttls and not s.ssl:
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(self.message(mail))

    async def send(self, mail: Mail) -> None:
        try:
            await asyncio.to_thread(self._send, mail)
        except (OSError, smtplib.SMTPException) as exc:  # the page answers the same; the operator sees the log
            log.error("could not send mail to %s (%s): %s", mail.to, mail.subject, exc)


def make_mailer(config: AuthConfig) -> Mailer:
    return SmtpMailer(config.smtp) if config.mail == "smtp" else LogMailer()


def verification(to: str, name: str | None, link: str) -> Mail:
    return Mail(to, "Confirm your email address", f"Hello {name or ''},\n\nPlease confirm your email address by "
                f"opening this link:\n\n{link}\n\nIf you did not create an account, you can ignore this message.\n")


def reset(to: str, name: str | None, link: str, minutes: int) -> Mail:
    return Mail(to, "Reset your password", f"Hello {name or ''},\n\nTo choose a new password, open this link "
                f"within {minutes} minutes:\n\n{link}\n\nIf you did not ask for this, you can ignore this message; "
                "your password stays the same.\n")


def invitation(to: str, name: str | None, link: str) -> Mail:
    return Mail(to, "Your new account", f"Hello {name or ''},\n\nAn account has been created for you. Choose "
                f"your password here:\n\n{link}\n")


def already_registered(to: str, link: str) -> Mail:
    return Mail(to, "You already have an account", "Someone (perhaps you) tried to create an account with this "
                f"email address, but it already has one. To sign in without your password, reset it here:\n\n"
                f"{link}\n\nIf it was not you, you can ignore this message.\n")
