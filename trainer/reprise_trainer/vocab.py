"""Token ids Reprise's vocabularies share with the trainer (ports of ``src/tokens/``).

Only what training needs: the special ids, each vocabulary's size, the pitch ranges that
transposition shifts, the performance vocabulary's time stretch and the beat-aware vocabulary's
metrical state (``tokens::remi::beat_state``).
"""

from __future__ import annotations

PAD, BOS, EOS = 0, 1, 2

# Grid (JSB chorales): REST, then 128 pitches.
GRID_PITCH = 4
GRID_SIZE = GRID_PITCH + 128

# Performance events (Oore et al.).
PERF_NOTE_ON = 3
PERF_NOTE_OFF = PERF_NOTE_ON + 128
PERF_TIME_SHIFT = PERF_NOTE_OFF + 128
PERF_VELOCITY = PERF_TIME_SHIFT + 100
PERF_SIZE = PERF_VELOCITY + 32
PERF_MAX_SHIFT_STEPS = 100

# REMI (beat-aware piano, Theme Transformer).
REMI_BAR = 3
REMI_POSITION = 4
REMI_POSITIONS = 16
REMI_TEMPO = REMI_POSITION + REMI_POSITIONS
REMI_TEMPOS = 60
REMI_THEME_START = REMI_TEMPO + REMI_TEMPOS
REMI_THEME_END = REMI_THEME_START + 1
REMI_TRACKS = REMI_THEME_END + 1
REMI_PER_TRACK = 32 + 128 + 64
REMI_SIZE = REMI_TRACKS + 2 * REMI_PER_TRACK
BEAT_STATES = REMI_POSITIONS + 1
NO_POSITION = REMI_POSITIONS

SIZES = {"grid": GRID_SIZE, "performance": PERF_SIZE, "remi": REMI_SIZE}
# `VocabKind::version` in src/model/config.rs: shards of another version are refused.
VERSIONS = {"grid": 1, "performance": 1, "remi": 1}

PITCH_RANGES = {
    "grid": [(GRID_PITCH, 128)],
    "performance": [(PERF_NOTE_ON, 128), (PERF_NOTE_OFF, 128)],
    "remi": [(REMI_TRACKS + 32, 128), (REMI_TRACKS + REMI_PER_TRACK + 32, 128)],
}


def transpose(kind: str, ids: list[int], semitones: int) -> list[int] | None:
    """``ids`` with every pitch moved by ``semitones``; ``None`` when one would leave its range."""
    ranges = PITCH_RANGES[kind]
    out = []
    for i in ids:
        for first, n in ranges:
            if first <= i < first + n:
                p = i - first + semitones
                if not 0 <= p < n:
                    return None
                out.append(first + p)
                break
        else:
            out.append(i)
    return out


def _push_shift(out: list[int], steps: int) -> None:
    while steps > 0:
        s = min(steps, PERF_MAX_SHIFT_STEPS)
        out.append(PERF_TIME_SHIFT + s - 1)
        steps -= s


def _round_half_away(x: float) -> int:
    """Rust's ``f64::round`` (halves away from zero), for non-negative ``x``."""
    return int(x + 0.5)


def stretch(kind: str, ids: list[int], factor: float) -> list[int] | None:
    """Time stretched by ``factor`` (performance events only; ``None`` for vocabularies on a grid)."""
    if kind != "performance":
        return None
    out: list[int] = []
    original = emitted = 0

    def flush() -> None:
        nonlocal emitted
        target = _round_half_away(original * factor)
        _push_shift(out, max(target - emitted, 0))
        emitted = max(target, emitted)

    for i in ids:
        if PERF_TIME_SHIFT <= i < PERF_VELOCITY:
            original += i - PERF_TIME_SHIFT + 1
        else:
            flush()
            out.append(i)
    flush()
    return out


def beat_state(state: int, token: int) -> int:
    """The metrical state after ``token``: the last Position's sixteenth, ``NO_POSITION`` after a Bar."""
    if token == REMI_BAR:
        return NO_POSITION
    if REMI_POSITION <= token < REMI_TEMPO:
        return token - REMI_POSITION
    return state


def beat_states(ids, state: int = NO_POSITION) -> list[int]:
    """The metrical state after each token of ``ids``, starting from ``state``."""
    out = []
    for i in ids:
        state = beat_state(state, int(i))
        out.append(state)
    return out
