//! Chorale voices in and out of a score: which notes are the given voices (read onto the 16th-note
//! grid as `GridVocab::score_to_chorale` reads them), and the score with filled voices written back
//! — every note of a kept voice, and every note of another track, exactly as it was.

use std::collections::HashMap;

use super::harmonize::Kept;
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};
use crate::tokens::grid::{voice_tracks, GridVocab, VOICES, VOICE_NAMES};
use crate::tokens::Chorale;

/// The given voices of a score.
#[derive(Debug, Clone)]
pub struct Given {
    /// The grid: kept voices as read, the others rests (to be filled).
    pub chorale: Chorale,
    /// Which voices are kept.
    pub kept: Kept,
    /// How the voices were read, in words.
    pub source: &'static str,
    /// The voice of each note of the score that was read (by index into `Score::notes`).
    voice_of_note: HashMap<usize, usize>,
    /// The track each voice came from, when voices came from tracks.
    track_of_voice: HashMap<usize, usize>,
}

/// Reads the voices of `score` (of `track` alone when given) and keeps those `kept` names.
pub fn read_given(score: &Score, track: Option<usize>, kept: Kept) -> Result<Given> {
    kept.check()?;
    let mut sub = score.clone();
    if let Some(t) = track {
        if !score.track_notes(t).any(|n| !n.is_drum()) {
            return Err(Error::Invalid(format!(
                "track {t} has no pitched notes (the score has {} tracks)",
                score.tracks.len()
            )));
        }
        sub.notes.retain(|n| n.track == t);
    }
    let vocab = GridVocab::default();
    let mut chorale = vocab.score_to_chorale(&sub)?;
    let source = vocab.voice_source(&sub);
    let step = (score.ppq() as f64 / 4.0).max(1.0);
    let tracks = voice_tracks(&sub);
    let mut voice_of_note = HashMap::new();
    for (i, n) in score.notes.iter().enumerate() {
        if n.is_drum() || track.is_some_and(|t| n.track != t) {
            continue;
        }
        let voice = match &tracks {
            Some(map) => map.get(&n.track).copied(),
            None => {
                let at = (n.start_tick as f64 / step).round() as usize;
                let same = |v: &usize| {
                    chorale
                        .steps
                        .get(at)
                        .is_some_and(|s| s[*v] == n.pitch as i16)
                };
                let mut voices = (0..VOICES).filter(same);
                let first = voices.clone().next();
                voices.find(|&v| kept.0[v]).or(first)
            }
        };
        if let Some(v) = voice {
            voice_of_note.insert(i, v);
        }
    }
    for s in &mut chorale.steps {
        for v in kept.filled() {
            s[v] = -1;
        }
    }
    while chorale
        .steps
        .last()
        .is_some_and(|s| s.iter().all(|&p| p < 0))
    {
        chorale.steps.pop();
    }
    if chorale.steps.is_empty() {
        return Err(Error::Invalid(format!(
            "the {} holds no notes to harmonize ({source})",
            kept.describe()
        )));
    }
    let track_of_voice = tracks
        .map(|m| m.into_iter().map(|(t, v)| (v, t)).collect())
        .unwrap_or_default();
    Ok(Given {
        chorale,
        kept,
        source,
        voice_of_note,
        track_of_voice,
    })
}

