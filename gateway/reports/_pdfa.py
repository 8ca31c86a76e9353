"""reportlab's PDF made PDF/A-3b (ISO 19005-3, level B) with pikepdf: XMP metadata naming the
part and level, an sRGB output intent, a trailer ID, the catalog's ``/Lang``, and the signed
profile the report shows attached as an associated file (``/AF``, relationship Source).

The Info dictionary carries Title, Author, Creator and CreationDate, each equal to its XMP
property (dc:title, dc:creator, xmp:CreatorTool, xmp:CreateDate). It carries no Producer and no
ModDate: pyHanko, signing in an incremental update, writes the Producer to both the Info
dictionary and XMP alike, and the modification date to XMP alone when the Info dictionary has
none, which keeps the two consistent after signing as well (a ModDate it finds it rewrites from a
second clock reading, a second apart now and then).
"""

from __future__ import annotations

import functools
import hashlib
import io
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import ImageCms

CREATOR = "cxg gateway credit report"
PRODUCER = "cxg gateway (reportlab, pikepdf)"
PDF_VERSION = "1.7"  # ISO 32000-1, which PDF/A-3 is based on
_SRGB = "sRGB IEC61966-2.1"


@dataclass(frozen=True)
class Archival:
    """What the PDF/A layer writes besides the pages."""

    title: str
    author: str  # the gateway: Info /Author, dc:creator
    created: datetime  # aware
    language: str  # BCP 47, the primary language
    document_id: bytes  # 16 bytes: the trailer ID's permanent half
    attachment: bytes
    attachment_name: str
    attachment_type: str  # MIME type
    attachment_description: str


@functools.cache
def srgb_profile() -> bytes:
    """An ICC sRGB profile (littlecms's, through Pillow: a monitor profile, version 4)."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def to_pdfa(pdf: bytes, archival: Archival) -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        root = document.Root
        document.trailer.Info = document.make_indirect(
            Dictionary(
                Title=String(archival.title),
                Author=String(archival.author),
                Creator=String(CREATOR),
                CreationDate=String(_pdf_date(archival.created)),
            )
        )
        metadata = pikepdf.Stream(document, _xmp(archival))  # never compressed: XMP readers
        metadata.Type = Name.Metadata
        metadata.Subtype = Name.XML
        root.Metadata = document.make_indirect(metadata)

        icc = _compressed(document, _srgb_compressed())
        icc.N = 3
        root.OutputIntents = Array(
            [
                Dictionary(
                    Type=Name.OutputIntent,
                    S=Name.GTS_PDFA1,
                    OutputConditionIdentifier=String(_SRGB),
                    Info=String(_SRGB),
                    DestOutputProfile=document.make_indirect(icc),
                )
            ]
        )

        attachment = _attach(document, archival)
        root.AF = Array([attachment])
        root.Names = Dictionary(
            EmbeddedFiles=Dictionary(Names=Array([String(archival.attachment_name), attachment]))
        )
        root.Lang = String(archival.language)
        document.trailer.ID = Array([String(archival.document_id), String(archival.document_id)])
        out = io.BytesIO()
        document.save(
            out,
            min_version=PDF_VERSION,
            fix_metadata_version=False,  # the XMP is written whole above, and stays as written
            # reportlab's streams are compressed and the ones added here are written so (the
            # XMP excepted): qpdf's own pass over every stream would double the time here.
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
            deterministic_id=True,  # the same facts make the same bytes
        )
    return out.getvalue()


@functools.cache
def _srgb_compressed() -> bytes:
    return zlib.compress(srgb_profile())


def _compressed(document: pikepdf.Pdf, deflated: bytes) -> pikepdf.Stream:
    stream = pikepdf.Stream(document, deflated)
    stream.Filter = Name.FlateDecode
    return stream


def _attach(document: pikepdf.Pdf, archival: Archival) -> pikepdf.Object:
    data = archival.attachment
    moment = String(_pdf_date(archival.created))
    embedded = _compressed(document, zlib.compress(data))
    embedded.Type = Name.EmbeddedFile
    embedded.Subtype = Name("/" + archival.attachment_type)
    embedded.Params = Dictionary(
        Size=len(data),
        CreationDate=moment,
        ModDate=moment,
        CheckSum=String(hashlib.md5(data, usedforsecurity=False).digest()),
    )
    reference = document.make_indirect(embedded)
    return document.make_indirect(
        Dictionary(
            Type=Name.Filespec,
            F=String(archival.attachment_name),
            UF=String(archival.attachment_name),
            Desc=String(archival.attachment_description),
            EF=Dictionary(F=reference, UF=reference),
            AFRelationship=Name.Source,
        )
    )


def _pdf_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%SZ")


def _xmp_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _xmp(archival: Archival) -> bytes:
    created = _xmp_date(archival.created)
    text = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
   <pdfaid:part>3</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:format>application/pdf</dc:format>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(archival.title)}</rdf:li></rdf:Alt></dc:title>
   <dc:creator><rdf:Seq><rdf:li>{escape(archival.author)}</rdf:li></rdf:Seq></dc:creator>
   <dc:language><rdf:Bag><rdf:li>{escape(archival.language)}</rdf:li></rdf:Bag></dc:language>
   <xmp:CreateDate>{created}</xmp:CreateDate>
   <xmp:ModifyDate>{created}</xmp:ModifyDate>
   <xmp:CreatorTool>{escape(CREATOR)}</xmp:CreatorTool>
   <pdf:Producer>{escape(PRODUCER)}</pdf:Producer>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
    return text.encode("utf-8")
