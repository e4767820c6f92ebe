"""Loading the postcode index, moved to `services.common.postcode_data` (intake uses it too)."""

from services.common.postcode_data import (
    CACHE_ENV,
    PACKAGE,
    default_cache_dir,
    index_from_csv,
    load_postcode_index,
)

__all__ = ["CACHE_ENV", "PACKAGE", "default_cache_dir", "index_from_csv", "load_postcode_index"]
