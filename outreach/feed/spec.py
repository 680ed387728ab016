"""Values every feed module shares: namespace URIs, media types, the show GUID rule, meta keys.

Reading (`feed.importer`), writing (`feed.build`, `feed.render`) and checking (`feed.validate`)
all depend on this module and never on one another for these values.
"""

from __future__ import annotations

import re
import uuid

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
NAMESPACES = {"itunes": ITUNES_NS, "podcast": PODCAST_NS, "atom": ATOM_NS, "content": CONTENT_NS}
# The original GitHub URI: the spec says clients must treat it as identical to PODCAST_NS, and
# some apps (gPodder's podcastparser) still read only that one.
OLD_PODCAST_NS = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
PODCAST_NAMESPACES = {PODCAST_NS, OLD_PODCAST_NS}
# Apple's limit for descriptions, in bytes.
MAX_DESCRIPTION_BYTES = 4000

AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/x-m4a",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
}
# Enclosure types by file name ending, for enclosures that do not say (audio unless clearly video).
MEDIA_TYPES = {
    **AUDIO_TYPES,
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".pdf": "application/pdf",
}
# And the ending a downloaded file of each type gets.
SUFFIXES = {
    "audio/mpeg": ".mp3",
    "audio/x-m4a": ".m4a",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "video/mp4": ".mp4",
    "video/x-m4v": ".m4v",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
}
# Links an imported episode keeps pointing at (its old transcripts and chapters), as JSON.
IMPORTED_LINKS_KEY = "episode-links:{id}"
# The show's podcast:guid, computed once and then kept for ever.
PODCAST_GUID_KEY = "podcast_guid"

PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")


def podcast_guid_for(feed_url: str) -> str:
    """The Podcasting 2.0 GUID: UUIDv5 over the feed URL without scheme and trailing slashes."""
    bare = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", feed_url.strip()).rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


# Written into the PNG `outreach init` makes, so the validator can tell a placeholder cover.
DEFAULT_COVER_MARKER = "outreach-default-cover"
