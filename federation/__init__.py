"""Who a node is and whom it trusts (R7.1, CONTRACT §3).

Keys and their rotation (``keys``), canonical JSON and document signatures (``canonical``,
``docsign``), RFC 9421 HTTP message signatures for every hop (``httpsig``), signed node
records chained to the root and the trust policy over them (``records``, ``trust``), links
and invites (``links``). No Flask and nothing from ``node/`` is imported here.
"""
