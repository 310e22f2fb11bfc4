//! The JSB chorale grid (Coconet format): per 16th-note step four pitches S, A, T, B (−1 = rest),
//! serialised step by step in SATB order, 4 tokens per step.

use std::collections::HashMap;
use std::path::Path;

use super::{special_name, Vocab, EOS};
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};

/// Id of a rest.
pub const REST: u32 = 3;
/// Id of pitch 0; pitch p is `PITCH + p`.
pub const PITCH: u32 = 4;
/// Vocabulary size: PAD, BOS, EOS, REST and 128 pitches.
pub const SIZE: u32 = PITCH + 128;
/// Voices per step.
pub const VOICES: usize = 4;
/// The longest score the grid encodes, in sixteenths (about 7 hours at 100 BPM).
pub const MAX_STEPS: usize = 1 << 20;
/// Voice names in serialisation order.
pub const VOICE_NAMES: [&str; VOICES] = ["Soprano", "Alto", "Tenor", "Bass voice"];

/// A chorale on the 16th-note grid: per step the pitch of S, A, T, B, or −1 for a rest.
/// Held and repeated notes are not distinguished: equal neighbouring pitches form one note.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chorale {
    /// The steps, in time order.
    pub steps: Vec<[i16; VOICES]>,
}

/// The JSB data set in the Coconet JSON layout: named splits of chorales.
#[derive(Debug, Clone, Default)]
pub struct JsbData {
    /// Split name (`train`, `valid`, `test`) → chorales.
    pub splits: HashMap<String, Vec<Chorale>>,
}

