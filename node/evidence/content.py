"""What an attachment is, read from its bytes, and what of it is kept (issue 11 item 5).

* ``sniff`` — the type by magic bytes (JPEG, PNG, WebP, PDF; plain UTF-8 text for receipts
  when allowed), never by the name;
* ``check_claims`` — the name's extension and the declared ``Content-Type`` must agree with
  what the bytes are: a PDF called ``photo.jpg`` is refused (422 naming ``file``);
* ``strip_image`` — an image is decoded and re-encoded with Pillow without its metadata
  (EXIF, GPS, XMP, comments, text chunks), the EXIF orientation applied to the pixels first;
  only the colour profile and transparency survive. A JPEG keeps its own quantisation tables
  and chroma subsampling, so re-encoding costs next to nothing in quality;
* ``clean_name`` — the original file name as it may be shown and offered for download.

Plain functions over bytes; the store, the API and the pages call them.
"""
from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

from node.errors import NodeError, invalid

FIELD = "file"


@dataclass(frozen=True)
class Kind:
    key: str
    media_type: str
    extensions: tuple[str, ...]     # the first is the canonical one
    declared: tuple[str, ...]       # Content-Type values a client may send for it
    name_zh: str


KINDS = {
    "jpeg": Kind("jpeg", "image/jpeg", ("jpg", "jpeg", "jpe", "jfif"), ("image/jpeg", "image/jpg", "image/pjpeg"),
                 "JPEG 图片"),
    "png": Kind("png", "image/png", ("png",), ("image/png", "image/x-png"), "PNG 图片"),
    "webp": Kind("webp", "image/webp", ("webp",), ("image/webp",), "WebP 图片"),
    "pdf": Kind("pdf", "application/pdf", ("pdf",), ("application/pdf", "application/x-pdf"), "PDF 文档"),
    "text": Kind("text", "text/plain", ("txt", "text"), ("text/plain",), "纯文本"),
}
MEDIA_TYPES = frozenset(k.media_type for k in KINDS.values())
BY_MEDIA_TYPE = {k.media_type: k for k in KINDS.values()}
# Content-Types that say nothing about the content (a browser that does not know the type)
_UNDECLARED = ("", "application/octet-stream", "binary/octet-stream", "application/x-download")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_EXTENSION = re.compile(r"\.([A-Za-z][A-Za-z0-9]{0,7})$")


def unsupported(allow_text: bool) -> NodeError:
    kinds = "JPEG、PNG、WebP、PDF" + ("、纯文本（UTF-8）" if allow_text else "")
    return invalid(FIELD, f"不支持的文件类型：只接受 {kinds} / unsupported file: only JPEG, PNG, WebP, PDF"
                          f"{' and plain UTF-8 text' if allow_text else ''} are accepted", code="unsupported_type")


def sniff(data: bytes, *, allow_text: bool = True) -> Kind | None:
    """The kind the bytes are, by their magic numbers; ``None`` when none of ours."""
    if data[:3] == b"\xff\xd8\xff":
        return KINDS["jpeg"]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return KINDS["png"]
    if len(data) >= 16 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return KINDS["webp"]
    if data[:5] == b"%PDF-":
        return KINDS["pdf"]
    if allow_text and _is_text(data):
        return KINDS["text"]
    return None


def _is_text(data: bytes) -> bool:
    """UTF-8 (a BOM allowed) without control characters other than tab, newlines, form feed."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return bool(text.strip()) and _TEXT_CONTROLS.search(text) is None


def extension(name: str) -> str | None:
    """The name's extension when it looks like a file type (``.jpg``; not ``v1.2``), lower case."""
    found = _EXTENSION.search(name)
    return found.group(1).lower() if found else None


def check_claims(kind: Kind, name: str, declared: str | None) -> None:
    """The name and the declared type must not say something else than the bytes (422)."""
    ext = extension(name)
    if ext is not None and ext not in kind.extensions:
        raise invalid(FIELD, f"文件内容为{kind.name_zh}，与文件名「{name[:80]}」不符 / the content is {kind.media_type}, "
                             f"not what the name {name[:80]!r} says", code="type_mismatch")
    mime = (declared or "").split(";", 1)[0].strip().lower()
    if mime not in _UNDECLARED and mime not in kind.declared:
        raise invalid(FIELD, f"文件内容为{kind.name_zh}，与声明的类型 {mime[:60]} 不符 / the content is "
                             f"{kind.media_type}, not the declared {mime[:60]}", code="type_mismatch")


