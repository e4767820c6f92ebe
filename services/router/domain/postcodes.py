"""The postcode directory, moved to `services.common.postcodes` (intake uses it too)."""

from services.common.postcodes import PostcodeDirectory, PostcodeIndex, postcode_key

__all__ = ["PostcodeDirectory", "PostcodeIndex", "postcode_key"]