impl JsbData {
    /// Loads `Jsb16thSeparated.json` (or a file of the same layout).
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::input::read_text(path, "JSB chorale JSON file")?;
        Self::parse(&text).map_err(|msg| Error::bad_file(path, msg))
    }

    /// Parses the JSON text: `{"train": [[[s, a, t, b], …], …], …}`; pitches may be floats, −1 is a rest.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: HashMap<String, Vec<Vec<Vec<f64>>>> =
            serde_json::from_str(text).map_err(|e| format!("not a Coconet JSB file: {e}"))?;
        let mut splits = HashMap::new();
        for (name, chorales) in raw {
            let mut out = Vec::with_capacity(chorales.len());
            for (ci, chorale) in chorales.into_iter().enumerate() {
                let steps = chorale
                    .iter()
                    .enumerate()
                    .map(|(si, step)| {
                        parse_step(step).map_err(|e| format!("{name}[{ci}] step {si}: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(Chorale { steps });
            }
            splits.insert(name, out);
        }
        Ok(JsbData { splits })
    }

    /// The chorales of one split, or an error naming the splits there are.
    pub fn split(&self, name: &str) -> Result<&[Chorale]> {
        self.splits.get(name).map(Vec::as_slice).ok_or_else(|| {
            let mut have: Vec<&str> = self.splits.keys().map(String::as_str).collect();
            have.sort_unstable();
            Error::Invalid(format!("no split '{name}' (have: {})", have.join(", ")))
        })
    }
}

fn parse_step(step: &[f64]) -> Result<[i16; VOICES], String> {
    if step.len() != VOICES {
        return Err(format!("{} voices, expected {VOICES}", step.len()));
    }
    let mut out = [-1i16; VOICES];
    for (slot, &p) in out.iter_mut().zip(step) {
        if p.is_nan() || p.fract() != 0.0 || !(-1.0..=127.0).contains(&p) || (p < 0.0 && p != -1.0)
        {
            return Err(format!("pitch {p} is neither −1 nor 0–127"));
        }
        *slot = p as i16;
    }
    Ok(out)
}

/// The grid vocabulary. Decoded scores have one track per voice on channels 0–3 with `program`, at
/// `bpm` quarter notes per minute, 480 PPQ (120 ticks per 16th).
#[derive(Debug, Clone)]
pub struct GridVocab {
    /// General MIDI program of the decoded voices.
    pub program: u8,
    /// Tempo of decoded scores.
    pub bpm: f64,
}

impl Default for GridVocab {
    fn default() -> Self {
        GridVocab {
            program: 0,
            bpm: 100.0,
        }
    }
}

impl GridVocab {
    /// Ticks per 16th note in decoded scores.
    pub const STEP_TICKS: u64 = 120;

    /// The chorale as token ids, 4 per step.
    pub fn encode_chorale(&self, chorale: &Chorale) -> Vec<u32> {
        chorale
            .steps
            .iter()
            .flatten()
            .map(|&p| if p < 0 { REST } else { PITCH + p as u32 })
            .collect()
    }

    /// Token ids back into a chorale; a trailing incomplete step is padded with rests.
    pub fn decode_chorale(&self, ids: &[u32]) -> Result<Chorale> {
        let mut values = Vec::with_capacity(ids.len());
        for &id in ids {
            match id {
                EOS => break,
                REST => values.push(-1),
                i if (PITCH..SIZE).contains(&i) => values.push((i - PITCH) as i16),
                i if i < REST => {}
                i => {
                    return Err(Error::Invalid(format!(
                        "token {i} is outside the grid vocabulary (size {SIZE})"
                    )))
                }
            }
        }
        let steps = values
            .chunks(VOICES)
            .map(|c| {
                let mut step = [-1; VOICES];
                step[..c.len()].copy_from_slice(c);
                step
            })
            .collect();
        Ok(Chorale { steps })
    }

    /// The chorale as a score: one track per voice, equal neighbouring pitches merged into one note.
    pub fn chorale_to_score(&self, chorale: &Chorale) -> Result<Score> {
        if !(10.0..=400.0).contains(&self.bpm) {
            return Err(Error::Invalid(format!(
                "tempo {} BPM is out of range 10–400",
                self.bpm
            )));
        }
        let mut score = Score::new(480, (60e6 / self.bpm).round() as u32)?;
        for (v, name) in VOICE_NAMES.iter().enumerate() {
            let track = score.add_track(name, TrackRole::Voice(v as u8));
            let mut run: Option<(usize, i16)> = None;
            for (s, step) in chorale
                .steps
                .iter()
                .chain(std::iter::once(&[-1; VOICES]))
                .enumerate()
            {
                let pitch = step[v];
                match run {
                    Some((_, p)) if p == pitch => continue,
                    Some((start, p)) => {
                        let (a, b) = (start as u64, s as u64);
                        score.push_note_ticks(
                            track,
                            v as u8,
                            self.program,
                            p as u8,
                            80,
                            a * Self::STEP_TICKS,
                            b * Self::STEP_TICKS,
                        );
                    }
                    None => {}
                }
                run = (pitch >= 0).then_some((s, pitch));
            }
        }
        score.sort();
        Ok(score)
    }

    /// A score on the 16th-note grid: notes snap to the nearest 16th (at least one step long).
    /// Voices come from the tracks' chorale roles, else from exactly four pitched tracks ordered by
    /// mean pitch, else by pitch rank at each step (highest = soprano, lowest = bass).
    /// Scores longer than `MAX_STEPS` sixteenths are refused.
    pub fn score_to_chorale(&self, score: &Score) -> Result<Chorale> {
        let step = (score.ppq() as f64 / 4.0).max(1.0);
        let snap = |tick: u64| (tick as f64 / step).round() as usize;
        let notes: Vec<_> = score.notes.iter().filter(|n| !n.is_drum()).collect();
        let len = notes
            .iter()
            .map(|n| snap(n.end_tick).max(snap(n.start_tick) + 1))
            .max()
            .unwrap_or(0);
        if len > MAX_STEPS {
            return Err(Error::Invalid(format!(
                "score is {len} sixteenths long; the grid takes at most {MAX_STEPS}"
            )));
        }
        let mut steps = vec![[-1i16; VOICES]; len];
        if let Some(voice_of_track) = voice_tracks(score) {
            for n in &notes {
                let Some(v) = voice_of_track.get(&n.track) else {
                    continue;
                };
                let (a, b) = (
                    snap(n.start_tick),
                    snap(n.end_tick).max(snap(n.start_tick) + 1),
                );
                for s in &mut steps[a..b] {
                    s[*v] = n.pitch as i16;
                }
            }
        } else {
            let mut sounding: Vec<Vec<i16>> = vec![Vec::new(); len];
            for n in &notes {
                let (a, b) = (
                    snap(n.start_tick),
                    snap(n.end_tick).max(snap(n.start_tick) + 1),
                );
                for s in &mut sounding[a..b] {
                    s.push(n.pitch as i16);
                }
            }
            for (step, mut pitches) in steps.iter_mut().zip(sounding) {
                pitches.sort_unstable_by(|a, b| b.cmp(a));
                pitches.dedup();
                *step = rank_voices(&pitches);
            }
        }
        Ok(Chorale { steps })
    }
}

impl GridVocab {
    /// How `score_to_chorale` assigns voices for this score, in words (for messages).
    pub fn voice_source(&self, score: &Score) -> &'static str {
        let pitched = (0..score.tracks.len())
            .filter(|&t| score.track_notes(t).any(|n| !n.is_drum()))
            .count();
        match voice_tracks(score) {
            Some(_)
                if pitched == VOICES
                    && score
                        .tracks
                        .iter()
                        .all(|t| !matches!(t.role, TrackRole::Voice(_))) =>
            {
                "voices from the 4 tracks, ordered by mean pitch"
            }
            Some(_) => "voices from the tracks' Soprano/Alto/Tenor/Bass names",
            None => "voices split by pitch order at each 16th (highest = soprano, lowest = bass)",
        }
    }
}

/// Maps track index → voice when every pitched track says which voice it is, or when there are exactly
/// four pitched tracks (ordered by mean pitch, highest = soprano).
pub fn voice_tracks(score: &Score) -> Option<HashMap<usize, usize>> {
    let pitched_tracks: Vec<usize> = (0..score.tracks.len())
        .filter(|&t| score.track_notes(t).any(|n| !n.is_drum()))
        .collect();
    let roles: HashMap<usize, usize> = pitched_tracks
        .iter()
        .filter_map(|&i| match score.tracks[i].role {
            TrackRole::Voice(v) if (v as usize) < VOICES => Some((i, v as usize)),
            _ => None,
        })
        .collect();
    if !roles.is_empty() && roles.len() == pitched_tracks.len() {
        return Some(roles);
    }
    let mut pitched: Vec<(usize, f64)> = (0..score.tracks.len())
        .filter_map(|t| {
            let pitches: Vec<f64> = score
                .track_notes(t)
                .filter(|n| !n.is_drum())
                .map(|n| n.pitch as f64)
                .collect();
            (!pitches.is_empty()).then(|| (t, pitches.iter().sum::<f64>() / pitches.len() as f64))
        })
        .collect();
    if pitched.len() != VOICES {
        return None;
    }
    pitched.sort_by(|a, b| b.1.total_cmp(&a.1));
    Some(
        pitched
            .into_iter()
            .enumerate()
            .map(|(v, (t, _))| (t, v))
            .collect(),
    )
}

/// Distributes the pitches sounding at one step (sorted high to low) over S, A, T, B.
fn rank_voices(pitches: &[i16]) -> [i16; VOICES] {
    match pitches {
        [] => [-1; VOICES],
        [s] => [*s, -1, -1, -1],
        [s, b] => [*s, -1, -1, *b],
        [s, a, b] => [*s, *a, -1, *b],
        [s, a, t, .., b] => [*s, *a, *t, *b],
    }
}

impl Vocab for GridVocab {
    fn size(&self) -> usize {
        SIZE as usize
    }

    fn encode(&self, score: &Score) -> Result<Vec<u32>> {
        Ok(self.encode_chorale(&self.score_to_chorale(score)?))
    }

    fn decode(&self, ids: &[u32]) -> Result<Score> {
        self.chorale_to_score(&self.decode_chorale(ids)?)
    }

    fn transpose(&self, ids: &[u32], semitones: i32) -> Option<Vec<u32>> {
        super::shift_ranges(ids, &[(PITCH, 128)], semitones)
    }

    fn token_name(&self, id: u32) -> String {
        match special_name(id) {
            Some(name) => name.to_string(),
            None if id == REST => "REST".to_string(),
            None if id < SIZE => format!("PITCH({})", id - PITCH),
            None => format!("INVALID({id})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_coconet_json_with_float_pitches_and_rests() {
        let d =
            JsbData::parse(r#"{"train": [[[74, 70.0, 65, 58], [-1, 70, 65, 58]]], "valid": []}"#)
                .unwrap();
        assert_eq!(
            d.split("train").unwrap()[0].steps,
            vec![[74, 70, 65, 58], [-1, 70, 65, 58]]
        );
        assert!(d
            .split("test")
            .unwrap_err()
            .to_string()
            .contains("train, valid"));
        assert!(JsbData::parse(r#"{"train": [[[74, 70, 65]]]}"#)
            .unwrap_err()
            .contains("3 voices"));
        assert!(JsbData::parse(r#"{"train": [[[74.5, 70, 65, 1]]]}"#).is_err());
        assert!(JsbData::parse("[1,2]").is_err());
    }

    #[test]
    fn chorale_to_score_merges_held_pitches() {
        let c = Chorale {
            steps: vec![
                [72, 67, 64, 48],
                [72, 67, 64, 48],
                [74, -1, 65, 48],
                [74, 67, 65, 50],
            ],
        };
        let v = GridVocab::default();
        let s = v.chorale_to_score(&c).unwrap();
        let soprano: Vec<(u8, u64, u64)> = s
            .track_notes(0)
            .map(|n| (n.pitch, n.start_tick, n.end_tick))
            .collect();
        assert_eq!(soprano, [(72, 0, 240), (74, 240, 480)]);
        let alto: Vec<(u8, u64, u64)> = s
            .track_notes(1)
            .map(|n| (n.pitch, n.start_tick, n.end_tick))
            .collect();
        assert_eq!(alto, [(67, 0, 240), (67, 360, 480)]);
        assert_eq!(v.score_to_chorale(&s).unwrap(), c);
        assert_eq!(v.decode_chorale(&v.encode_chorale(&c)).unwrap(), c);
    }

    #[test]
    fn pitch_rank_split_when_tracks_do_not_say() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("piano", TrackRole::Other);
        for p in [60, 64, 67, 72, 48] {
            s.push_note_ticks(t, 0, 0, p, 80, 0, 120);
        }
        s.push_note_ticks(t, 0, 0, 62, 80, 120, 240);
        let c = GridVocab::default().score_to_chorale(&s).unwrap();
        assert_eq!(c.steps, vec![[72, 67, 64, 48], [62, -1, -1, -1]]);
    }
}
