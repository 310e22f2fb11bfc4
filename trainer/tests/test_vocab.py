"""The trainer's token rules against the examples Reprise's own tests pin down."""

from reprise_trainer import vocab as V


def test_performance_transposes_notes_only():
    ids = [V.PERF_VELOCITY + 3, V.PERF_NOTE_ON + 60, V.PERF_TIME_SHIFT + 5, V.PERF_NOTE_OFF + 60]
    assert V.transpose("performance", ids, 2) == [V.PERF_VELOCITY + 3, V.PERF_NOTE_ON + 62, V.PERF_TIME_SHIFT + 5, V.PERF_NOTE_OFF + 62]
    assert V.transpose("performance", [V.PERF_NOTE_ON + 127], 1) is None


def test_stretch_moves_events_to_scaled_times():
    on, off, ts = V.PERF_NOTE_ON, V.PERF_NOTE_OFF, V.PERF_TIME_SHIFT
    ids = [on + 60, ts + 99, ts + 19, off + 60, ts + 9]
    assert V.stretch("performance", ids, 1.05) == [on + 60, ts + 99, ts + 25, off + 60, ts + 10]
    assert V.stretch("performance", ids, 1.0) == ids
    assert V.stretch("grid", ids, 1.05) is None


def test_remi_transposes_both_parts_and_only_pitches():
    melody_on = V.REMI_TRACKS + 32 + 60
    piano_on = V.REMI_TRACKS + V.REMI_PER_TRACK + 32 + 48
    velocity = V.REMI_TRACKS + 5
    assert V.transpose("remi", [V.REMI_BAR, velocity, melody_on, piano_on], -3) == [V.REMI_BAR, velocity, melody_on - 3, piano_on - 3]


def test_beat_states_follow_positions_and_bars():
    v = V.REMI_TRACKS + V.REMI_PER_TRACK + 8  # a piano velocity
    bar, pos, no = V.REMI_BAR, V.REMI_POSITION, V.NO_POSITION
    assert V.beat_states([bar, pos, v, pos + 7, v, bar, v, pos + 3]) == [no, 0, 0, 7, 7, no, no, 3]
    assert V.beat_states([v, v], 5) == [5, 5]
    assert V.BEAT_STATES == 17
    assert V.REMI_SIZE == 530 and V.PERF_SIZE == 391 and V.GRID_SIZE == 132
