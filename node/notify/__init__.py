"""Notifications that reach people (issue 12 item 4; R2.6-R2.7; CONTRACT §10;
docs/notifications.md): Chinese templates per event, an outbox queued in the same transaction
as the change it tells of, real senders (SMS over a signed HTTP gateway, e-mail over SMTP),
retries with backoff and a delivery log, and nothing personal in the application log.

Inside the package:

* ``templates.py`` — ``render(event, **fields)``: what each message says;
* ``models.py`` — ``Notification`` (the outbox) and ``DeliveryAttempt`` (the delivery log),
  migration 7's ``migrate_tables``;
* ``senders.py`` — one sender per channel behind one interface (``SENDERS``);
* ``service.py`` — ``queue``, ``queue_for_complainant``, ``send_now``, ``flush`` (the job),
  ``list_deliveries`` (the staff listing, addresses masked).

Routing decides what a complainant must hear of and calls ``queue_for_complainant``; the public
portal queues and ``send_now``-s one-time codes. This package imports no other domain.
"""
from node.notify.models import MODELS, DeliveryAttempt, Notification, migrate_tables
from node.notify.senders import SENDERS, DeliveryError, Outgoing, message_ref, sign
from node.notify.service import flush, list_deliveries, mask_address, queue, queue_for_complainant, send_now
from node.notify.templates import EVENTS, render, six_digit_numbers


def job_specs(node):
    """The sender job, every ``notify.flush_interval_s`` seconds (``node.domains`` installs it)."""
    return [("notify.flush", lambda n: float(n.config.notify.flush_interval_s), flush)]


__all__ = ["EVENTS", "MODELS", "SENDERS", "DeliveryAttempt", "DeliveryError", "Notification", "Outgoing",
           "flush", "job_specs", "list_deliveries", "mask_address", "message_ref", "migrate_tables", "queue",
           "queue_for_complainant", "render", "send_now", "sign", "six_digit_numbers"]
