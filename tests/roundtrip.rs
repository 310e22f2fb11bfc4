//! MIDI round trip: read → write → read keeps every note, the tempo map, time signatures, sustain and controls.

use std::path::Path;

use proptest::prelude::*;
use reprise::midi::{
    self, Control, ControlKind, Score, SustainSpan, TempoChange, TempoMap, TimeSignature, TrackRole,
};

/// Note as (track, channel, program, pitch, velocity, start tick, length in ticks).
type NoteSpec = (usize, u8, u8, u8, u8, u64, u64);

fn arb_score() -> impl Strategy<Value = Score> {
    let ppq = prop_oneof![Just(96u16), Just(480), Just(960), 1u16..2000];
    let tempos = prop::collection::vec((0u64..20_000, 20_000u32..2_000_000), 0..5);
    let tracks = 1usize..5;
    (ppq, tempos, tracks)
        .prop_flat_map(|(ppq, tempos, tracks)| {
            let note = (
                0..tracks,
                0u8..16,
                0u8..128,
                0u8..128,
                1u8..128,
                0u64..20_000,
                1u64..3_000,
            );
            let notes = prop::collection::vec(note, 1..80);
            let pedals =
                prop::collection::vec((0u8..16, 0..tracks, 0u64..20_000, 1u64..2_000), 0..6);
            let controls = prop::collection::vec(
                (
                    0u64..20_000,
                    0u8..16,
                    0..tracks,
                    0u8..128,
                    0u8..128,
                    any::<bool>(),
                    -8192i16..8192,
                ),
                0..10,
            );
            let sigs = prop::collection::vec((0u64..20_000, 1u8..13, 0u32..4), 0..3);
            (
                Just(ppq),
                Just(tempos),
                Just(tracks),
                notes,
                pedals,
                controls,
                sigs,
            )
        })
        .prop_map(|(ppq, tempos, tracks, notes, pedals, controls, sigs)| {
            build(ppq, tempos, tracks, notes, pedals, controls, sigs)
        })
}

#[allow(clippy::type_complexity)]
fn build(
    ppq: u16,
    tempos: Vec<(u64, u32)>,
    tracks: usize,
    mut notes: Vec<NoteSpec>,
    pedals: Vec<(u8, usize, u64, u64)>,
    controls: Vec<(u64, u8, usize, u8, u8, bool, i16)>,
    sigs: Vec<(u64, u8, u32)>,
) -> Score {
    let changes = tempos
        .into_iter()
        .map(|(tick, us)| TempoChange {
            tick,
            us_per_quarter: us,
        })
        .collect();
    let mut score = Score::new(ppq, 500_000).unwrap();
    score.tempo_map = TempoMap::new(ppq, changes).unwrap();
    for t in 0..tracks {
        score.add_track(&format!("track {t}"), TrackRole::Other);
    }
    // One key on one channel cannot overlap itself in MIDI: keep only notes that start after the
    // previous note of their (channel, pitch) ended. Every track keeps at least one note.
    notes.sort_by_key(|n| (n.1, n.3, n.5));
    let mut last_end: std::collections::HashMap<(u8, u8), u64> = Default::default();
    for (t, ch, program, pitch, vel, start, len) in notes {
        let free = last_end.get(&(ch, pitch)).is_none_or(|&e| start >= e);
        if free {
            last_end.insert((ch, pitch), start + len);
            score.push_note_ticks(t, ch, program, pitch, vel, start, start + len);
        }
    }
    for t in 0..tracks {
        if score.track_notes(t).next().is_none() {
            score.push_note_ticks(t, 15, 0, t as u8, 64, 30_000, 30_001);
        }
    }
    let mut pedal_end: std::collections::HashMap<u8, u64> = Default::default();
    let mut pedals = pedals;
    pedals.sort_by_key(|p| (p.0, p.2));
    for (ch, track, start, len) in pedals {
        if pedal_end.get(&ch).is_none_or(|&e| start > e) {
            pedal_end.insert(ch, start + len);
            score.sustain.push(SustainSpan {
                channel: ch,
                track,
                start_tick: start,
                end_tick: start + len,
                start: 0.0,
                end: 0.0,
            });
        }
    }
    for (tick, channel, track, number, value, bend, amount) in controls {
        let kind = if bend {
            ControlKind::PitchBend(amount)
        } else if number == 64 {
            continue;
        } else {
            ControlKind::Controller { number, value }
        };
        score.controls.push(Control {
            tick,
            seconds: 0.0,
            channel,
            track,
            kind,
        });
    }
    for (tick, numerator, pow) in sigs {
        score.time_signatures.push(TimeSignature {
            tick,
            numerator,
            denominator: 1 << pow,
        });
    }
    score.time_signatures.sort_by_key(|s| s.tick);
    score.time_signatures.dedup_by_key(|s| s.tick);
    score.retime();
    score.sort();
    score
}

