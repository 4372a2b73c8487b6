"""Which files a rectification may be evidenced with: PDF, images, Office files, GeoPackage and ZIP,
each recognised by its name and by its first bytes (a renamed file of another kind is refused).

Pure: :func:`evidence_refusal` looks at a name and the content and says what is wrong, or None.
"""

from __future__ import annotations

from pathlib import PurePath

_PDF = (b"%PDF-",)
_PNG = (b"\x89PNG\r\n\x1a\n",)
_JPEG = (b"\xff\xd8\xff",)
_TIFF = (b"II*\x00", b"MM\x00*")
_GIF = (b"GIF87a", b"GIF89a")
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # ZIP, and the Office Open XML formats inside one
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # the legacy Office formats (doc, xls, ppt)
_SQLITE = (b"SQLite format 3\x00",)  # GeoPackage

# suffix → (what it is, the signatures its content starts with)
EVIDENCE_TYPES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".pdf": ("PDF", _PDF),
    ".png": ("image", _PNG), ".jpg": ("image", _JPEG), ".jpeg": ("image", _JPEG), ".tif": ("image", _TIFF),
    ".tiff": ("image", _TIFF), ".gif": ("image", _GIF),
    ".docx": ("Office file", _ZIP), ".xlsx": ("Office file", _ZIP), ".pptx": ("Office file", _ZIP),
    ".doc": ("Office file", _OLE), ".xls": ("Office file", _OLE), ".ppt": ("Office file", _OLE),
    ".gpkg": ("GeoPackage", _SQLITE),
    ".zip": ("ZIP", _ZIP),
}  # fmt: skip


def allowed_suffixes() -> str:
    """The accepted file name endings, for messages."""
    return ", ".join(EVIDENCE_TYPES)


def evidence_refusal(name: str, content: bytes) -> str | None:
    """Why a file named ``name`` with ``content`` cannot be evidence, or None when it can: its type
    must be on the list (by suffix) and its content must be of that type."""
    suffix = PurePath(name).suffix.lower()
    known = EVIDENCE_TYPES.get(suffix)
    if known is None:
        return f"{name}: a {suffix or 'suffix-less'} file is not accepted as evidence; accepted are {allowed_suffixes()}"
    what, signatures = known
    if not any(content.startswith(s) for s in signatures):
        return f"{name}: named {suffix} but its content is not a {what} of that kind (wrong suffix, or a damaged file)"
    return None


__all__ = ["EVIDENCE_TYPES", "allowed_suffixes", "evidence_refusal"]
