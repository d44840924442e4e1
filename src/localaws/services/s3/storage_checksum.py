"""moto's S3 multipart checksum builder, fed chunk by chunk instead of whole objects.

`services.s3.storage` completes multipart uploads by streaming part blobs into a new blob;
this builds the same checksum moto's `MultipartChecksumBuilder` would, one chunk at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any


class StreamingChecksum:
    """moto's MultipartChecksumBuilder, fed chunk by chunk instead of with whole objects."""

    def __init__(self, algorithm: str | None, checksum_type: str | None):
        self.algorithm = algorithm or "CRC64NVME"
        self.type = checksum_type or (
            "FULL_OBJECT" if self.algorithm == "CRC64NVME" else "COMPOSITE"
        )
        self.parts = bytearray()
        self.count = 0
        self._crc = 0
        self._hash = None
        if self.algorithm in ("SHA1", "SHA256") or self.algorithm not in (
            "CRC32",
            "CRC32C",
            "CRC64NVME",
        ):
            self._hash = hashlib.sha1() if self.algorithm == "SHA1" else hashlib.sha256()

    def start_part(self, part: Any) -> None:
        from moto.s3.utils import compute_checksum

        self.count += 1
        if self.type == "COMPOSITE":  # per-part checksums: one part in memory at a time
            self.parts.extend(compute_checksum(part.value, self.algorithm, encode_base64=False))

    def update(self, chunk: bytes) -> None:
        if self.type == "COMPOSITE":
            return
        if self._hash is not None:
            self._hash.update(chunk)
        else:
            self._crc = _crc_update(self.algorithm, chunk, self._crc)

    def build(self) -> tuple[str, str, int]:
        from moto.s3.utils import compute_checksum

        if self.type == "COMPOSITE":
            value = compute_checksum(bytes(self.parts), self.algorithm).decode()
        elif self._hash is not None:
            value = base64.b64encode(self._hash.digest()).decode()
        else:
            width = 8 if self.algorithm == "CRC64NVME" and _crt_checksums() else 4
            value = base64.b64encode(self._crc.to_bytes(width, "big")).decode()
        return self.type, value, self.count if self.type == "COMPOSITE" else 1


def _crt_checksums():
    try:
        from awscrt import checksums
    except ImportError:
        return None
    return checksums


def _crc_update(algorithm: str, chunk: bytes, crc: int) -> int:
    # The same fallbacks as moto's compute_checksum when optional libraries are missing.
    if algorithm == "CRC32C":
        try:
            import crc32c

            return crc32c.crc32c(chunk, crc)
        except ImportError:
            pass
    if algorithm == "CRC64NVME" and (checksums := _crt_checksums()) is not None:
        return checksums.crc64nvme(chunk, crc)
    return binascii.crc32(chunk, crc)
