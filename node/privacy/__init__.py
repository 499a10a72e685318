"""Personal data protection (issue 13; CONTRACT §11; docs/privacy.md).

``masking.py`` — the masked view of a person (``李**``, ``139****0000``) that supervisors,
leaders, analysts and copy holders see (issue 13 items 2 and 3). ``keys.py``, ``fields.py``,
``lookup.py``, ``rotate.py`` — personal fields encrypted at rest under the node's data key,
keyed-hash look-ups, ``key rotate-data`` (issue 13 item 1); ``blobs.py`` — evidence attachment
bytes sealed under the same data key (issue 13 item 1). ``sealing.py`` — HPKE envelopes
that carry a case's personal part to exactly the nodes that may read it (issue 13 item 2;
its functions are used as ``node.privacy.sealing.*`` by routing). This package imports no
other domain, so every domain may use it.
"""
from node.privacy import sealing
from node.privacy.blobs import BlobDir, blob_aad, is_sealed, open_blob, open_bytes, seal_bytes, write_atomic
from node.privacy.fields import EncryptedTextField, encrypted_columns
from node.privacy.keys import DataKeyError, Keyring, bind_keyring, keyring_of, load_keyring
from node.privacy.lookup import complainant_hashes, normalise_phone, phone_hash, phone_hashes
from node.privacy.masking import (
                                  PERSONAL_KEYS,
                                  mask_address,
                                  mask_address_for,
                                  mask_id_number,
                                  mask_name,
                                  mask_person,
                                  mask_phone,
                                  mask_text,
)
from node.privacy.sealing import SealError, current_seal_public, ensure_seal_key, open_envelope, rotate_seal_key, seal

__all__ = ["BlobDir", "blob_aad", "is_sealed", "open_blob", "open_bytes", "seal_bytes", "write_atomic",
           "DataKeyError", "EncryptedTextField", "Keyring", "bind_keyring", "complainant_hashes",
           "encrypted_columns", "keyring_of", "load_keyring", "normalise_phone", "phone_hash", "phone_hashes",
           "PERSONAL_KEYS", "SealError", "current_seal_public", "ensure_seal_key", "sealing", "open_envelope", "rotate_seal_key", "seal",
           "mask_address", "mask_address_for", "mask_id_number", "mask_name", "mask_person", "mask_phone", "mask_text"]
