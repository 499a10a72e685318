"""Test files for evidence: images carrying EXIF (with GPS), XMP and comments, a PDF, text."""
from __future__ import annotations

import io
import random

from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

GPS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (22.0, 32.0, 10.5),
       ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (113.0, 56.0, 1.25)}
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="22,32.17N"/>'
       b"</rdf:RDF></x:xmpmeta>")


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.Model] = "Model 12315"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    return exif


def picture(size: tuple[int, int] = (40, 20)) -> Image.Image:
    """Left half red, right half blue: a rotation shows in where the colours are."""
    img = Image.new("RGB", size, (220, 20, 20))
    img.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    return img


def jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 6, noise: int = 0) -> bytes:
    """``noise``: a seed for random pixels (a photo that does not compress to nothing)."""
    img = picture(size)
    if noise:
        img = Image.frombytes("RGB", size, random.Random(noise).randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif_with_gps(orientation), xmp=XMP,
                       comment=b"shot at home, 22.536N 113.934E")
    return buf.getvalue()


def png_with_gps(size: tuple[int, int] = (16, 8)) -> bytes:
    info = PngInfo()
    info.add_text("Comment", "location 22.536N 113.934E")
    info.add_itxt("Author", "陈女士")
    buf = io.BytesIO()
    picture(size).save(buf, "PNG", pnginfo=info, exif=exif_with_gps())
    return buf.getvalue()


def webp_with_gps(size: tuple[int, int] = (16, 8)) -> bytes:
    buf = io.BytesIO()
    picture(size).save(buf, "WEBP", exif=exif_with_gps(), xmp=XMP, quality=80)
    return buf.getvalue()


def plain_png(size: tuple[int, int] = (8, 8), colour: tuple[int, int, int] = (10, 200, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
RECEIPT = "收据\n商户：深圳市某某电器有限公司\n金额：1299.00 元\n".encode()


def has_metadata(data: bytes) -> list[str]:
    """What of the metadata the test images carry is still in ``data``."""
    found = []
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()
    if len(exif):
        found.append(f"exif {dict(exif)}")
    if exif.get_ifd(ExifTags.IFD.GPSInfo):
        found.append("gps")
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment", "Author"):
        if key in img.info:
            found.append(key)
    for needle in (b"Exif\x00", b"TestPhone", b"adobe:ns:meta", b"22.536N", b"GPS"):
        if needle in data:
            found.append(needle.decode(errors="replace"))
    return found
