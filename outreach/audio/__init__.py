"""Audio for the podcast: decode, measure (BS.1770), limit, encode MP3 and tag.

    decode.py     ffmpeg to float32 PCM on a pipe; `probe` (decode in full), `probe_header`
    programme.py  the first pass: the programme on disk and its per-millisecond control records
    loudness.py   the BS.1770-4 meter (integrated, range, true peak)
    limiter.py    the look-ahead true-peak limiter and the plan that solves for the gain
    encode.py     libmp3lame through ffmpeg, the check of the MP3 as it is written, ID3 tags
    normalize.py  `normalize_loudness`: the orchestration of the above, with retries

Why ffmpeg is driven directly rather than through pydub (dropped as a dependency): pydub loads a
whole file into memory as integer samples (an hour of stereo at 44.1 kHz is 635 MB as 32-bit
float, more in pydub's copies), so an episode could not be streamed; its gain stages work on
integers and clip instead of keeping headroom for the limiter; it calls the same ffmpeg binary
anyway, through temporary files, without the `-xerror -err_detect explode` decode that
`probe` needs to refuse a file damaged in the middle; and it cannot mix tracks with `amix
normalize=0` or tee the encoder's output into a second decoder. It also relies on `audioop`,
which Python 3.13 removed.
"""