/// `score` with the voices `given` did not keep replaced by `filled`'s: the replaced notes are
/// removed, each filled voice goes to the track it came from (or a new track named after it), on a
/// free channel, with the kept notes' program and mean velocity; a note lasts while its voice
/// repeats the pitch.
pub fn write_filled(score: &Score, given: &Given, filled: &Chorale) -> Score {
    let mut out = score.clone();
    let kept_notes: Vec<&crate::midi::Note> = given
        .voice_of_note
        .iter()
        .filter(|(_, v)| given.kept.0[**v])
        .map(|(i, _)| &score.notes[*i])
        .collect();
    let program = kept_notes.first().map_or(0, |n| n.program);
    let velocity = if kept_notes.is_empty() {
        80
    } else {
        (kept_notes
            .iter()
            .map(|n| u32::from(n.velocity))
            .sum::<u32>()
            / kept_notes.len() as u32) as u8
    };
    let replaced = |i: usize| {
        given
            .voice_of_note
            .get(&i)
            .is_some_and(|v| !given.kept.0[*v])
    };
    let mut old_channel = HashMap::new();
    let mut index = 0;
    out.notes.retain(|n| {
        let drop = replaced(index);
        if drop {
            old_channel.entry(n.track).or_insert(n.channel);
        }
        index += 1;
        !drop
    });
    let step = score.ppq() as f64 / 4.0;
    let tick = |s: usize| (s as f64 * step).round() as u64;
    for v in given.kept.filled() {
        let track = given
            .track_of_voice
            .get(&v)
            .copied()
            .unwrap_or_else(|| out.add_track(VOICE_NAMES[v], TrackRole::Voice(v as u8)));
        let channel = old_channel
            .get(&track)
            .copied()
            .unwrap_or_else(|| free_channel(&out));
        let mut run: Option<(usize, i16)> = None;
        let end = [-1i16; VOICES];
        for (s, st) in filled.steps.iter().chain(std::iter::once(&end)).enumerate() {
            let p = st[v];
            match run {
                Some((_, q)) if q == p => continue,
                Some((a, q)) => out.push_note_ticks(
                    track,
                    channel,
                    program,
                    q as u8,
                    velocity,
                    tick(a),
                    tick(s),
                ),
                None => {}
            }
            run = (p >= 0).then_some((s, p));
        }
    }
    out.sort();
    out
}

/// The lowest channel no note uses (not the drum channel), else channel 0.
fn free_channel(score: &Score) -> u8 {
    (0..16u8)
        .filter(|&c| c != 9)
        .find(|&c| score.notes.iter().all(|n| n.channel != c))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A melody on one track and a drum hit: the melody becomes the soprano.
    fn melody() -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("Flute", TrackRole::Other);
        for (i, p) in [72u8, 74, 76, 77].iter().enumerate() {
            s.push_note_ticks(t, 0, 73, *p, 90, i as u64 * 480, (i as u64 + 1) * 480);
        }
        let d = s.add_track("Drums", TrackRole::Drums);
        s.push_note_ticks(d, 9, 0, 36, 100, 0, 120);
        s.sort();
        s
    }

    #[test]
    fn a_melody_is_the_soprano_and_stays_as_it_was() {
        let score = melody();
        let given = read_given(&score, None, Kept::SOPRANO).unwrap();
        assert_eq!(given.chorale.steps.len(), 16);
        assert_eq!(given.chorale.steps[4], [74, -1, -1, -1]);
        let mut filled = given.chorale.clone();
        for (i, s) in filled.steps.iter_mut().enumerate() {
            s[1] = 64 + (i / 8) as i16;
            s[2] = 55;
            s[3] = 48;
        }
        let out = write_filled(&score, &given, &filled);
        for n in &score.notes {
            assert!(out.notes.contains(n), "kept {n:?}");
        }
        assert_eq!(out.tracks.len(), 5);
        let alto: Vec<_> = out.track_notes(2).collect();
        assert_eq!(alto.len(), 2);
        assert_eq!((alto[0].start_tick, alto[0].end_tick), (0, 960));
        assert!(alto
            .iter()
            .all(|n| n.program == 73 && n.velocity == 90 && n.channel == 1));
    }

    #[test]
    fn four_voice_tracks_replace_in_place_and_bad_input_is_refused() {
        let chorale = Chorale {
            steps: vec![[72, 64, 55, 48]; 8],
        };
        let score = GridVocab::default().chorale_to_score(&chorale).unwrap();
        let kept = Kept::parse("soprano,bass").unwrap();
        let given = read_given(&score, None, kept).unwrap();
        assert_eq!(given.chorale.steps[0], [72, -1, -1, 48]);
        let mut filled = given.chorale.clone();
        for s in &mut filled.steps {
            s[1] = 67;
            s[2] = 60;
        }
        let out = write_filled(&score, &given, &filled);
        assert_eq!(out.tracks.len(), 4);
        let pitches: Vec<u8> = (0..4)
            .map(|t| out.track_notes(t).next().unwrap().pitch)
            .collect();
        assert_eq!(pitches, vec![72, 67, 60, 48]);
        assert!(read_given(&score, Some(7), Kept::SOPRANO).is_err());
        assert!(read_given(&melody(), None, Kept::parse("alto").unwrap()).is_err());
    }
}
