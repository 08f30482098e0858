"""NDJSON input (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#file-format: one resource per line) cut into
chunks of whole lines, stored in ``bulk_input`` as it arrives (an upload or a fetched URL).

A chunk is the unit of $import work: one worker writes it in one transaction, which also marks it
done, so an interrupted import resumes at the first chunk not done.
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import PayloadTooLarge
from fhir_server.storage.crypto import seal_blob

CHUNK_LINES = 500
CHUNK_BYTES = 1 << 20


def split_lines(buf: bytearray, final: bool) -> tuple[list[bytes], bytearray]:
    """Cut whole-line chunks (at most CHUNK_LINES lines or about CHUNK_BYTES) off the front of ``buf``."""
    chunks: list[bytes] = []
    start = 0
    while True:
        pos, lines = start, 0
        while lines < CHUNK_LINES and pos - start < CHUNK_BYTES:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            pos, lines = nl + 1, lines + 1
        if lines == CHUNK_LINES or (lines and pos - start >= CHUNK_BYTES):
            chunks.append(bytes(buf[start:pos]))
            start = pos
            continue
        if final and start < len(buf):
            chunks.append(bytes(buf[start:]))
            start = len(buf)
        break
    return chunks, bytearray(buf[start:])


class ChunkWriter:
    """Stores one input as ``bulk_input`` chunks, numbering lines and chunks as they come."""

    def __init__(self, conn: Any, job_id: str, input_no: int, seq: int, max_line: int) -> None:
        self.conn, self.job_id, self.input_no, self.seq = conn, job_id, input_no, seq
        self.max_line = max_line
        self.line = 1
        self.buf = bytearray()
        self.size = 0

    async def feed(self, piece: bytes, final: bool = False) -> None:
        self.size += len(piece)
        self.buf += piece
        chunks, self.buf = split_lines(self.buf, final)
        if len(self.buf) > self.max_line:
            raise PayloadTooLarge(f"A line of input {self.input_no + 1} is longer than {self.max_line:,} bytes")
        for chunk in chunks:
            lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            await self.conn.execute(
                "INSERT INTO bulk_input (job_id, seq, input_no, first_line, lines, data) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (self.job_id, self.seq, self.input_no, self.line, lines,
                 seal_blob(chunk, f"bulk_input/{self.job_id}/{self.seq}")))
            self.seq += 1
            self.line += lines
