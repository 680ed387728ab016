"""The value lists the validator checks against: Apple's categories, media types, mediums."""

from __future__ import annotations

import re

# https://podcasters.apple.com/support/1691-apple-podcasts-categories
APPLE_CATEGORIES: dict[str, set[str]] = {
    "Arts": {"Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"},
    "Business": {
        "Careers",
        "Entrepreneurship",
        "Investing",
        "Management",
        "Marketing",
        "Non-Profit",
    },
    "Comedy": {"Comedy Interviews", "Improv", "Stand-Up"},
    "Education": {"Courses", "How To", "Language Learning", "Self-Improvement"},
    "Fiction": {"Comedy Fiction", "Drama", "Science Fiction"},
    "Government": set(),
    "History": set(),
    "Health & Fitness": {
        "Alternative Health",
        "Fitness",
        "Medicine",
        "Mental Health",
        "Nutrition",
        "Sexuality",
    },
    "Kids & Family": {"Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"},
    "Leisure": {
        "Animation & Manga",
        "Automotive",
        "Aviation",
        "Crafts",
        "Games",
        "Hobbies",
        "Home & Garden",
        "Video Games",
    },
    "Music": {"Music Commentary", "Music History", "Music Interviews"},
    "News": {
        "Business News",
        "Daily News",
        "Entertainment News",
        "News Commentary",
        "Politics",
        "Sports News",
        "Tech News",
    },
    "Religion & Spirituality": {
        "Buddhism",
        "Christianity",
        "Hinduism",
        "Islam",
        "Judaism",
        "Religion",
        "Spirituality",
    },
    "Science": {
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    },
    "Society & Culture": {
        "Documentary",
        "Personal Journals",
        "Philosophy",
        "Places & Travel",
        "Relationships",
    },
    "Sports": {
        "Baseball",
        "Basketball",
        "Cricket",
        "Fantasy Sports",
        "Football",
        "Golf",
        "Hockey",
        "Rugby",
        "Running",
        "Soccer",
        "Swimming",
        "Tennis",
        "Volleyball",
        "Wilderness",
        "Wrestling",
    },
    "Technology": set(),
    "True Crime": set(),
    "TV & Film": {"After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"},
}
ENCLOSURE_TYPES = {
    "audio/mpeg",
    "audio/x-m4a",
    "audio/mp4",
    "audio/aac",
    "video/mp4",
    "video/x-m4v",
    "video/quicktime",
    "application/pdf",
}
TRANSCRIPT_TYPES = {
    "text/vtt",
    "application/x-subrip",
    "application/json",
    "text/html",
    "text/plain",
}
TIMED_TRANSCRIPT_TYPES = {
    "text/vtt",
    "application/x-subrip",
    "application/json",
    "application/srt",
    "text/srt",
}
MEDIUMS = {
    "podcast",
    "music",
    "video",
    "film",
    "audiobook",
    "newsletter",
    "blog",
    "publisher",
    "course",
    "mixed",
}
MEDIUMS |= {f"{m}L" for m in MEDIUMS - {"publisher", "mixed"}}
EPISODE_TYPES = {"full", "trailer", "bonus"}
DURATION_PATTERN = re.compile(r"^(?:(\d+):)?([0-5]?\d):([0-5]\d)$")
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")

# Enclosure types feeds write that mean an Apple-accepted type (the fix names the right one).
ENCLOSURE_ALIASES = {
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-mpeg-3": "audio/mpeg",
    "audio/m4a": "audio/x-m4a",
    "video/m4v": "video/x-m4v",
}
# File name extensions and the enclosure types they go with.
EXTENSION_TYPES = {
    ".mp3": {"audio/mpeg"},
    ".m4a": {"audio/x-m4a", "audio/mp4", "audio/aac"},
    ".aac": {"audio/aac", "audio/x-m4a", "audio/mp4"},
    ".mp4": {"audio/mp4", "video/mp4", "audio/x-m4a"},
    ".m4v": {"video/x-m4v", "video/mp4"},
    ".mov": {"video/quicktime"},
    ".pdf": {"application/pdf"},
}
# Apple's limit for titles, in characters.
MAX_TITLE_CHARACTERS = 255

# The Podcast Taxonomy of podcast:person groups and roles (lower case, as the spec compares them):
# https://github.com/Podcastindex-org/podcast-namespace/blob/main/taxonomy.json
PERSON_ROLES: dict[str, set[str]] = {
    "creative direction": {
        "director",
        "assistant director",
        "executive producer",
        "senior producer",
        "producer",
        "associate producer",
        "development producer",
        "creative director",
    },
    "cast": {
        "host",
        "co-host",
        "guest host",
        "guest",
        "voice actor",
        "narrator",
        "announcer",
        "reporter",
    },
    "writing": {
        "author",
        "editorial director",
        "co-writer",
        "writer",
        "songwriter",
        "guest writer",
        "story editor",
        "managing editor",
        "script editor",
        "script coordinator",
        "researcher",
        "editor",
        "fact checker",
        "translator",
        "translater",
        "transcriber",
        "logger",
    },
    "audio production": {
        "studio coordinator",
        "technical director",
        "technical manager",
        "audio engineer",
        "remote recording engineer",
        "post production engineer",
    },
    "audio post-production": {
        "audio editor",
        "sound designer",
        "foley artist",
        "composer",
        "theme music",
        "music production",
        "music contributor",
    },
    "administration": {
        "production coordinator",
        "booking coordinator",
        "production assistant",
        "content manager",
        "marketing manager",
        "sales representative",
        "sales manager",
    },
    "visuals": {"graphic designer", "cover art designer"},
    "community": {"social media manager"},
    "misc.": {"consultant", "intern"},
    "video production": {
        "camera operator",
        "lighting designer",
        "camera grip",
        "assistant camera",
    },
    "video post-production": {"editor", "assistant editor"},
}
TRANSCRIPT_MIME = re.compile(r"^(text|application)/[A-Za-z0-9][A-Za-z0-9.+-]*$")
