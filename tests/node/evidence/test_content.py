"""Type by content, names and declared types that must agree, and images re-encoded without
their metadata (issue 11 item 5) — ``node.evidence.content`` on its own."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from node.errors import NodeError
from node.evidence import content
from tests.node.evidence.images import (
    PDF,
    RECEIPT,
    has_metadata,
    jpeg_with_gps,
    plain_png,
    png_with_gps,
    webp_with_gps,
)

STRIP = dict(max_pixels=40_000_000)


@pytest.mark.parametrize(("data", "kind"), [
    (jpeg_with_gps(), "jpeg"), (png_with_gps(), "png"), (webp_with_gps(), "webp"), (PDF, "pdf"),
    (RECEIPT, "text"), (b"\xef\xbb\xbfreceipt 12.00\r\n", "text"),
])
def test_sniff_reads_the_magic_bytes(data, kind):
    assert content.sniff(data).key == kind


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 60,            # a Windows program
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",                   # GIF is not accepted
    b"PK\x03\x04\x14\x00" + b"\x00" * 30,                       # zip / docx
    b"<svg xmlns='http://www.w3.org/2000/svg'>\x00</svg>",      # NUL: not text
    b"\xff\xfe\x00\x00garbage",                                  # not UTF-8
    b"RIFF\x10\x00\x00\x00WAVEfmt ",                             # RIFF, but not WebP
    b"   \n\t ",                                                 # only whitespace
])
def test_sniff_refuses_what_is_none_of_ours(data):
    assert content.sniff(data) is None


def test_text_only_when_allowed():
    assert content.sniff(RECEIPT, allow_text=False) is None


@pytest.mark.parametrize(("kind", "name", "declared", "ok"), [
    ("jpeg", "photo.jpg", "image/jpeg", True),
    ("jpeg", "PHOTO.JPEG", "", True),
    ("jpeg", "IMG_0001", "application/octet-stream", True),     # no extension: the content decides
    ("jpeg", "票据 v1.2", None, True),                              # "2" is no file type
    ("pdf", "photo.jpg", "image/jpeg", False),                  # the name says JPEG, the bytes PDF
    ("pdf", "invoice.pdf", "image/png", False),                 # the declared type disagrees
    ("png", "evil.exe", "", False),
    ("png", "scan.png", "image/png; charset=binary", True),
    ("text", "receipt.txt", "text/plain; charset=utf-8", True),
    ("text", "receipt.html", "text/html", False),
])
def test_name_and_declared_type_must_agree_with_the_content(kind, name, declared, ok):
    if ok:
        content.check_claims(content.KINDS[kind], name, declared)
        return
    with pytest.raises(NodeError) as err:
        content.check_claims(content.KINDS[kind], name, declared)
    assert (err.value.status, err.value.field, err.value.code) == (422, "file", "type_mismatch")


@pytest.mark.parametrize(("raw", "kind", "clean"), [
    ("C:\\Users\\chen\\Desktop\\收据.jpg", "jpeg", "收据.jpg"),
    ("../../etc/passwd.txt", "text", "passwd.txt"),
    ("photo\u202egpj.exe.jpg", "jpeg", "photogpj.exe.jpg"),      # no right-to-left override
    ("  .hidden.png ", "png", "hidden.png"),
    ("a\x00b\r\nc.pdf", "pdf", "ab c.pdf"),
    ("", "pdf", "evidence.pdf"),
    (None, "webp", "evidence.webp"),
    ("scan", "png", "scan.png"),
    ("x" * 300 + ".jpeg", "jpeg", "x" * 195 + ".jpeg"),
    ("<img src=x onerror=alert(1)>.png", "png", "<img src=x onerror=alert(1)>.png"),   # escaped when shown
])
def test_clean_name(raw, kind, clean):
    assert content.clean_name(raw, content.KINDS[kind]) == clean


def test_ascii_fallback_name():
    assert content.ascii_name('收据 "a";.pdf', "evidence-1.pdf") == "__ _a__.pdf"
    assert content.ascii_name("收据.pdf", "evidence-1.pdf") == "__.pdf"
    assert content.ascii_name("收据", "evidence-1.pdf") == "evidence-1.pdf"


def test_jpeg_loses_exif_gps_xmp_and_comment_and_keeps_its_orientation():
    original = jpeg_with_gps(size=(40, 20), orientation=6)
    assert {"gps", "exif", "xmp", "comment"} <= set(has_metadata(original))     # the test file does carry them
    cleaned = content.strip_image(original, content.KINDS["jpeg"], **STRIP)
    assert has_metadata(cleaned) == []
    img = Image.open(io.BytesIO(cleaned))
    assert img.format == "JPEG" and img.size == (20, 40)        # orientation 6: turned a quarter clockwise
    rgb = img.convert("RGB")
    top, bottom = rgb.getpixel((10, 5)), rgb.getpixel((10, 35))
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0]   # red (the left half) is now on top


@pytest.mark.parametrize(("make", "kind"), [(png_with_gps, "png"), (webp_with_gps, "webp")])
def test_png_and_webp_lose_their_metadata(make, kind):
    original = make()
    assert "gps" in has_metadata(original)
    cleaned = content.strip_image(original, content.KINDS[kind], **STRIP)
    assert has_metadata(cleaned) == []
    assert Image.open(io.BytesIO(cleaned)).size == (16, 8)


def test_png_pixels_survive_exactly():
    original = plain_png((8, 8), (10, 200, 10))
    cleaned = content.strip_image(original, content.KINDS["png"], **STRIP)
    img = Image.open(io.BytesIO(cleaned)).convert("RGB")
    assert {img.getpixel((x, y)) for x in range(8) for y in range(8)} == {(10, 200, 10)}


@pytest.mark.parametrize(("data", "kind", "code"), [
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "jpeg", "bad_image"),          # JPEG magic, no JPEG
    (plain_png()[:40], "png", "bad_image"),                               # truncated
    (b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 30, "webp", "bad_image"),
])
def test_bytes_that_do_not_decode_as_the_image_they_claim_are_refused(data, kind, code):
    with pytest.raises(NodeError) as err:
        content.strip_image(data, content.KINDS[kind], **STRIP)
    assert (err.value.status, err.value.field, err.value.code) == (422, "file", code)


def test_too_many_pixels_refused_before_decoding():
    with pytest.raises(NodeError) as err:
        content.strip_image(plain_png((300, 300)), content.KINDS["png"], max_pixels=300 * 299)
    assert err.value.code == "image_too_large"


def test_animated_images_refused():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    for fmt, kind in (("PNG", "png"), ("WEBP", "webp")):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100)
        with pytest.raises(NodeError) as err:
            content.strip_image(buf.getvalue(), content.KINDS[kind], **STRIP)
        assert err.value.code == "animated_image", fmt
