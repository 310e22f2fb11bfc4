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
        let mut stream = PerformanceStream::new();
        let mut notes = Vec::new();
        let mut keep = |e: StepEvent| {
            if let StepEvent::Closed(n) = e {
                notes.push(n)
            }
        };
        for &id in ids {
            stream.push_steps(id, &mut keep)?;
        }
        stream.finish_steps(&mut keep);
        notes.sort_by_key(|n| (n.on, n.pitch));
        Ok(notes)
    }

    /// Stretches time by `factor` (e.g. 1.05 = 5 % slower): every event keeps its order and moves to
    /// its original time × `factor`, rounded to the 10 ms grid. The time-stretch augmentation.
    pub fn stretch_time(ids: &[u32], factor: f64) -> Vec<u32> {
        let mut out = Vec::with_capacity(ids.len() + ids.len() / 8);
        let (mut original, mut emitted) = (0u64, 0u64);
        let flush = |out: &mut Vec<u32>, emitted: &mut u64, original: u64| {
            let target = (original as f64 * factor).round() as u64;
            push_shift(out, target.saturating_sub(*emitted));
            *emitted = target.max(*emitted);
        };
        for &id in ids {
            if (TIME_SHIFT..VELOCITY).contains(&id) {
                original += (id - TIME_SHIFT + 1) as u64;
            } else {
                flush(&mut out, &mut emitted, original);
                out.push(id);
            }
        }
        flush(&mut out, &mut emitted, original);
        out
    }
}

/// Appends TIME_SHIFT tokens for `steps` × 10 ms (1 s at most per token).
fn push_shift(ids: &mut Vec<u32>, mut steps: u64) {
    while steps > 0 {
        let shift = steps.min(MAX_SHIFT_STEPS);
        ids.push(TIME_SHIFT + shift as u32 - 1);
        steps -= shift;
    }
}

/// A note event decoded from performance tokens, in seconds from the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoteEvent {
    /// A key goes down.
    On {
        /// MIDI key.
        pitch: u8,
        /// MIDI velocity.
        velocity: u8,
        /// Seconds.
        time: f64,
    },
    /// A key comes up.
    Off {
        /// MIDI key.
        pitch: u8,
        /// Seconds.
        time: f64,
    },
}

impl NoteEvent {
    /// The event's time, seconds.
    pub fn time(&self) -> f64 {
        match *self {
            NoteEvent::On { time, .. } | NoteEvent::Off { time, .. } => time,
        }
    }

    /// The key.
    pub fn pitch(&self) -> u8 {
        match *self {
            NoteEvent::On { pitch, .. } | NoteEvent::Off { pitch, .. } => pitch,
        }
    }

    /// The velocity of a key going down; `None` for a key coming up.
    pub fn velocity(&self) -> Option<u8> {
        match *self {
            NoteEvent::On { velocity, .. } => Some(velocity),
            NoteEvent::Off { .. } => None,
        }
    }
}

/// What the stream saw, on the 10 ms grid.
enum StepEvent {
    Opened { pitch: u8, bin: u8, on: u64 },
    Closed(StepNote),
}

/// Decodes performance tokens one at a time into note events, as a generator produces them: the
/// live player and the piano roll consume a continuation while it is being written. `decode` is this
/// stream run to the end, so both agree by construction.
///
/// Rules: a NOTE_ON of a sounding key re-strikes it (the old note ends now); a second NOTE_ON of a key
/// in the step it was struck is the same note; a NOTE_OFF of a silent key is ignored; every note
/// lasts at least one step; `finish` (or EOS) releases what still sounds.
#[derive(Debug, Clone)]
pub struct PerformanceStream {
    now: u64,
    bin: u8,
    open: [Option<(u64, u8)>; 128],
    last_on: [Option<u64>; 128],
    ended: bool,
}

impl Default for PerformanceStream {
    fn default() -> Self {
        Self::new()
    }
}

impl PerformanceStream {
    /// An empty stream at time 0, velocity bin of MIDI velocity 64.
    pub fn new() -> Self {
        PerformanceStream {
            now: 0,
            bin: velocity_bin(64),
            open: [None; 128],
            last_on: [None; 128],
            ended: false,
        }
    }

    /// Seconds of music so far (the sum of the time shifts).
    pub fn seconds(&self) -> f64 {
        self.now as f64 * STEP_SECONDS
    }

