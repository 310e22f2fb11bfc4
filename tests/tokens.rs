//! Tokeniser properties: decode(encode(x)) == x for quantised scores, and sane token counts.

use proptest::prelude::*;
use reprise::midi::{Score, TrackRole};
use reprise::tokens::performance::{self, bin_velocity, NOTE_OFF, NOTE_ON, TIME_SHIFT, VELOCITY};
use reprise::tokens::{
    grid, Chorale, GridVocab, NoteEvent, PerformanceStream, PerformanceVocab, RemiVocab, Vocab,
};

/// A score already on the performance grid: 10 ms steps, velocities that are bin representatives, one
/// piano track, no overlapping notes of one pitch. Notes as (pitch, bin, on step, length in steps).
fn quantised_performance() -> impl Strategy<Value = Score> {
    prop::collection::vec((0u8..128, 1u8..33, 0u64..3_000, 1u64..400), 0..120).prop_map(|notes| {
        let mut s = Score::new(480, 480_000).unwrap();
        let t = s.add_track("Piano", TrackRole::Other);
        let mut notes = notes;
        notes.sort_by_key(|n| (n.0, n.2));
        let mut last_end = [0u64; 128];
        for (pitch, bin, on, len) in notes {
            if on < last_end[pitch as usize] {
                continue;
            }
            last_end[pitch as usize] = on + len;
            let (a, b) = (on as f64 * 0.01, (on + len) as f64 * 0.01);
            s.push_note_seconds(t, 0, 0, pitch, bin_velocity(bin), a, b);
        }
        s.sort();
        s
    })
}

fn steps(s: &Score) -> Vec<(u8, u8, u64, u64)> {
    let step = |t: f64| (t * 100.0).round() as u64;
    let mut v: Vec<_> = s
        .notes
        .iter()
        .map(|n| (n.pitch, n.velocity, step(n.start), step(n.end)))
        .collect();
    v.sort_unstable();
    v
}

fn arb_chorale() -> impl Strategy<Value = Chorale> {
    let voice = prop_oneof![1 => Just(-1i16), 6 => 30i16..90];
    prop::collection::vec([voice.clone(), voice.clone(), voice.clone(), voice], 0..200)
        .prop_map(|steps| Chorale { steps })
}