# -- names ----------------------------------------------------------------------------------------
def clean_name(raw: str | None, kind: Kind, max_length: int = 200) -> str:
    """The original name as shown and offered: no directory part, no control or
    direction-changing characters, NFC, at most ``max_length`` characters (extension kept),
    the canonical extension added when there is none."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(" " if ch in "\t\n\r" else ch for ch in name
                   if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    name = re.sub(r"\s+", " ", name).strip().strip(".").strip()
    if extension(name) is None:
        name = f"{name or 'evidence'}.{kind.extensions[0]}"
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        name = stem[: max_length - len(ext) - 1] + dot + ext
    return name


def ascii_name(name: str, fallback: str) -> str:
    """A plain-ASCII stand-in for ``Content-Disposition``'s ``filename=`` (the UTF-8 name goes
    in ``filename*``)."""
    out = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_" for ch in name)
    return out if out.strip("_. ") else fallback


# -- images ---------------------------------------------------------------------------------------
def _webp_chunks(data: bytes) -> list[bytes]:
    """The FourCCs of a WebP file's RIFF chunks (to tell lossless and animated ones)."""
    out, pos = [], 12
    while pos + 8 <= len(data) and len(out) < 64:
        fourcc = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        out.append(fourcc)
        pos += 8 + size + (size & 1)
    return out


def strip_image(data: bytes, kind: Kind, *, max_pixels: int, jpeg_quality: int = 92) -> bytes:
    """The image re-encoded without metadata, its EXIF orientation applied (422 when the
    bytes do not decode as the image they claim to be, or the image is too large or animated)."""
    from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

    def bad(detail: str) -> NodeError:
        return invalid(FIELD, f"图片无法读取：{detail} / the image cannot be read: {detail}", code="bad_image")

    fmt = {"jpeg": ("JPEG",), "png": ("PNG",), "webp": ("WEBP",)}[kind.key]   # a phone's MPO opens as JPEG
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            src = Image.open(io.BytesIO(data), formats=list(fmt))
            width, height = src.size
            if width * height > max_pixels:
                raise invalid(FIELD, f"图片过大（{width}×{height} 像素，上限 {max_pixels} 像素）/ the image is too "
                                     f"large ({width}×{height} pixels, at most {max_pixels})", code="image_too_large")
            animated = kind.key != "jpeg" and getattr(src, "n_frames", 1) > 1
            if kind.key == "webp" and b"ANIM" in _webp_chunks(data):
                animated = True
            if animated:
                raise invalid(FIELD, "不接受动画图片 / animated images are not accepted", code="animated_image")
            src.load()
    except NodeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise bad(type(exc).__name__) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated or corrupt data
        raise bad(str(exc)[:80] or type(exc).__name__) from None
    icc = src.info.get("icc_profile")
    transparency = src.info.get("transparency")
    options: dict = {}
    if kind.key == "jpeg":
        try:
            qtables, sampling = src.quantization, JpegImagePlugin.get_sampling(src)
        except (AttributeError, TypeError, ValueError):
            qtables, sampling = None, -1
        if qtables and sampling != -1 and src.mode in ("L", "RGB", "YCbCr"):
            options.update(qtables=qtables, subsampling=sampling)
        else:
            options.update(quality=jpeg_quality)
    elif kind.key == "webp":
        if b"VP8L" in _webp_chunks(data):
            options["lossless"] = True      # a lossless original stays lossless
        else:
            options["quality"] = 90
    clean = ImageOps.exif_transpose(src)            # orientation into the pixels (a new image)
    clean.info = {} if transparency is None else {"transparency": transparency}
    if icc:
        options["icc_profile"] = icc
    out = io.BytesIO()
    try:
        clean.save(out, format=fmt[0], **options)
    except (OSError, ValueError) as exc:
        raise bad(str(exc)[:80]) from None
    return out.getvalue()