fn canonical_notes(s: &Score) -> Vec<(usize, u8, u8, u8, u8, u64, u64)> {
    let mut v: Vec<_> = s
        .notes
        .iter()
        .map(|n| {
            (
                n.track,
                n.channel,
                n.program,
                n.pitch,
                n.velocity,
                n.start_tick,
                n.end_tick,
            )
        })
        .collect();
    v.sort_unstable();
    v
}

fn canonical_controls(s: &Score) -> Vec<(u64, u8, usize, String)> {
    let mut v: Vec<_> = s
        .controls
        .iter()
        .map(|c| (c.tick, c.channel, c.track, format!("{:?}", c.kind)))
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read_keeps_everything(score in arb_score()) {
        let bytes = midi::to_bytes(&score).unwrap();
        let back = midi::parse(&bytes, Path::new("roundtrip.mid")).unwrap();
        prop_assert_eq!(canonical_notes(&back), canonical_notes(&score));
        prop_assert_eq!(&back.tempo_map, &score.tempo_map);
        prop_assert_eq!(&back.time_signatures, &score.time_signatures);
        let spans = |s: &Score| {
            let mut v: Vec<_> = s.sustain.iter().map(|p| (p.channel, p.track, p.start_tick, p.end_tick)).collect();
            v.sort_unstable();
            v
        };
        prop_assert_eq!(spans(&back), spans(&score));
        prop_assert_eq!(canonical_controls(&back), canonical_controls(&score));
        prop_assert_eq!(back.tracks.len(), score.tracks.len());
        for n in &back.notes {
            prop_assert!((n.start - back.tempo_map.seconds(n.start_tick)).abs() < 1e-9);
            prop_assert!(n.end > n.start);
        }
        // A second trip is byte-identical.
        prop_assert_eq!(midi::to_bytes(&back).unwrap(), bytes);
    }
}

#[test]
fn seconds_follow_tempo_changes() {
    let map = TempoMap::new(
        480,
        vec![
            TempoChange {
                tick: 0,
                us_per_quarter: 500_000,
            },
            TempoChange {
                tick: 960,
                us_per_quarter: 1_000_000,
            },
        ],
    )
    .unwrap();
    assert_eq!(map.seconds(480), 0.5);
    assert_eq!(map.seconds(960), 1.0);
    assert_eq!(map.seconds(1440), 2.0);
    assert_eq!(map.tick(2.0), 1440);
    assert_eq!(map.tick(0.75), 720);
    assert!(TempoMap::constant(0, 500_000).is_err());
    assert!(TempoMap::constant(480, 0).is_err());
}

#[test]
fn roles_and_names_survive() {
    let mut s = Score::new(480, 600_000).unwrap();
    for (i, role) in [TrackRole::Voice(0), TrackRole::Voice(3), TrackRole::Melody]
        .into_iter()
        .enumerate()
    {
        let t = s.add_track("", role);
        s.push_note_ticks(t, i as u8, 0, 60, 64, 0, 480);
    }
    let drums = s.add_track("kit", TrackRole::Other);
    s.push_note_ticks(drums, 9, 0, 36, 100, 0, 120);
    let back = midi::parse(&midi::to_bytes(&s).unwrap(), Path::new("x.mid")).unwrap();
    let roles: Vec<TrackRole> = back.tracks.iter().map(|t| t.role).collect();
    assert_eq!(
        roles,
        [
            TrackRole::Voice(0),
            TrackRole::Voice(3),
            TrackRole::Melody,
            TrackRole::Drums
        ]
    );
}
