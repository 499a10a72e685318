"""How documents travel between nodes (R7.1; RELIABILITY rules 1-11, 16-19).

The path of a document, e.g. a case transferred from Nanshan (440305) to Xihu (330106):

1. **Origin.** ``documents.create`` builds the document (kind, id, origin, dest, body) and
   signs it with the origin's key (rule 12). In the same database transaction as the
   business change, ``outbox.enqueue`` takes the next dense sequence number of the
   (next hop, channel) pair from ``SendCounter`` and writes an ``OutboxEntry`` (rules 1-2).
2. **Sender.** ``sender.push`` reads the oldest unacknowledged entries of a link and
   channel, one bounded batch at a time, one batch in flight (rule 7), signs the HTTP
   request (RFC 9421) and POSTs it to the peer's ``/federation/v1/push``. Children that
   cannot take inbound connections ``sender.pull`` the same entries from their parent's
   ``/federation/v1/pull`` on the same cursor (rule 9). Failures back off with jitter,
   capped at about an hour (rules 10-11); a 409 conflict stops the link (rule 5).
3. **Inbox.** ``inbox.receive`` at the peer checks the hop (signed by a linked, unrevoked
   node), the policy (a child speaks only for its subtree, a parent only addresses mine,
   no loops: rules 15-16) and each document's origin signature; applies entries strictly
   in sequence order per (peer, epoch, channel), buffering any that arrive ahead of a gap;
   records the high-water mark in the same transaction as the effects (rule 4) and
   answers with a cumulative acknowledgement only after the commit (rule 6).
4. **Handler.** The document's kind selects a handler that ``node/`` registered
   (``registry``): it applies the effect, and may forward the same signed document to the
   next hop (``Delivery.forward``) in the same transaction. Replication never knows what a
   case or a directive is.
5. **Quarantine.** A document that cannot be applied is stored in ``Quarantine`` and
   blocks only its channel until an admin retries or skips it (rule 8), audited.
"""
