"""Minimal Office Open XML documents (a .docx with one paragraph, a .xlsx with one empty sheet),
written with the standard library, and reading their text back."""

from __future__ import annotations

import io
import zipfile

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "application/vnd.openxmlformats-officedocument"


def _zip(parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, _XML + text)
    return buffer.getvalue()


def _types(overrides: dict[str, str]) -> str:
    items = "".join(f'<Override PartName="{p}" ContentType="{_MAIN}.{t}"/>' for p, t in overrides.items())
    return (
        f'<Types xmlns="{_PKG}/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{items}</Types>'
    )


def _rels(target: str, kind: str) -> str:
    return (
        f'<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_DOC}/{kind}" Target="{target}"/></Relationships>'
    )


def docx(paragraph: str) -> bytes:
    body = f"<w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p>"
    return _zip({
        "[Content_Types].xml": _types({"/word/document.xml": "wordprocessingml.document.main+xml"}),
        "_rels/.rels": _rels("word/document.xml", "officeDocument"),
        "word/document.xml": f'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>",
    })


def xlsx() -> bytes:
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    return _zip({
        "[Content_Types].xml": _types({"/xl/workbook.xml": "spreadsheetml.sheet.main+xml",
                                       "/xl/worksheets/sheet1.xml": "spreadsheetml.worksheet+xml"}),
        "_rels/.rels": _rels("xl/workbook.xml", "officeDocument"),
        "xl/workbook.xml": f'<workbook xmlns="{ns}" xmlns:r="{_DOC}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": _rels("worksheets/sheet1.xml", "worksheet"),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{ns}"><sheetData/></worksheet>',
    })


def member(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode()
