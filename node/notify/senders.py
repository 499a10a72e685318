"""The senders that reach people, one per channel behind one interface (issue 12 item 4;
CONTRACT §10; docs/notifications.md "Channels").

* ``sms`` — ``HttpSms``: the message is POSTed as JSON to ``notify.sms_url``, signed with
  HMAC-SHA256 over ``timestamp + "." + body`` (the gateway's implementers read the wire format
  in docs/notifications.md);
* ``email`` — ``Smtp``: a UTF-8 ``EmailMessage`` through the relay at ``notify.smtp_host``
  (STARTTLS and login when configured).

A sender raises ``DeliveryError`` with a text that is safe to store and show (no address, no
message text); ``permanent`` marks an answer that retrying cannot change (the gateway or the
relay refused this very message). ``SENDERS`` maps a channel to its sender: a new channel is a
new entry, nothing else changes.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

import requests

from node.config import NotifySettings

SIGNATURE_HEADER = "X-N12315-Signature"
TIMESTAMP_HEADER = "X-N12315-Timestamp"
MAIL_FOOTER = "\n\n——\n本邮件由12315系统自动发送，请勿直接回复。/ Sent automatically by the 12315 system; please do not reply."


@dataclass(frozen=True)
class Outgoing:
    """One message as a sender sees it."""
    id: int
    key: str
    channel: str
    to: str
    subject: str
    text: str
    case_id: str


class DeliveryError(Exception):
    """A try that did not deliver; ``str()`` is safe to store, show and log."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    name: str

    def unavailable(self, settings: NotifySettings) -> str | None:
        """Why this channel cannot send at all (not configured), else None."""

    def send(self, settings: NotifySettings, msg: Outgoing, now: datetime) -> None:
        """Deliver ``msg`` or raise ``DeliveryError``."""


def message_ref(key: str) -> str:
    """The message's stable id on the wire: the same across retries, so a gateway can drop a
    repeat; a hash, so the key (which names the case and event) stays here."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-N12315-Signature`` without its ``sha256=`` prefix: hex HMAC-SHA256 of
    ``timestamp + "." + body`` under ``notify.sms_secret``."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


class HttpSms:
    """SMS through the gateway at ``notify.sms_url`` (CONTRACT §10)."""
    name = "sms-http"

    def unavailable(self, settings: NotifySettings) -> str | None:
        if settings.sms_url:
            return None
        return "短信网关未配置（notify.sms_url），消息等待发送 / no SMS gateway configured (notify.sms_url): waiting"

    def send(self, settings: NotifySettings, msg: Outgoing, now: datetime) -> None:
        body = json.dumps({"to": msg.to, "text": msg.text, "id": message_ref(msg.key), "case_id": msg.case_id},
                          ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
        stamp = str(int(now.timestamp()))
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: stamp}
        if settings.sms_secret:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(settings.sms_secret, stamp, body)
        try:
            r = requests.post(settings.sms_url, data=body, headers=headers, timeout=settings.timeout_s,
                              allow_redirects=False)
        except requests.Timeout:
            raise DeliveryError("短信网关超时 / SMS gateway timed out") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"短信网关无法连接 / SMS gateway unreachable ({type(exc).__name__})") from None
        if not 200 <= r.status_code < 300:
            # 400/422: the gateway refused this message (a bad number); anything else may pass later
            raise DeliveryError(f"短信网关答复 HTTP {r.status_code} / SMS gateway answered HTTP {r.status_code}",
                                permanent=r.status_code in (400, 422))


class Smtp:
    """E-mail through the relay at ``notify.smtp_host``."""
    name = "smtp"

    def unavailable(self, settings: NotifySettings) -> str | None:
        if settings.smtp_host:
            return None
        return "邮件服务器未配置（notify.smtp_host），消息等待发送 / no mail relay configured (notify.smtp_host): waiting"

    def send(self, settings: NotifySettings, msg: Outgoing, now: datetime) -> None:
        em = EmailMessage()
        try:
            em["From"] = settings.mail_from
            em["To"] = msg.to
        except (ValueError, IndexError):
            raise DeliveryError("收件地址无效 / invalid e-mail address", permanent=True) from None
        em["Subject"] = msg.subject or "12315"
        em["Date"] = format_datetime(now)
        em["Message-ID"] = make_msgid(message_ref(msg.key)[:16], domain=settings.mail_from.rpartition("@")[2] or None)
        em.set_content(msg.text + MAIL_FOOTER, charset="utf-8")
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password)
                smtp.send_message(em)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("邮件服务器拒收该地址 / the mail relay refused the recipient", permanent=True) from None
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("邮件服务器登录失败 / login at the mail relay failed") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"邮件服务器答复 {exc.smtp_code} / the mail relay answered {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"邮件服务器无法连接 / mail relay unreachable ({type(exc).__name__})") from None


SENDERS: dict[str, Sender] = {"sms": HttpSms(), "email": Smtp()}
CHANNELS = tuple(SENDERS)
