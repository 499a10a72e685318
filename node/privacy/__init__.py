"""Personal data protection (issue 13; CONTRACT §11; docs/privacy.md).

``masking.py`` — the masked view of a person (``李**``, ``139****0000``) that supervisors,
leaders, analysts and copy holders see (issue 13 items 2 and 3). Further modules hold field
encryption at rest and the sealing of personal parts in transit. This package imports no
other domain, so every domain may use it.
"""
from node.privacy.masking import PERSONAL_KEYS, mask_address, mask_id_number, mask_name, mask_person, mask_phone

__all__ = ["PERSONAL_KEYS", "mask_address", "mask_id_number", "mask_name", "mask_person", "mask_phone"]
