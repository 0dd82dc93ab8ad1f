"""IPTC/XMP metadata that digital-asset-management tools read: title, description, creator, credit, source type.

One XMP packet (the ``XML:com.adobe.xmp`` iTXt chunk of a PNG, the XMP chunk of a WebP,
the APP1 segment of a JPEG) with Dublin Core title/description/creator, the IPTC Core
credit line (``photoshop:Credit``) and the IPTC Extension ``DigitalSourceType``, the
field the EU AI Act's machine-readable marking and image search engines look at.
"""
from __future__ import annotations

from xml.sax.saxutils import escape

from engine.credentials.manifest import DIGITAL_SOURCE_TYPE

__all__ = ["XMP_PNG_KEYWORD", "xmp_packet", "xmp_for_provenance"]

XMP_PNG_KEYWORD = "XML:com.adobe.xmp"


def _alt(text: str) -> str:
    return f'<rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt>'


def xmp_packet(*, title: str, description: str, creator: str, credit_line: str, creator_tool: str,
               digital_source_type: str = DIGITAL_SOURCE_TYPE) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">\n'
        f'   <dc:title>{_alt(title)}</dc:title>\n'
        f'   <dc:description>{_alt(description)}</dc:description>\n'
        f'   <dc:creator><rdf:Seq><rdf:li>{escape(creator)}</rdf:li></rdf:Seq></dc:creator>\n'
        f'   <photoshop:Credit>{escape(credit_line)}</photoshop:Credit>\n'
        f'   <xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool>\n'
        f'   <Iptc4xmpExt:DigitalSourceType>{escape(digital_source_type)}</Iptc4xmpExt:DigitalSourceType>\n'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    )


def xmp_for_provenance(provenance: dict, *, organisation: str) -> str:
    """The packet for a saved asset: its title, its winning prompt as description, the studio as creator."""
    model = provenance.get("image_model") or "an image model"
    return xmp_packet(
        title=str(provenance.get("title") or provenance.get("asset_id") or "asset"),
        description=str(provenance.get("prompt") or ""),
        creator=organisation,
        credit_line=f"{organisation} (AI-generated with {model})",
        creator_tool="assetgen",
    )