    /// Keys sounding now.
    pub fn sounding(&self) -> usize {
        self.open.iter().filter(|o| o.is_some()).count()
    }

    /// The keys that have sounded for at least `steps` time steps, as a bit set (bit = pitch).
    pub fn held_at_least(&self, steps: u64) -> u128 {
        self.open
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_some_and(|(on, _)| self.now >= on + steps))
            .fold(0, |set, (pitch, _)| set | 1u128 << pitch)
    }

    /// True if `pitch` is sounding.
    pub fn is_sounding(&self, pitch: u8) -> bool {
        self.open[pitch as usize & 127].is_some()
    }

    /// Consumes one token, appending the note events it causes to `out`.
    pub fn push(&mut self, id: u32, out: &mut Vec<NoteEvent>) -> Result<()> {
        self.push_steps(id, &mut |e| out.push(e.seconds()))
    }

    /// Releases every sounding key (at least one step after its onset).
    pub fn finish(&mut self, out: &mut Vec<NoteEvent>) {
        self.finish_steps(&mut |e| out.push(e.seconds()))
    }

    fn close(&mut self, pitch: usize, emit: &mut dyn FnMut(StepEvent)) {
        if let Some((on, bin)) = self.open[pitch].take() {
            emit(StepEvent::Closed(StepNote {
                pitch: pitch as u8,
                bin,
                on,
                off: self.now.max(on + 1),
            }));
        }
    }

    fn push_steps(&mut self, id: u32, emit: &mut dyn FnMut(StepEvent)) -> Result<()> {
        if id >= SIZE {
            return Err(Error::Invalid(format!(
                "token {id} is outside the performance vocabulary (size {SIZE})"
            )));
        }
        if self.ended {
            return Ok(());
        }
        match id {
            EOS => {
                self.finish_steps(emit);
                self.ended = true;
            }
            i if i < NOTE_ON => {}
            i if i < NOTE_OFF => {
                let p = (i - NOTE_ON) as usize;
                if self.last_on[p] == Some(self.now) {
                    return Ok(());
                }
                self.close(p, emit);
                self.open[p] = Some((self.now, self.bin));
                self.last_on[p] = Some(self.now);
                emit(StepEvent::Opened {
                    pitch: p as u8,
                    bin: self.bin,
                    on: self.now,
                });
            }
            i if i < TIME_SHIFT => self.close((i - NOTE_OFF) as usize, emit),
            i if i < VELOCITY => self.now += (i - TIME_SHIFT + 1) as u64,
            i => self.bin = (i - VELOCITY + 1) as u8,
        }
        Ok(())
    }

    fn finish_steps(&mut self, emit: &mut dyn FnMut(StepEvent)) {
        for p in 0..128 {
            self.close(p, emit);
        }
    }
}

impl StepEvent {
    fn seconds(self) -> NoteEvent {
        match self {
            StepEvent::Opened { pitch, bin, on } => NoteEvent::On {
                pitch,
                velocity: bin_velocity(bin),
                time: on as f64 * STEP_SECONDS,
            },
            StepEvent::Closed(n) => NoteEvent::Off {
                pitch: n.pitch,
                time: n.off as f64 * STEP_SECONDS,
            },
        }
    }
}

