"""Labelled example data the engine can generate on its own (demos, tests, smoke checks)."""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = [
    "dnp3_map",
    "field_types",
    "pcap_import",
    "pcap_label",
    "pcap_reader",
    "pdml",
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
