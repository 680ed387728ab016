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
# The original GitHub URI: some apps (gPodder's podcastparser) still read only that one.
OLD_PODCAST_NS = {
    "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",
    "https://github.com/podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",
}
# Namespace URIs seen in the wild that apps do not recognise.
WRONG_PODCAST_NS = {
    "http://podcastindex.org/namespace/1.0",
    "https://podcastindex.org/namespace/1.0/",
}
# Apple's limit for descriptions, in bytes.
MAX_DESCRIPTION_BYTES = 4000

AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/x-m4a",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
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
