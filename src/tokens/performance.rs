//! Performance events (Oore et al. 2018): NOTE_ON ×128, NOTE_OFF ×128, TIME_SHIFT 10 ms…1 s ×100,
//! VELOCITY ×32, after the shared PAD/BOS/EOS.

use super::{special_name, Vocab, EOS};
use crate::error::{Error, Result};
use crate::midi::{apply_sustain, Score, TempoMap, TrackRole};

/// First NOTE_ON id (pitch 0).
pub const NOTE_ON: u32 = 3;
/// First NOTE_OFF id (pitch 0).
pub const NOTE_OFF: u32 = NOTE_ON + 128;
/// First TIME_SHIFT id (10 ms); id `TIME_SHIFT + k − 1` shifts k × 10 ms, k = 1…100.
pub const TIME_SHIFT: u32 = NOTE_OFF + 128;
/// First VELOCITY id (bin 1); id `VELOCITY + b − 1` sets bin b = 1…32.
pub const VELOCITY: u32 = TIME_SHIFT + 100;
/// Vocabulary size: 3 + 128 + 128 + 100 + 32 = 391.
pub const SIZE: u32 = VELOCITY + 32;
/// Seconds per time step.
pub const STEP_SECONDS: f64 = 0.01;
/// Longest single TIME_SHIFT, in steps (1 s).
pub const MAX_SHIFT_STEPS: u64 = 100;

/// Velocity bin 1–32 of a MIDI velocity 1–127: (v − 1) / 4 + 1.
pub fn velocity_bin(velocity: u8) -> u8 {
    (velocity.clamp(1, 127) - 1) / 4 + 1
}

/// The MIDI velocity a bin decodes to: 4·b − 1 (3, 7, …, 127), which lies in the bin.
pub fn bin_velocity(bin: u8) -> u8 {
    4 * bin.clamp(1, 32) - 1
}

/// The performance-event vocabulary. Decoded scores are one piano track on channel 0 with the given
/// tempo map (by default 125 BPM at 480 PPQ, so that one tick is one millisecond).
#[derive(Debug, Clone)]
pub struct PerformanceVocab {
    tempo_map: TempoMap,
}

impl Default for PerformanceVocab {
    fn default() -> Self {
        PerformanceVocab {
            tempo_map: TempoMap::constant(480, 480_000).expect("constant tempo is valid"),
        }
    }
}

/// A note reduced to 10 ms steps, as the vocabulary sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StepNote {
    pitch: u8,
    bin: u8,
    on: u64,
    off: u64,
}

impl PerformanceVocab {
    /// A vocabulary whose decoded scores use `tempo_map` for ticks (e.g. the primer's).
    pub fn with_tempo_map(tempo_map: TempoMap) -> Self {
        PerformanceVocab { tempo_map }
    }

    /// Notes in steps: sustain applied, drums dropped, overlaps of one pitch cut at the re-strike.
    fn step_notes(score: &Score) -> Vec<StepNote> {
        let score = apply_sustain(score);
        let step = |s: f64| (s / STEP_SECONDS).round().max(0.0) as u64;
        let mut notes: Vec<StepNote> = score
            .notes
            .iter()
            .filter(|n| !n.is_drum())
            .map(|n| {
                let on = step(n.start);
                StepNote {
                    pitch: n.pitch,
                    bin: velocity_bin(n.velocity),
                    on,
                    off: step(n.end).max(on + 1),
                }
            })
            .collect();
        notes.sort_by_key(|n| (n.pitch, n.on, std::cmp::Reverse(n.off)));
        notes.dedup_by(|later, earlier| later.pitch == earlier.pitch && later.on == earlier.on);
        for i in 1..notes.len() {
            if notes[i].pitch == notes[i - 1].pitch {
                notes[i - 1].off = notes[i - 1].off.min(notes[i].on);
            }
        }
        notes
    }

    fn decode_steps(ids: &[u32]) -> Result<Vec<StepNote>> {
        let mut now = 0u64;
        let mut bin = velocity_bin(64);
        let mut open: [Option<(u64, u8)>; 128] = [None; 128];
        let mut notes = Vec::new();
        let close = |notes: &mut Vec<StepNote>, pitch: usize, (on, bin): (u64, u8), now: u64| {
            notes.push(StepNote {
                pitch: pitch as u8,
                bin,
                on,
                off: now.max(on + 1),
            })
        };
        for &id in ids {
            match id {
                EOS => break,
                i if i < NOTE_ON => {}
                i if i < NOTE_OFF => {
                    let p = (i - NOTE_ON) as usize;
                    if let Some(prev) = open[p].replace((now, bin)) {
                        if prev.0 < now {
                            close(&mut notes, p, prev, now);
                        }
                    }
                }
                i if i < TIME_SHIFT => {
                    let p = (i - NOTE_OFF) as usize;
                    if let Some(prev) = open[p].take() {
                        close(&mut notes, p, prev, now);
                    }
                }
                i if i < VELOCITY => now += (i - TIME_SHIFT + 1) as u64,
                i if i < SIZE => bin = (i - VELOCITY + 1) as u8,
                i => {
                    return Err(Error::Invalid(format!(
                        "token {i} is outside the performance vocabulary (size {SIZE})"
                    )))
                }
            }
        }
        for (p, slot) in open.iter().enumerate() {
            if let Some(prev) = *slot {
                close(&mut notes, p, prev, now);
            }
        }
        // A NOTE_OFF right after its NOTE_ON lasts one step; a re-strike in that same step is the same note.
        notes.sort_by_key(|n| (n.pitch, n.on, std::cmp::Reverse(n.off)));
        notes.dedup_by_key(|n| (n.pitch, n.on));
        notes.sort_by_key(|n| (n.on, n.pitch));
        Ok(notes)
    }
}

