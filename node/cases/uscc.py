"""Unified Social Credit Code (统一社会信用代码, USCC) check per GB 32100-2015.

Serves R7.3 (CONTRACT §5: "the USCC check digit (GB 32100-2015) when a USCC is given") and
R7.4 (the code is the key for interconnection with the business registry).

Structure of the 18 characters:

=========  ==========================================================================
position   content
=========  ==========================================================================
1          registration authority (登记管理部门代码): ``1`` 机构编制, ``5`` 民政, ``9`` 工商
           (市场监管), ``Y`` 其他 … — a digit or a letter of the code charset
2          organisation category (机构类别代码): a digit
3–8        administrative division of the registration authority (GB/T 2260): digits
9–17       organisation code body (主体标识码, the old 9-char 组织机构代码): charset chars
18         check character
=========  ==========================================================================

The charset is ``0-9`` plus the capital letters without ``I O Z S V`` (they look like digits).
Check character: ``C18 = 31 - (Σ value(Ci) × Wi) mod 31`` (31 → ``0``), weights
``Wi = 3^(i-1) mod 31``. The first character may be a letter, so a check that demands eight
leading digits is wrong (shared/data/README.md).
"""
from __future__ import annotations

from node.errors import NodeError, invalid

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE: dict[str, int] = {c: i for i, c in enumerate(CHARSET)}
# Wi = 3^(i-1) mod 31 for i = 1..17, written out as the standard prints them.
WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

FORBIDDEN_LETTERS = frozenset("IOZSV")
DEFAULT_FIELD = "respondent.uscc"


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters (all in the charset)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def normalize_uscc(value: str) -> str:
    """Strip surrounding blanks and upper-case: people type codes in lower case; the stored
    form is the canonical upper-case one."""
    return value.strip().upper()


def check_uscc(s: str, field: str = DEFAULT_FIELD) -> None:
    """Raise ``NodeError`` 422 naming ``field`` with the precise reason ``s`` is not a valid USCC.

    ``s`` is checked as given (call :func:`normalize_uscc` first to accept lower case).
    """
    if not isinstance(s, str):
        raise invalid(field, f"统一社会信用代码须为字符串 / {field} must be a string")
    if len(s) != 18:
        raise invalid(
            field,
            f"统一社会信用代码应为 18 位，实为 {len(s)} 位 / a USCC has 18 characters, got {len(s)}",
        )
    for pos, c in enumerate(s, start=1):
        if c in _VALUE:
            continue
        if c in FORBIDDEN_LETTERS:
            raise invalid(
                field,
                f"统一社会信用代码第 {pos} 位含不使用的字母 {c}（不使用 I、O、Z、S、V）"
                f" / forbidden letter {c} at position {pos} (I, O, Z, S, V are not used)",
            )
        if c.isascii() and c.isalpha() and c.islower():
            raise invalid(
                field,
                f"统一社会信用代码第 {pos} 位须为大写字母 / position {pos}: letters must be upper case",
            )
        raise invalid(
            field,
            f"统一社会信用代码第 {pos} 位含非法字符 {c!r} / invalid character {c!r} at position {pos}",
        )
    if not s[1].isdigit():
        raise invalid(
            field,
            f"统一社会信用代码第 2 位（机构类别）须为数字，实为 {s[1]}"
            f" / position 2 (organisation category) must be a digit, got {s[1]}",
        )
    if not s[2:8].isdigit():
        raise invalid(
            field,
            f"统一社会信用代码第 3–8 位（行政区划码）须为数字，实为 {s[2:8]}"
            f" / positions 3-8 (division code) must be digits, got {s[2:8]}",
        )
    expected = check_character(s[:17])
    if s[17] != expected:
        raise invalid(
            field,
            f"统一社会信用代码校验位错误：应为 {expected}，实为 {s[17]}"
            f" / check character is wrong: expected {expected}, got {s[17]}",
        )


def is_valid_uscc(s: str) -> bool:
    """True when :func:`check_uscc` accepts ``s``."""
    try:
        check_uscc(s)
    except NodeError:  # check_uscc turns a non-str input into a NodeError as well
        return False
    return True