/// Which performance tokens may come next: no PAD/BOS/EOS mid-stream, NOTE_OFF only for a sounding key,
/// no new key while `max_polyphony` keys sound (a re-strike is allowed), and once a key has sounded
/// for `max_hold` seconds less the longest time shift, only the release of such keys. Generation
/// with this mask cannot leave stuck notes, hold a key for `max_hold` seconds, or pile up voices.
pub fn grammar(stream: &PerformanceStream, max_polyphony: usize, max_hold: f64) -> Vec<bool> {
    let limit = ((max_hold / STEP_SECONDS).round() as u64).saturating_sub(MAX_SHIFT_STEPS);
    let overdue = stream.held_at_least(limit);
    if overdue != 0 {
        return (0..SIZE)
            .map(|id| (NOTE_OFF..TIME_SHIFT).contains(&id) && overdue >> (id - NOTE_OFF) & 1 == 1)
            .collect();
    }
    let full = stream.sounding() >= max_polyphony;
    (0..SIZE)
        .map(|id| match id {
            i if i < NOTE_ON => false,
            i if i < NOTE_OFF => !full || stream.is_sounding((i - NOTE_ON) as u8),
            i if i < TIME_SHIFT => stream.is_sounding((i - NOTE_OFF) as u8),
            _ => true,
        })
        .collect()
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
            push_shift(&mut ids, step - now);
            now = step;
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

    fn stretch(&self, ids: &[u32], factor: f64) -> Option<Vec<u32>> {
        Some(Self::stretch_time(ids, factor))
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

    #[test]
    fn stretch_moves_events_to_scaled_times() {
        let ids = [
            NOTE_ON + 60,
            TIME_SHIFT + 99,
            TIME_SHIFT + 19,
            NOTE_OFF + 60,
            TIME_SHIFT + 9,
        ];
        // 1.2 s → 1.26 s at ×1.05; the trailing 100 ms → 105 ms.
        let s = PerformanceVocab::stretch_time(&ids, 1.05);
        assert_eq!(
            s,
            [
                NOTE_ON + 60,
                TIME_SHIFT + 99,
                TIME_SHIFT + 25,
                NOTE_OFF + 60,
                TIME_SHIFT + 10
            ]
        );
        assert_eq!(PerformanceVocab::stretch_time(&ids, 1.0), ids);
    }

    #[test]
    fn stream_events_rebuild_the_decoded_notes() {
        let v = PerformanceVocab::default();
        let ids = [
            VELOCITY + 10,
            NOTE_ON + 60,
            NOTE_ON + 64,
            TIME_SHIFT + 49,
            NOTE_OFF + 60,
            NOTE_ON + 60,
            NOTE_ON + 60,
            NOTE_OFF + 70,
            TIME_SHIFT + 4,
        ];
        let mut stream = PerformanceStream::new();
        let mut events = Vec::new();
        for &id in &ids {
            stream.push(id, &mut events).unwrap();
        }
        assert_eq!(stream.sounding(), 2);
        stream.finish(&mut events);
        let on = |pitch, time| NoteEvent::On {
            pitch,
            velocity: bin_velocity(11),
            time,
        };
        let off = |pitch, time| NoteEvent::Off { pitch, time };
        assert_eq!(
            events,
            [
                on(60, 0.0),
                on(64, 0.0),
                off(60, 0.5),
                on(60, 0.5),
                off(60, 0.55),
                off(64, 0.55)
            ]
        );
        assert_eq!(v.decode(&ids).unwrap().notes.len(), 3);
    }

    #[test]
    fn grammar_allows_only_releases_of_sounding_keys_and_caps_polyphony() {
        let mut stream = PerformanceStream::new();
        let mut sink = Vec::new();
        for p in [60, 64] {
            stream.push(NOTE_ON + p, &mut sink).unwrap();
        }
        let g = grammar(&stream, 2, 8.0);
        assert!(!g[EOS as usize] && !g[0]);
        assert!(g[(NOTE_OFF + 60) as usize] && !g[(NOTE_OFF + 61) as usize]);
        assert!(!g[(NOTE_ON + 67) as usize] && g[(NOTE_ON + 64) as usize]);
        assert!(grammar(&stream, 3, 8.0)[(NOTE_ON + 67) as usize]);
        assert!(g[TIME_SHIFT as usize] && g[VELOCITY as usize]);
    }

    #[test]
    fn a_key_held_near_the_limit_must_be_released_before_time_moves() {
        let mut stream = PerformanceStream::new();
        let mut sink = Vec::new();
        stream.push(NOTE_ON + 60, &mut sink).unwrap();
        for _ in 0..6 {
            stream.push(TIME_SHIFT + 99, &mut sink).unwrap(); // 1 s each
        }
        stream.push(NOTE_ON + 64, &mut sink).unwrap();
        // 6 s held: with an 8 s limit the next shift (up to 1 s) is still allowed.
        assert!(grammar(&stream, 48, 8.0)[(TIME_SHIFT + 99) as usize]);
        stream.push(TIME_SHIFT + 99, &mut sink).unwrap();
        // 7 s: only the release of key 60 remains, so no shift can carry it to 8 s.
        let g = grammar(&stream, 48, 8.0);
        let allowed: Vec<u32> = (0..SIZE).filter(|&i| g[i as usize]).collect();
        assert_eq!(allowed, vec![NOTE_OFF + 60]);
        stream.push(NOTE_OFF + 60, &mut sink).unwrap();
        assert!(grammar(&stream, 48, 8.0)[(TIME_SHIFT + 99) as usize]);
    }
}
