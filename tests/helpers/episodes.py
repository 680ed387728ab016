"""Episodes for tests, made directly through the ORM (the `episode add` command is built elsewhere).

Audio files are copied into `episodes/<slug>/source/` with one Track row each, as `episode add`
does; `make_audio` builds test audio from the committed fixtures with ffmpeg.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from outreach.audio.decode import ffmpeg_exe
from outreach.db import session_scope
from outreach.models import Episode, Track
from outreach.workspace import Workspace


def make_episode(
    workspace: Workspace,
    slug: str,
    tracks: Sequence[tuple[Path, str | None]],
    *,
    title: str | None = None,
    language: str = "sv",
) -> int:
    """An episode with one Track per (audio file, speaker); returns its id."""
    source = workspace.episodes_dir / slug / "source"
    source.mkdir(parents=True, exist_ok=True)
    with session_scope(workspace) as session:
        episode = Episode(
            guid=f"urn:uuid:{uuid.uuid4()}",
            slug=slug,
            title=title or slug.replace("-", " ").capitalize(),
            language=language,
        )
        session.add(episode)
        session.flush()
        for position, (audio, speaker) in enumerate(tracks, 1):
            target = source / f"{position:02d}-{audio.name}"
            shutil.copyfile(audio, target)
            session.add(
                Track(
                    episode_id=episode.id,
                    position=position,
                    path=target.relative_to(workspace.root).as_posix(),
                    speaker=speaker,
                )
            )
        return episode.id


def make_audio(
    source: Path, target: Path, *, lead: float = 0.0, tail: float = 0.0, loops: int = 1
) -> Path:
    """`source` looped `loops` times, with `lead` seconds of silence before and `tail` after."""
    filters = []
    if lead:
        filters.append(f"adelay={int(lead * 1000)}:all=1")
    if tail:
        filters.append(f"apad=pad_dur={tail}")
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if loops > 1:
        command += ["-stream_loop", str(loops - 1)]
    command += ["-i", str(source)]
    if filters:
        command += ["-af", ",".join(filters)]
    command += ["-ar", "16000", "-ac", "1", str(target)]
    subprocess.run(command, check=True)
    return target