impl Vocab for PerformanceVocab {
    fn size(&self) -> usize {
        SIZE as usize
    }

    fn encode(&self, score: &Score) -> Result<Vec<u32>> {
        let notes = Self::step_notes(score);
        // (step, 0 = off / 1 = on, pitch, bin): offs before ons at the same step.
        let mut events: Vec<(u64, u8, u8, u8)> = Vec::with_capacity(notes.len() * 2);
        for n in &notes {
            events.push((n.on, 1, n.pitch, n.bin));
            events.push((n.off, 0, n.pitch, n.bin));
        }
        events.sort_unstable();
        let mut ids = Vec::with_capacity(events.len() * 2);
        let (mut now, mut bin) = (0u64, 0u8);
        for (step, kind, pitch, b) in events {
            while now < step {
                let shift = (step - now).min(MAX_SHIFT_STEPS);
                ids.push(TIME_SHIFT + shift as u32 - 1);
                now += shift;
            }
            if kind == 0 {
                ids.push(NOTE_OFF + pitch as u32);
            } else {
                if b != bin {
                    ids.push(VELOCITY + b as u32 - 1);
                    bin = b;
                }
                ids.push(NOTE_ON + pitch as u32);
            }
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<Score> {
        let mut score = Score {
            tempo_map: self.tempo_map.clone(),
            time_signatures: Vec::new(),
            tracks: Vec::new(),
            notes: Vec::new(),
            sustain: Vec::new(),
            controls: Vec::new(),
        };
        let track = score.add_track("Piano", TrackRole::Other);
        for n in Self::decode_steps(ids)? {
            let (start, end) = (n.on as f64 * STEP_SECONDS, n.off as f64 * STEP_SECONDS);
            score.push_note_seconds(track, 0, 0, n.pitch, bin_velocity(n.bin), start, end);
        }
        score.sort();
        Ok(score)
    }

    fn transpose(&self, ids: &[u32], semitones: i32) -> Option<Vec<u32>> {
        super::shift_ranges(ids, &[(NOTE_ON, 128), (NOTE_OFF, 128)], semitones)
    }

    fn token_name(&self, id: u32) -> String {
        if let Some(name) = special_name(id) {
            return name.to_string();
        }
        match id {
            i if i < NOTE_OFF => format!("NOTE_ON({})", i - NOTE_ON),
            i if i < TIME_SHIFT => format!("NOTE_OFF({})", i - NOTE_OFF),
            i if i < VELOCITY => format!("TIME_SHIFT({}ms)", (i - TIME_SHIFT + 1) * 10),
            i if i < SIZE => format!("VELOCITY({})", i - VELOCITY + 1),
            i => format!("INVALID({i})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_design() {
        let v = PerformanceVocab::default();
        assert_eq!(v.size(), 391);
        assert_eq!(v.token_name(NOTE_ON + 60), "NOTE_ON(60)");
        assert_eq!(v.token_name(NOTE_OFF + 127), "NOTE_OFF(127)");
        assert_eq!(v.token_name(TIME_SHIFT), "TIME_SHIFT(10ms)");
        assert_eq!(v.token_name(VELOCITY - 1), "TIME_SHIFT(1000ms)");
        assert_eq!(v.token_name(SIZE - 1), "VELOCITY(32)");
    }

    #[test]
    fn velocity_bins_follow_design() {
        assert_eq!(velocity_bin(1), 1);
        assert_eq!(velocity_bin(4), 1);
        assert_eq!(velocity_bin(5), 2);
        assert_eq!(velocity_bin(127), 32);
        for b in 1..=32 {
            assert_eq!(velocity_bin(bin_velocity(b)), b);
        }
    }

    #[test]
    fn encodes_a_known_phrase() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("", TrackRole::Other);
        s.push_note_seconds(t, 0, 0, 60, 80, 0.0, 0.5);
        s.push_note_seconds(t, 0, 0, 64, 80, 0.5, 2.0);
        let v = PerformanceVocab::default();
        let ids = v.encode(&s).unwrap();
        let names: Vec<String> = ids.iter().map(|&i| v.token_name(i)).collect();
        assert_eq!(
            names,
            [
                "VELOCITY(20)",
                "NOTE_ON(60)",
                "TIME_SHIFT(500ms)",
                "NOTE_OFF(60)",
                "NOTE_ON(64)",
                "TIME_SHIFT(1000ms)",
                "TIME_SHIFT(500ms)",
                "NOTE_OFF(64)"
            ]
        );
    }

    #[test]
    fn decode_closes_open_notes_and_restrikes() {
        let v = PerformanceVocab::default();
        let ids = [
            NOTE_ON + 60,
            TIME_SHIFT + 9,
            NOTE_ON + 60, // re-strike closes the first
            NOTE_ON + 62, // never released: closed one step after
        ];
        let s = v.decode(&ids).unwrap();
        let ms = |t: f64| (t * 1000.0).round() as u32;
        let got: Vec<(u8, u32, u32)> = s
            .notes
            .iter()
            .map(|n| (n.pitch, ms(n.start), ms(n.end)))
            .collect();
        assert_eq!(got, [(60, 0, 100), (60, 100, 110), (62, 100, 110)]);
        assert!(v.decode(&[SIZE]).is_err());
    }

    #[test]
    fn transposes_notes_only() {
        let v = PerformanceVocab::default();
        let ids = [VELOCITY + 3, NOTE_ON + 60, TIME_SHIFT + 5, NOTE_OFF + 60];
        assert_eq!(
            v.transpose(&ids, 2).unwrap(),
            [VELOCITY + 3, NOTE_ON + 62, TIME_SHIFT + 5, NOTE_OFF + 62]
        );
        assert!(v.transpose(&[NOTE_ON + 127], 1).is_none());
    }
}
