"""Map tshark field names to a small, protocol-independent type vocabulary.

The detector's tag set grows by four tags per type and its decoder costs O(tags²) per byte, and
types shared across protocols let a model trained on some protocols name the fields of another.
So the hundreds of dissector names (``dns.qry.name``, ``modbus.func_code``, ``smb.bcc``) are folded
into :data:`FIELD_TYPES` by the first matching rule below; a name no rule matches becomes
``value``. The rules look at the whole name, most specific first.
"""

from __future__ import annotations

import re
from functools import cache

#: Names that describe the same bytes as a more useful sibling and must not name a field
#: (Modbus prints the register number over the register's value bytes).
IGNORED_NAMES = frozenset(
    {"modbus.regnum16", "modbus.regnum32", "dns.qry.name.len", "dns.count.labels"}
)

_RULES: tuple[tuple[str, str], ...] = (
    ("checksum", r"crc|checksum|cksum|\.signature$|^ntp\.mac$"),
    ("padding", r"padding|reserved|\.pad$|_pad$"),
    ("magic", r"cookie|server_component|^dnp3\.start$|prot_id"),
    ("length", r"len$|length|data_len|\.size$|_size$|\.bcc$|\.wct$|pwlen"),
    ("offset", r"offset|remaining"),
    ("time", r"time|\.xmt$|\.org$|\.rec$|secs|timezone|ppoll|precision|rootdelay|rootdisp"),
    (
        "address",
        r"addr|\.ip\.|reference_num|^dnp3\.(dst|src)$|server_id|router|name_server|subnet_mask"
        r"|broadcast|ntp_server|requested_ip|refid|range\.st|\.bitnum$",
    ),
    ("count", r"(^|[._])count|cnt|quantity|max_|hops|dialect\.index"),
    (
        "name",
        r"name|\.file$|path|domain|service|native_|account|\.server$|string|dialect\.name",
    ),
    (
        "id",
        r"(^|[._])(trans_id|id|xid|tid|pid|uid|mid|fid|keyid|unit_id|vc)$|pid\.high|client_id"
        r"|uuid|session_key|\.stratum$",
    ),
    (
        "flags",
        r"flags|ctl$|control|\.iin$|status|support|_cap$|access_mask|attribute|error|state"
        r"|oplock|is_directory|\.sm$|rcode|mode$",
    ),
    (
        "type_code",
        r"func|cmd|opcode|\.type$|option\.type|option\.dhcp$|_code$|\.mei$|buffer_format"
        r"|objq\.prefix|\.al\.obj$|\.class$|request_list_item|read_device_id|object_id",
    ),
)
_COMPILED = tuple((t, re.compile(p, re.IGNORECASE)) for t, p in _RULES)
GENERIC_TYPE = "value"
#: Every type :func:`field_type` can return (besides ``unknown`` for undissected bytes).
FIELD_TYPES: tuple[str, ...] = (*dict.fromkeys(t for t, _ in _RULES), GENERIC_TYPE)


@cache
def field_type(name: str) -> str | None:
    """The type label for a tshark field name, or ``None`` if the name must not name a field."""
    if not name or name in IGNORED_NAMES:
        return None
    for label, pattern in _COMPILED:
        if pattern.search(name):
            return label
    return GENERIC_TYPE


# scapy names its fields per layer ("qdcount", "transId", "chksum"); the corpus generator
# (engine/datasets/scapy_corpus.py) passes the field name alone, put in snake case here: scapy's
# layer class names would match rules by accident ("ICMPv6NDOptSrcLLAddr" holds "addr"). These
# rules run first and only for scapy names, so tshark names keep the mapping above; whatever they do
# not match falls through to the tshark rules as ``scapy.<name>``.
_SCAPY_RULES: tuple[tuple[str, str], ...] = (
    ("checksum", r"chksum|cksum|crc|checksum|signature$|(^|[._])(mac1|mac2|icv|auth_data)$"),
    ("padding", r"(^|[._])(pad\w*|padding|res|rsvd|reserved\w*|spare|unused|mbz|z|res\d+)$"),
    ("magic", r"proto_?id$|magic|^start$"),
    ("length", r"(len|length|size)$"),
    ("type_code", r"(^|[._])(command_id|option_type|message_type)$"),
    ("count", r"(count|cnt|_num|entries)$|(^|[._])(num|nb)_"),
    (
        "time",
        r"time|interval|timeout|lifetime|uptime|secs|delay|dispersion"
        r"|(^|[._])(ref|orig|recv|sent|poll|precision)$",
    ),
    (
        "address",
        r"addr|(^|[._])(hw|p)?(src|dst)$|(^|[._])(ip|mask|gateway|router|gaddr|tgt|lladdr|prefix\w*"
        r"|bgp_id|area|backup|neighbors|virtual_ip|nexthop|next_hop|prefix_or_nh|server_id"
        r"|subnet_mask|name_server)$",
    ),
    (
        "id",
        r"(^|[._])(\w+_)?(id|ident|xid|trid|seq|sequence_id|session|teid|discriminator|index"
        r"|vni|vrid|group|asn|my_as|iaid)$",
    ),
    (
        "type_code",
        r"(^|[._])(type|code|op|opcode|cmd|command|msg|msg_type|message_type|service_id"
        r"|service_type|func_code|payload_type|pdu_type|exch_type|next_payload|subtype|datatype"
        r"|qtype|qclass|rclass|atyp|vn|frame_id|service_identifier|option|sub_option)$",
    ),
    ("flags", r"flags|(^|[._])(opts?|options|status|sta|diag|capabilities)$"),
    ("name", r"name|host|(^|[._])(userid|iface|vendor_string|hicp_command)$"),
)
_SCAPY_COMPILED = tuple((t, re.compile(p, re.IGNORECASE)) for t, p in _SCAPY_RULES)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


#: Types a scapy layer's class name may give a field whose own name says nothing
#: (``RadiusAttr_User_Name.value`` is a name, ``LLDPDUTimeToLive.ttl`` a time).
_LAYER_HINTS = ("time", "name")


@cache
def scapy_field_type(name: str, layer: str = "") -> str:
    """The type label for a scapy field name (``qdcount``, ``transId`` → ``trans_id``).

    The name is put in snake case, then scapy-specific rules apply first, then
    :func:`field_type`'s; never ``None`` (scapy has no duplicate items to ignore). If that gives
    only the generic ``value`` and the field's ``layer`` class name matches a time or name rule,
    that type is used (not address: ``DoIP`` ends in "ip").
    """
    label = _scapy_rules(_CAMEL.sub("_", name).lower())
    if label == GENERIC_TYPE and layer:
        hint = _scapy_rules(_CAMEL.sub("_", layer).lower())
        if hint in _LAYER_HINTS:
            return hint
    return label


def _scapy_rules(name: str) -> str:
    for label, pattern in _SCAPY_COMPILED:
        if pattern.search(name):
            return label
    return field_type(f"scapy.{name}") or GENERIC_TYPE
