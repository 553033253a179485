"""Map DNP3 application-layer offsets back to the frame.

tshark decodes the DNP3 application layer from a buffer it rebuilds from the link frame's data
chunks: the 16-byte blocks without their CRCs and without the transport header byte. Offsets of
the application-layer items refer to that buffer. Within one link frame the mapping is exact:
buffer byte ``k`` is data-chunk byte ``k + 1``. A field that spans a chunk CRC becomes one span
over both parts; the CRC inside it stays a field of its own (it is a frame item nested within).
Fragments assembled from several frames cannot be mapped and are skipped.

The data chunks themselves (``dnp.data_chunk`` and tshark's unnamed "Data Chunk: N" and "Data
Chunks" groups) are framing of that buffer, not fields, and are not emitted: an application
field that spans a chunk CRC *crosses* its chunk, and the tiling policy merges crossing items
into one field, so one crossing field used to swallow the whole application layer of every
frame longer than one chunk (labelled as one ``flags`` span from the transport byte on).
"""

from __future__ import annotations

from engine.datasets.pdml import Item

#: (start, end, name, value-to-check) in frame coordinates; ``value`` is ``None`` once checked.
FrameItem = tuple[int, int, str, str | None]


def _is_app_layer(item: Item) -> bool:
    return not item.name and item.show.startswith("Application Layer")


def _is_chunk_group(item: Item) -> bool:
    if item.name == "dnp.data_chunk":
        return True
    return not item.name and item.show.startswith(("Data Chunk", "Data Chunks"))


def _usable(item: Item) -> bool:
    return item.size > 0 and not item.hidden and not item.name.startswith("_ws.")


def map_dnp3(layers: list[Item], frame: bytes) -> list[FrameItem] | str:
    """Frame-coordinate items of a DNP3 message, or a skip reason."""
    out: list[FrameItem] = []
    chunk_pos: list[int] = []
    app: list[Item] = []

    def visit(item: Item) -> None:
        if item.name == "dnp3.al.fragments":
            return  # reassembly bookkeeping, in the reassembled buffer's coordinates
        if _is_app_layer(item):
            app.extend(c for child in item.children for c in child.walk_nested())
            return
        if item.name == "dnp.data_chunk":
            chunk_pos.extend(range(item.pos, item.pos + item.size))
        if _usable(item) and not _is_chunk_group(item):
            name = "" if item.is_proto else item.name
            out.append((item.pos, item.pos + item.size, name, item.value))
        for child in item.children:
            if item.contains(child):
                visit(child)

    for layer in layers:
        visit(layer)
    counts = [i for layer in layers for i in layer.walk() if i.name == "dnp3.al.fragment.count"]
    if any(c.show != "1" for c in counts):
        return "reassembled"
    for item in app:
        if not _usable(item):
            continue
        idx = range(item.pos + 1, item.pos + item.size + 1)
        if idx.stop > len(chunk_pos):
            return "reassembled"
        positions = [chunk_pos[k] for k in idx]
        if item.value is not None and bytes(frame[p] for p in positions).hex() != item.value:
            return "offset_mismatch"
        out.append((positions[0], positions[-1] + 1, item.name, None))
    return out
