"""Read a workflow's output back and say whether it is the media the workflow asked for.

A run can end with history status "success" and still have produced nothing useful: NaN latents decode to
an all-black (or all one value) video, a wrong length or an interpolation that did not run give another
frame count. So the facts are read back from the file itself with PyAV (FFmpeg's demuxers and decoders):
container, codec, every frame decoded and counted, width x height, frame rate, and whether the pixels vary
at all. `expected_media` says what the rendered prompt asked for; `verify` compares the two.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

# VideoHelperSuite formats (video_formats/*.json: extension and encoder) -> what PyAV reads back.
VIDEO_FORMATS = {
    "video/h264-mp4": ("mp4", "h264"),
    "video/nvenc_h264-mp4": ("mp4", "h264"),
    "video/h265-mp4": ("mp4", "hevc"),
    "video/nvenc_hevc-mp4": ("mp4", "hevc"),
    "video/webm": ("webm", "vp9"),
    "video/av1-webm": ("webm", "av1"),
}
# Interpolation nodes (ComfyUI-Frame-Interpolation): n frames in, (n - 1) * multiplier + 1 out
# (vfi_utils.generic_frame_loop keeps every source frame and adds multiplier - 1 between each pair).
INTERPOLATORS = {"RIFE VFI", "FILM VFI"}
# Nodes whose width/height/length set the frames a video starts from. Wan's VAE decodes a latent of
# ((length - 1) // 4) + 1 frames back to 4 * (T - 1) + 1 (comfy_extras/nodes_wan.py WanImageToVideo).
SIZE_NODES = {"WanImageToVideo", "EmptyLatentImage", "EmptySD3LatentImage", "EmptyHunyuanLatentVideo"}
# A frame whose luma spans fewer levels than this is "constant"; an output whose every frame is, and whose
# frames are all alike, is what NaN upstream gives (black) or a dead sampler (one flat colour).
ALIVE_MIN_RANGE = 8


@dataclass(frozen=True)
class ExpectedMedia:
    """What the prompt asks one output node to write."""

    node_id: str
    kind: str  # video | image
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    fps: float | None = None
    container: str | None = None  # one of the names PyAV gives the demuxer: mp4, webm, png_pipe
    codec: str | None = None  # h264, hevc, vp9, png


@dataclass
class MediaFacts:
    """What the file holds, read back with PyAV."""

    kind: str
    container: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 0
    fps: float | None = None
    decodable: bool = False
    luma_min: int | None = None
    luma_max: int | None = None
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.luma_min is not None and (self.luma_max or 0) - self.luma_min >= ALIVE_MIN_RANGE

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "alive": self.alive, "ok": self.ok}


def _link_source(value: Any) -> str | None:
    return str(value[0]) if isinstance(value, list) and len(value) == 2 else None


def _upstream(prompt: dict[str, Any], node_id: str) -> list[str]:
    """Every node `node_id` depends on, nearest first (breadth first)."""
    seen: list[str] = []
    queue = [node_id]
    while queue:
        current = queue.pop(0)
        node = prompt.get(current)
        if not isinstance(node, dict):
            continue
        for value in (node.get("inputs") or {}).values():
            source = _link_source(value)
            if source is not None and source not in seen:
                seen.append(source)
                queue.append(source)
    return seen


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def expected_media(prompt: dict[str, Any]) -> dict[str, ExpectedMedia]:
    """node id -> what each SaveImage / VHS_VideoCombine node of `prompt` should write."""
    out: dict[str, ExpectedMedia] = {}
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        kind = {"VHS_VideoCombine": "video", "SaveImage": "image"}.get(str(node.get("class_type")))
        if kind is None:
            continue
        inputs = node.get("inputs") or {}
        upstream = [
            (n, prompt[n]) for n in _upstream(prompt, str(node_id)) if isinstance(prompt.get(n), dict)
        ]
        size = next((node for _, node in upstream if node.get("class_type") in SIZE_NODES), None)
        size_inputs = (size or {}).get("inputs") or {}
        width, height = _number(size_inputs.get("width")), _number(size_inputs.get("height"))
        expected = ExpectedMedia(
            str(node_id),
            kind,
            width=int(width) if width else None,
            height=int(height) if height else None,
        )
        if kind == "image":
            out[str(node_id)] = ExpectedMedia(**{**asdict(expected), "container": "png_pipe", "codec": "png"})
            continue
        length = _number(size_inputs.get("length"))
        frames = None
        if length is not None and size is not None and size.get("class_type") == "WanImageToVideo":
            frames = 4 * ((int(length) - 1) // 4) + 1
        elif length is not None:
            frames = int(length)
        for _, other in upstream:
            multiplier = _number((other.get("inputs") or {}).get("multiplier"))
            if other.get("class_type") in INTERPOLATORS and frames is not None and multiplier:
                frames = (frames - 1) * int(multiplier) + 1
        container, codec = VIDEO_FORMATS.get(str(inputs.get("format")), (None, None))
        out[str(node_id)] = ExpectedMedia(
            str(node_id),
            "video",
            width=expected.width,
            height=expected.height,
            frames=frames,
            fps=_number(inputs.get("frame_rate")),
            container=container,
            codec=codec,
        )
    return out


def read_media(path: Path, kind: str) -> MediaFacts:
    """Decode every frame of `path` with PyAV and record what it holds; a file it cannot open or a frame it
    cannot decode is a problem, never an exception."""
    import av  # deferred: only the smoke reads media

    facts = MediaFacts(kind, bytes=path.stat().st_size if path.is_file() else 0)
    try:
        with av.open(str(path)) as container:
            facts.container = container.format.name
            streams = container.streams.video
            if not streams:
                facts.problems.append("no video stream")
                return facts
            stream = streams[0]
            facts.codec = stream.codec_context.name
            facts.width, facts.height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            if kind == "video":  # an image demuxer reports a nominal 25 fps: meaningless there
                facts.fps = round(float(Fraction(rate)), 3) if rate else None
            for frame in container.decode(stream):
                _luma(facts, frame)
                facts.frames += 1
            facts.decodable = facts.frames > 0
    except (av.FFmpegError, OSError, ValueError) as exc:
        facts.problems.append(f"cannot decode: {exc}")
        facts.decodable = False
    return facts


def _luma(facts: MediaFacts, frame: Any) -> None:
    """Widen the luma range seen so far by this frame's (its grey plane, row padding left out)."""
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    data = memoryview(plane)
    width, stride = gray.width, plane.line_size
    low, high = 255, 0
    # every row of a small frame, about 64 spread over a big one: a flat frame is flat in every row
    for row in range(0, gray.height, max(1, gray.height // 64)):
        line = data[row * stride : row * stride + width]
        low, high = min(low, min(line)), max(high, max(line))
    facts.luma_min = low if facts.luma_min is None else min(facts.luma_min, low)
    facts.luma_max = high if facts.luma_max is None else max(facts.luma_max, high)


def verify(path: Path, expected: ExpectedMedia) -> MediaFacts:
    """Read `path` back and list every way it differs from `expected` (MediaFacts.problems)."""
    if not path.is_file():
        facts = MediaFacts(expected.kind)
        facts.problems.append(f"no file at {path}")
        return facts
    facts = read_media(path, expected.kind)
    if not facts.decodable:
        if not any(p.startswith("cannot decode") for p in facts.problems):
            facts.problems.append("no frame could be decoded")
        return facts
    checks = [
        ("codec", expected.codec, facts.codec),
        ("width", expected.width, facts.width),
        ("height", expected.height, facts.height),
    ]
    if expected.kind == "video":
        checks.append(("frames", expected.frames, facts.frames))
    elif facts.frames != 1:
        facts.problems.append(f"an image holds 1 frame, this one {facts.frames}")
    for name, want, got in checks:
        if want is not None and want != got:
            facts.problems.append(f"{name} {got}, the workflow asked for {want}")
    if expected.container and expected.container not in (facts.container or "").split(","):
        facts.problems.append(f"container {facts.container}, the workflow asked for {expected.container}")
    if expected.fps is not None and (facts.fps is None or abs(facts.fps - expected.fps) > 0.01):
        facts.problems.append(f"fps {facts.fps}, the workflow asked for {expected.fps:g}")
    if not facts.alive:
        facts.problems.append(
            "the pixels are not alive: every frame is one flat value "
            f"(luma {facts.luma_min}-{facts.luma_max}); NaN or a dead sampler upstream gives this"
        )
    return facts


def media_line(media: dict[str, Any]) -> str:
    """One line for a verified output (MediaFacts.to_dict()), as ffprobe would summarise it."""
    size = f"{media.get('width')}x{media.get('height')}"
    if media.get("kind") == "image":
        return f"{media.get('codec')} image {size}"
    return f"{media.get('codec')} {size} {media.get('frames')} frames @ {media.get('fps')} fps"