/// A two-part score on the REMI grid: 4/4 at 480 PPQ and 120 BPM, onsets and lengths in sixteenths
/// (lengths 1–64), velocities that are bin representatives, no two notes of one part and key at one
/// onset. Notes as (melody?, pitch, bin, onset 16th, length).
fn remi_score() -> impl Strategy<Value = Score> {
    prop::collection::vec(
        (any::<bool>(), 0u8..128, 1u8..33, 0u64..256, 1u64..65),
        0..80,
    )
    .prop_map(|notes| {
        let mut s = Score::new(480, 500_000).unwrap();
        let m = s.add_track("MELODY", TrackRole::Melody);
        let p = s.add_track("PIANO", TrackRole::Accompaniment);
        let mut seen = std::collections::HashSet::new();
        for (mel, pitch, bin, at, len) in notes {
            if !seen.insert((mel, pitch, at)) {
                continue;
            }
            let (t, ch) = if mel { (m, 0) } else { (p, 1) };
            s.push_note_ticks(
                t,
                ch,
                0,
                pitch,
                bin_velocity(bin),
                at * 120,
                (at + len) * 120,
            );
        }
        s.sort();
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn remi_roundtrip_on_its_grid(score in remi_score()) {
        let v = RemiVocab::default();
        let ids = v.encode(&score).unwrap();
        let back = v.decode(&ids).unwrap();
        let notes = |s: &Score| {
            let mut n: Vec<_> = s.notes.iter().map(|n| (s.tracks[n.track].role, n.pitch, n.velocity, n.start_tick, n.end_tick)).collect();
            n.sort_unstable_by_key(|x| (x.3, x.1, x.4, x.2, matches!(x.0, TrackRole::Melody)));
            n
        };
        prop_assert_eq!(notes(&back), notes(&score));
        prop_assert!(ids.iter().all(|&i| (i as usize) < v.size()));
    }

    #[test]
    fn performance_roundtrip(score in quantised_performance()) {
        let v = PerformanceVocab::default();
        let ids = v.encode(&score).unwrap();
        let back = v.decode(&ids).unwrap();
        prop_assert_eq!(steps(&back), steps(&score));
        // Every id is in range; one NOTE_ON and one NOTE_OFF per note; the shifts add up to the end.
        prop_assert!(ids.iter().all(|&i| (i as usize) < v.size() && i >= NOTE_ON));
        let ons = ids.iter().filter(|&&i| (NOTE_ON..NOTE_OFF).contains(&i)).count();
        let offs = ids.iter().filter(|&&i| (NOTE_OFF..TIME_SHIFT).contains(&i)).count();
        prop_assert_eq!(ons, score.notes.len());
        prop_assert_eq!(offs, score.notes.len());
        let shifted: u64 = ids.iter().filter(|&&i| (TIME_SHIFT..VELOCITY).contains(&i)).map(|&i| (i - TIME_SHIFT + 1) as u64).sum();
        let end = score.notes.iter().map(|n| (n.end * 100.0).round() as u64).max().unwrap_or(0);
        prop_assert_eq!(shifted, end);
        let velocities = ids.iter().filter(|&&i| i >= VELOCITY).count();
        prop_assert!(velocities <= ons);
        prop_assert!(ids.len() <= 3 * score.notes.len() + end as usize / 100 + 2 * score.notes.len());
    }

    #[test]
    fn performance_decode_never_fails_on_valid_ids(ids in prop::collection::vec(0u32..performance::SIZE, 0..500)) {
        let v = PerformanceVocab::default();
        let s = v.decode(&ids).unwrap();
        prop_assert!(s.notes.iter().all(|n| n.end > n.start && n.end_tick > n.start_tick));
        // Re-encoding what was decoded is stable.
        let again = v.decode(&v.encode(&s).unwrap()).unwrap();
        prop_assert_eq!(steps(&again), steps(&s));
    }

    #[test]
    fn streamed_events_pair_into_the_decoded_notes(ids in prop::collection::vec(0u32..performance::SIZE, 0..500)) {
        let v = PerformanceVocab::default();
        let mut stream = PerformanceStream::new();
        let mut events = Vec::new();
        for &id in &ids {
            stream.push(id, &mut events).unwrap();
        }
        stream.finish(&mut events);
        // Pair each On with the next Off of its key; times never go back between Ons.
        let mut open: Vec<Option<(u8, f64)>> = vec![None; 128];
        let mut notes = Vec::new();
        let mut last_on = 0.0;
        for e in events {
            match e {
                NoteEvent::On { pitch, velocity, time } => {
                    prop_assert!(open[pitch as usize].is_none() && time >= last_on);
                    last_on = time;
                    open[pitch as usize] = Some((velocity, time));
                }
                NoteEvent::Off { pitch, time } => {
                    let (vel, on) = open[pitch as usize].take().unwrap();
                    prop_assert!(time > on);
                    let step = |t: f64| (t * 100.0).round() as u64;
                    notes.push((pitch, vel, step(on), step(time)));
                }
            }
        }
        prop_assert!(open.iter().all(Option::is_none));
        notes.sort_unstable();
        prop_assert_eq!(notes, steps(&v.decode(&ids).unwrap()));
    }

    #[test]
    fn stretching_keeps_events_and_scales_time(score in quantised_performance(), f in 0.9f64..1.1) {
        let ids = PerformanceVocab::default().encode(&score).unwrap();
        let stretched = PerformanceVocab::stretch_time(&ids, f);
        let events = |ids: &[u32]| ids.iter().copied().filter(|i| !(TIME_SHIFT..VELOCITY).contains(i)).collect::<Vec<_>>();
        prop_assert_eq!(events(&stretched), events(&ids));
        let total = |ids: &[u32]| ids.iter().filter(|&&i| (TIME_SHIFT..VELOCITY).contains(&i)).map(|&i| (i - TIME_SHIFT + 1) as u64).sum::<u64>();
        prop_assert_eq!(total(&stretched), (total(&ids) as f64 * f).round() as u64);
    }

    #[test]
    fn grid_roundtrip_through_tokens_and_score(chorale in arb_chorale()) {
        let v = GridVocab::default();
        let ids = v.encode_chorale(&chorale);
        prop_assert_eq!(ids.len(), 4 * chorale.steps.len());
        prop_assert_eq!(v.decode_chorale(&ids).unwrap(), chorale.clone());
        // Through a Score (and a MIDI file): trailing all-rest steps are silence and are not kept.
        let mut expected = chorale.clone();
        while expected.steps.last().is_some_and(|s| s.iter().all(|&p| p < 0)) {
            expected.steps.pop();
        }
        let score = v.chorale_to_score(&chorale).unwrap();
        prop_assert_eq!(v.score_to_chorale(&score).unwrap(), expected.clone());
        let bytes = reprise::midi::to_bytes(&score).unwrap();
        let read = reprise::midi::parse(&bytes, std::path::Path::new("c.mid")).unwrap();
        prop_assert_eq!(v.score_to_chorale(&read).unwrap(), expected);
        let back = v.decode(&v.encode(&score).unwrap()).unwrap();
        let notes = |s: &Score| s.notes.iter().map(|n| (n.track, n.pitch, n.start_tick, n.end_tick)).collect::<Vec<_>>();
        prop_assert_eq!(notes(&back), notes(&score));
    }
}

#[test]
fn sustain_is_folded_into_durations() {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("", TrackRole::Other);
    s.push_note_seconds(t, 0, 0, 60, 80, 0.0, 0.1);
    s.sustain.push(reprise::midi::SustainSpan {
        channel: 0,
        track: t,
        start_tick: 0,
        end_tick: 960,
        start: 0.0,
        end: 1.0,
    });
    let v = PerformanceVocab::default();
    let back = v.decode(&v.encode(&s).unwrap()).unwrap();
    assert_eq!(steps(&back), [(60, 79, 0, 100)]);
}

#[test]
fn drums_are_left_out_of_performance_events() {
    let mut s = Score::new(480, 500_000).unwrap();
    let t = s.add_track("", TrackRole::Other);
    s.push_note_seconds(t, 9, 0, 36, 100, 0.0, 0.1);
    s.push_note_seconds(t, 0, 0, 60, 100, 0.0, 0.1);
    let v = PerformanceVocab::default();
    assert_eq!(v.decode(&v.encode(&s).unwrap()).unwrap().notes.len(), 1);
}

#[test]
fn grid_ids_out_of_range_are_errors() {
    assert!(GridVocab::default().decode(&[grid::SIZE]).is_err());
}
