"""Read and write fundus photographs: `read(path) -> FundusImage`, `write(path, pixels, ...)`.

Kept minimal (no field-of-view import here) so importing core.imaging stays cheap and cycle-free.
"""

from core.imaging.reader import read
from core.imaging.types import FundusImage
from core.imaging.writer import WrittenFile, write

__all__ = ["FundusImage", "WrittenFile", "read", "write"]
