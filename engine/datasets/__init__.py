"""Labelled example data the engine can generate on its own (demos, tests, smoke checks)."""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = [
    "checksums",
    "dnp3_check",
    "dnp3_frames",
    "dnp3_map",
    "field_types",
    "modbus_balanced",
    "pcap_import",
    "pcap_label",
    "pcap_reader",
    "pdml",
    "procedural",
    "procedural_fields",
    "procedural_writer",
    "registers",
    "scapy_app",
    "scapy_check",
    "scapy_corpus",
    "scapy_net",
    "scapy_values",
    "scapy_walk",
    "split",
    "synthetic",
    "tiling",
]
