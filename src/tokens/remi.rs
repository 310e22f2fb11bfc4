//! REMI-style tokens like the Theme Transformer's (Shih et al. 2022): Bar, Position (16 per bar),
//! Tempo (17–194 BPM in steps of 3), Theme_Start / Theme_End, and per track (MELODY, PIANO) Velocity,
//! Note-On and Duration (1–64 sixteenths). A note is `Velocity, Note-On, Duration` after the Position
//! of its onset; a Position is written only when it changes within a bar.

use super::{special_name, Vocab, EOS};
use crate::error::{Error, Result};
use crate::midi::{Score, TrackRole};

/// The bar token.
pub const BAR: u32 = 3;
/// First Position id (position 0 of 16).
pub const POSITION: u32 = 4;
/// Positions per bar (16ths of 4/4).
pub const POSITIONS: u32 = 16;
/// First Tempo id (17 BPM).
pub const TEMPO: u32 = POSITION + POSITIONS;
/// Tempo values: 17, 20, …, 194.
pub const TEMPOS: u32 = 60;
/// Theme region starts (before its first Bar).
pub const THEME_START: u32 = TEMPO + TEMPOS;
/// Theme region ends (before the Bar after it).
pub const THEME_END: u32 = THEME_START + 1;
/// First per-track id.
pub const TRACKS: u32 = THEME_END + 1;
/// Ids per track: 32 velocities, 128 pitches, 64 durations.
pub const PER_TRACK: u32 = 32 + 128 + 64;
/// Vocabulary size.
pub const SIZE: u32 = TRACKS + 2 * PER_TRACK;
/// Longest duration in sixteenths.
pub const MAX_DURATION: u32 = 64;

/// The two tracks of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The lead melody.
    Melody = 0,
    /// Everything else (POP909's BRIDGE and PIANO).
    Piano = 1,
}

impl Part {
    fn base(self) -> u32 {
        TRACKS + self as u32 * PER_TRACK
    }
    /// The Velocity id of bin `b` (1–32).
    pub fn velocity(self, b: u8) -> u32 {
        self.base() + b.clamp(1, 32) as u32 - 1
    }
    /// The Note-On id of `pitch`.
    pub fn note_on(self, pitch: u8) -> u32 {
        self.base() + 32 + (pitch & 127) as u32
    }
    /// The Duration id of `d` sixteenths (1–64).
    pub fn duration(self, d: u32) -> u32 {
        self.base() + 32 + 128 + d.clamp(1, MAX_DURATION) - 1
    }
}

/// What an id means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// PAD, BOS or EOS.
    Special(u32),
    /// A new bar.
    Bar,
    /// Position 0–15 in the bar.
    Position(u32),
    /// Tempo in BPM.
    Tempo(u32),
    /// A theme region starts.
    ThemeStart,
    /// A theme region ends.
    ThemeEnd,
    /// Velocity bin 1–32.
    Velocity(Part, u8),
    /// A key goes down.
    NoteOn(Part, u8),
    /// The note's length in sixteenths.
    Duration(Part, u32),
}

/// Decodes an id.
pub fn token(id: u32) -> Option<Token> {
    Some(match id {
        i if i < BAR => Token::Special(i),
        BAR => Token::Bar,
        i if i < TEMPO => Token::Position(i - POSITION),
        i if i < THEME_START => Token::Tempo(17 + 3 * (i - TEMPO)),
        THEME_START => Token::ThemeStart,
        THEME_END => Token::ThemeEnd,
        i if i < SIZE => {
            let part = if i < TRACKS + PER_TRACK {
                Part::Melody
            } else {
                Part::Piano
            };
            let k = i - part.base();
            match k {
                k if k < 32 => Token::Velocity(part, k as u8 + 1),
                k if k < 160 => Token::NoteOn(part, (k - 32) as u8),
                k => Token::Duration(part, k - 160 + 1),
            }
        }
        _ => return None,
    })
}

/// The Tempo id nearest to `bpm`.
pub fn tempo_id(bpm: f64) -> u32 {
    TEMPO + (((bpm - 17.0) / 3.0).round().clamp(0.0, (TEMPOS - 1) as f64)) as u32
}

/// Where a note from `start` to `end` (ticks) lands on the grid of `bars` (bar start ticks and one
/// past the end): its bar, position (0–15, a sixteenth of that bar) and duration in sixteenths
/// (1–64). An onset that rounds to the next bar's downbeat belongs to that bar. `None` after the
/// last bar.
pub fn grid_place(bars: &[u64], start: u64, end: u64) -> Option<(usize, u32, u32)> {
    let b = bars.partition_point(|&t| t <= start).saturating_sub(1);
    let len = bars.get(b + 1)? - bars[b];
    let sixteenth = (len as f64 / POSITIONS as f64).max(1.0);
    let mut pos = (start.saturating_sub(bars[b]) as f64 / sixteenth).round() as u32;
    let mut bar = b;
    if pos >= POSITIONS {
        pos = 0;
        bar += 1;
    }
    let dur =
        ((end.saturating_sub(start) as f64 / sixteenth).round() as u32).clamp(1, MAX_DURATION);
    Some((bar, pos, dur))
}

/// The REMI vocabulary. Bars come from `bars` (start ticks; see `theme::retrieval`) when given,
/// else from the time signatures; `themes` are bar ranges `[first, end)` marked with
/// Theme_Start/Theme_End.
#[derive(Debug, Clone, Default)]
pub struct RemiVocab {
    /// Bar start ticks of the score to encode (and one past the end).
    pub bars: Option<Vec<u64>>,
    /// Theme regions, in bars.
    pub themes: Vec<(usize, usize)>,
    /// Encode every note as the PIANO part, whatever its track's role (the beat-aware piano model:
    /// a user's file says nothing reliable about which track is the melody).
    pub one_part: bool,
}

/// Ticks per sixteenth in decoded scores (480 PPQ).
const DECODED_SIXTEENTH: u64 = 120;

impl RemiVocab {
    fn part_of(&self, score: &Score, track: usize) -> Part {
        if self.one_part {
            return Part::Piano;
        }
        match score.tracks.get(track).map(|t| t.role) {
            Some(TrackRole::Melody) => Part::Melody,
            _ => Part::Piano,
        }
    }
}

impl Vocab for RemiVocab {
    fn size(&self) -> usize {
        SIZE as usize
    }

    fn encode(&self, score: &Score) -> Result<Vec<u32>> {
        let end = score.end_tick();
        let bars = match &self.bars {
            Some(b) => b.clone(),
            None => crate::midi::bar_starts(score, end),
        };
        // (bar, position, part, pitch, velocity bin, duration) for every non-drum note.
        let mut events: Vec<(usize, u32, u8, u8, u8, u32)> = Vec::new();
        for n in score.notes.iter().filter(|n| !n.is_drum()) {
            let Some((bar, pos, dur)) = grid_place(&bars, n.start_tick, n.end_tick) else {
                continue;
            };
            let part = self.part_of(score, n.track);
            let bin = super::performance::velocity_bin(n.velocity);
            events.push((bar, pos, part as u8, n.pitch, bin, dur));
        }
        events.sort();
        let last_bar = events.last().map_or(0, |e| e.0);
        let mut ids = Vec::with_capacity(events.len() * 4 + last_bar * 2);
        let mut next = events.iter().peekable();
        let mut tempo = None;
        for bar in 0..=last_bar {
            if self.themes.iter().any(|&(a, _)| a == bar) {
                ids.push(THEME_START);
            }
            ids.push(BAR);
            let bpm = score.tempo_map.bpm(bars.get(bar).copied().unwrap_or(0));
            let t = tempo_id(bpm);
            let mut position = None;
            if tempo != Some(t) {
                ids.extend([POSITION, t]);
                position = Some(0);
                tempo = Some(t);
            }
            while let Some(&&(b, pos, part, pitch, bin, dur)) = next.peek() {
                if b != bar {
                    break;
                }
                next.next();
                if position != Some(pos) {
                    ids.push(POSITION + pos);
                    position = Some(pos);
                }
                let part = if part == 0 { Part::Melody } else { Part::Piano };
                ids.extend([part.velocity(bin), part.note_on(pitch), part.duration(dur)]);
            }
            if self.themes.iter().any(|&(_, e)| e == bar + 1) {
                ids.push(THEME_END);
            }
        }
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<Score> {
        let mut score = Score::new(480, 500_000)?;
        let melody = score.add_track("MELODY", TrackRole::Melody);
        let piano = score.add_track("PIANO", TrackRole::Accompaniment);
        let bar_ticks = DECODED_SIXTEENTH * POSITIONS as u64;
        let (mut bar, mut pos) = (None::<u64>, 0u64);
        let mut velocity = [64u8; 2];
        let mut pending: Option<(Part, u8)> = None;
        let mut tempos: Vec<crate::midi::TempoChange> = Vec::new();
        for &id in ids {
            if id == EOS {
                break;
            }
            let tok = token(id).ok_or_else(|| {
                Error::Invalid(format!(
                    "token {id} is outside the REMI vocabulary (size {SIZE})"
                ))
            })?;
            let start = bar.unwrap_or(0) * bar_ticks + pos * DECODED_SIXTEENTH;
            match tok {
                Token::Bar => {
                    bar = Some(bar.map_or(0, |b| b + 1));
                    pos = 0;
                }
                Token::Position(p) => pos = p as u64,
                Token::Tempo(bpm) => {
                    let us = (60e6 / bpm as f64).round() as u32;
                    if tempos.last().is_none_or(|t| t.us_per_quarter != us) {
                        tempos.push(crate::midi::TempoChange {
                            tick: start,
                            us_per_quarter: us,
                        });
                    }
                }
                Token::Velocity(part, b) => {
                    velocity[part as usize] = super::performance::bin_velocity(b)
                }
                Token::NoteOn(part, pitch) => pending = Some((part, pitch)),
                Token::Duration(part, d) => {
                    if let Some((p, pitch)) = pending.take().filter(|(p, _)| *p == part) {
                        let track = if p == Part::Melody { melody } else { piano };
                        let end = start + d as u64 * DECODED_SIXTEENTH;
                        score.push_note_ticks(
                            track,
                            p as u8,
                            0,
                            pitch,
                            velocity[p as usize],
                            start,
                            end,
                        );
                    }
                }
                Token::Special(_) | Token::ThemeStart | Token::ThemeEnd => {}
            }
        }
        if !tempos.is_empty() {
            if tempos[0].tick > 0 {
                tempos.insert(
                    0,
                    crate::midi::TempoChange {
                        tick: 0,
                        us_per_quarter: tempos[0].us_per_quarter,
                    },
                );
            }
            score.tempo_map = crate::midi::TempoMap::new(480, tempos)?;
            score.retime();
        }
        score.time_signatures = vec![crate::midi::TimeSignature {
            tick: 0,
            numerator: 4,
            denominator: 4,
        }];
        score.sort();
        Ok(score)
    }

    fn token_name(&self, id: u32) -> String {
        if let Some(name) = special_name(id) {
            return name.to_string();
        }
        let part = |p: Part| if p == Part::Melody { "MELODY" } else { "PIANO" };
        match token(id) {
            Some(Token::Bar) => "Bar".into(),
            Some(Token::Position(p)) => format!("Position_{p}/16"),
            Some(Token::Tempo(t)) => format!("Tempo_{t}"),
            Some(Token::ThemeStart) => "Theme_Start".into(),
            Some(Token::ThemeEnd) => "Theme_End".into(),
            Some(Token::Velocity(p, b)) => format!("Velocity_{}_{b}", part(p)),
            Some(Token::NoteOn(p, n)) => format!("Note-On_{}_{n}", part(p)),
            Some(Token::Duration(p, d)) => format!("Duration_{}_{d}", part(p)),
            Some(Token::Special(_)) | None => format!("INVALID({id})"),
        }
    }

    fn transpose(&self, ids: &[u32], semitones: i32) -> Option<Vec<u32>> {
        super::shift_ranges(
            ids,
            &[
                (Part::Melody.note_on(0), 128),
                (Part::Piano.note_on(0), 128),
            ],
            semitones,
        )
    }
}

/// The time position of tokens one at a time: `1 + 16·bar + position`, counting bars from the
/// stream's first Bar; 0 before it.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeCounter {
    bar: Option<u32>,
    pos: u32,
}

impl TimeCounter {
    /// The time position of the next token `id`.
    pub fn next(&mut self, id: u32) -> u32 {
        match token(id) {
            Some(Token::Bar) => {
                self.bar = Some(self.bar.map_or(0, |b| b + 1));
                self.pos = 0;
            }
            Some(Token::Position(p)) => self.pos = p,
            _ => {}
        }
        self.bar.map_or(0, |b| 1 + b * POSITIONS + self.pos)
    }
}

/// The time positions of a token stream (see [`TimeCounter`]).
pub fn time_positions(ids: &[u32]) -> Vec<u32> {
    let mut c = TimeCounter::default();
    ids.iter().map(|&id| c.next(id)).collect()
}

/// Metrical states of [`beat_state`]: the sixteenths 0–15 of the bar, and [`NO_POSITION`].
pub const BEAT_STATES: u32 = POSITIONS + 1;
/// The metrical state before a stream's first Position and after each Bar (no sixteenth yet).
pub const NO_POSITION: u32 = POSITIONS;

/// The metrical state after token `id` when it was `state` before: the sixteenth of the last
/// Position token, [`NO_POSITION`] after a Bar; other tokens keep it.
pub fn beat_state(state: u32, id: u32) -> u32 {
    match token(id) {
        Some(Token::Bar) => NO_POSITION,
        Some(Token::Position(p)) => p,
        _ => state,
    }
}

/// The metrical state after each token of `ids`, starting from `state`.
pub fn beat_states(ids: &[u32], mut state: u32) -> Vec<u32> {
    ids.iter()
        .map(|&id| {
            state = beat_state(state, id);
            state
        })
        .collect()
}

/// Where a REMI stream is, for the grammar mask of generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemiState {
    /// Bars started.
    pub bars: usize,
    /// Inside a theme region.
    pub in_theme: bool,
    last: Option<Token>,
    position: Option<u32>,
    /// Pitches started at the current position, per part (melody, piano), as bit sets.
    onsets: [u128; 2],
    /// Notes started at the current position.
    notes_here: u32,
}

/// Most notes generation may start at one position (all 800 POP909 training songs have at most 15,
/// melody and piano together); past it only a later position or the next bar may follow. It stops
/// the rare runaway where a sampled stream piles up notes on one sixteenth.
pub const MAX_NOTES_AT_ONCE: u32 = 16;

fn part_index(part: Part) -> usize {
    match part {
        Part::Melody => 0,
        Part::Piano => 1,
    }
}

impl RemiState {
    /// Takes one token.
    pub fn push(&mut self, id: u32) {
        let Some(t) = token(id) else { return };
        match t {
            Token::Bar => {
                self.bars += 1;
                self.position = None;
                self.onsets = [0; 2];
                self.notes_here = 0;
            }
            Token::Position(p) => {
                self.position = Some(p);
                self.onsets = [0; 2];
                self.notes_here = 0;
            }
            Token::NoteOn(part, pitch) => {
                self.onsets[part_index(part)] |= 1u128 << pitch;
                self.notes_here += 1;
            }
            Token::ThemeStart => self.in_theme = true,
            Token::ThemeEnd => self.in_theme = false,
            _ => {}
        }
        if !matches!(t, Token::Special(_)) {
            self.last = Some(t);
        }
    }

    /// The tokens that keep the stream well formed: a bar is `[Theme_Start] Bar [Position Tempo]
    /// (Position? Velocity Note-On Duration)* [Theme_End]`, positions rise within a bar, a note's three
    /// tokens share a track, theme regions open only between bars and close only inside, a part
    /// does not start the same pitch twice at one position, and at most [`MAX_NOTES_AT_ONCE`] notes
    /// start there. With `themes` false no region can open (prompt-only decoding).
    pub fn allowed(&self, themes: bool) -> Vec<bool> {
        let room = self.notes_here < MAX_NOTES_AT_ONCE;
        let mut ok = vec![false; SIZE as usize];
        let mut allow = |id: u32| ok[id as usize] = true;
        let positions_after = |allow: &mut dyn FnMut(u32), after: Option<u32>| {
            let from = after.map_or(0, |p| p + 1);
            for p in from..POSITIONS {
                allow(POSITION + p);
            }
        };
        let between_bars = |allow: &mut dyn FnMut(u32)| {
            allow(BAR);
            if self.in_theme {
                allow(THEME_END);
            } else if themes {
                allow(THEME_START);
            }
        };
        match self.last {
            None | Some(Token::Special(_)) | Some(Token::ThemeEnd) => {
                allow(BAR);
                if themes && !self.in_theme {
                    allow(THEME_START);
                }
            }
            Some(Token::ThemeStart) => allow(BAR),
            Some(Token::Bar) => {
                positions_after(&mut allow, None);
                between_bars(&mut allow);
            }
            Some(Token::Position(_)) => {
                (TEMPO..THEME_START).for_each(&mut allow);
                for part in [Part::Melody, Part::Piano] {
                    (1..=32).for_each(|b| allow(part.velocity(b)));
                }
            }
            Some(Token::Tempo(_)) => {
                positions_after(&mut allow, self.position);
                for part in [Part::Melody, Part::Piano].into_iter().filter(|_| room) {
                    (1..=32).for_each(|b| allow(part.velocity(b)));
                }
                between_bars(&mut allow);
            }
            Some(Token::Velocity(part, _)) => {
                let started = self.onsets[part_index(part)];
                (0..128u8)
                    .filter(|&p| started & (1u128 << p) == 0)
                    .for_each(|p| allow(part.note_on(p)))
            }
            Some(Token::NoteOn(part, _)) => {
                (1..=MAX_DURATION).for_each(|d| allow(part.duration(d)))
            }
            Some(Token::Duration(..)) => {
                positions_after(&mut allow, self.position);
                for part in [Part::Melody, Part::Piano].into_iter().filter(|_| room) {
                    (1..=32).for_each(|b| allow(part.velocity(b)));
                }
                between_bars(&mut allow);
            }
        }
        ok
    }
}

/// The encoder's positions of a theme: token indices, or time positions.
pub fn encoder_positions(theme: &[u32], time_aligned: bool) -> Vec<u32> {
    if time_aligned {
        time_positions(theme)
    } else {
        (0..theme.len() as u32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beat_states_follow_positions_and_bars() {
        let v = Part::Piano.velocity(9);
        let ids = [BAR, POSITION, v, POSITION + 7, v, BAR, v, POSITION + 3];
        assert_eq!(
            beat_states(&ids, NO_POSITION),
            [NO_POSITION, 0, 0, 7, 7, NO_POSITION, NO_POSITION, 3]
        );
        assert_eq!(beat_states(&[v, v], 5), [5, 5]);
        assert_eq!(BEAT_STATES, 17);
    }

    fn two_bars() -> Score {
        let mut s = Score::new(480, 500_000).unwrap(); // 120 BPM
        let m = s.add_track("MELODY", TrackRole::Melody);
        let p = s.add_track("PIANO", TrackRole::Accompaniment);
        s.push_note_ticks(m, 0, 0, 72, 100, 0, 480); // bar 1, pos 0, 4 sixteenths
        s.push_note_ticks(p, 1, 0, 48, 60, 0, 1920); // a whole note
        s.push_note_ticks(m, 0, 0, 74, 100, 1920 + 240, 1920 + 480); // bar 2, pos 2
        s.sort();
        s
    }

    #[test]
    fn layout_and_a_known_encoding() {
        let v = RemiVocab::default();
        assert_eq!(SIZE, 82 + 448);
        assert_eq!(v.token_name(THEME_START), "Theme_Start");
        assert_eq!(v.token_name(Part::Piano.duration(64)), "Duration_PIANO_64");
        assert_eq!(v.token_name(tempo_id(120.0)), "Tempo_119");
        let ids = v.encode(&two_bars()).unwrap();
        let names: Vec<String> = ids.iter().map(|&i| v.token_name(i)).collect();
        assert_eq!(
            names,
            [
                "Bar",
                "Position_0/16",
                "Tempo_119",
                "Velocity_MELODY_25",
                "Note-On_MELODY_72",
                "Duration_MELODY_4",
                "Velocity_PIANO_15",
                "Note-On_PIANO_48",
                "Duration_PIANO_16",
                "Bar",
                "Position_2/16",
                "Velocity_MELODY_25",
                "Note-On_MELODY_74",
                "Duration_MELODY_2",
            ]
        );
    }

    #[test]
    fn decode_inverts_encode_on_the_grid_and_themes_are_marked() {
        let v = RemiVocab {
            bars: None,
            themes: vec![(1, 2)],
            one_part: false,
        };
        let s = two_bars();
        let ids = v.encode(&s).unwrap();
        assert_eq!(ids.iter().filter(|&&i| i == THEME_START).count(), 1);
        let pos = |t| ids.iter().position(|&i| i == t).unwrap();
        assert!(pos(THEME_START) < pos(THEME_END));
        assert_eq!(ids[pos(THEME_START) + 1], BAR);
        assert_eq!(*ids.last().unwrap(), THEME_END);
        let back = v.decode(&ids).unwrap();
        let notes = |s: &Score| {
            s.notes
                .iter()
                .map(|n| (s.tracks[n.track].role, n.pitch, n.start_tick, n.end_tick))
                .collect::<Vec<_>>()
        };
        assert_eq!(notes(&back), notes(&s));
        assert!((back.tempo_map.bpm(0) - 119.0).abs() < 0.01);
        assert!(v.decode(&[SIZE]).is_err());
        // Transposition moves only the pitches.
        let up = v.transpose(&ids, 2).unwrap();
        let back_up = v.decode(&up).unwrap();
        assert_eq!(back_up.notes[0].pitch, back.notes[0].pitch + 2);
        assert_eq!(back_up.notes.len(), back.notes.len());
    }

    #[test]
    fn encoded_songs_obey_the_grammar() {
        let v = RemiVocab {
            bars: None,
            themes: vec![(0, 1), (1, 2)],
            one_part: false,
        };
        let ids = v.encode(&two_bars()).unwrap();
        let mut state = RemiState::default();
        for &id in &ids {
            assert!(
                state.allowed(true)[id as usize],
                "{} refused",
                v.token_name(id)
            );
            state.push(id);
        }
        assert_eq!(state.bars, 2);
        // Without themes no region may open.
        assert!(!RemiState::default().allowed(false)[THEME_START as usize]);
        // A note's tokens stay on one track; positions only rise.
        let mut s = RemiState::default();
        for id in [BAR, POSITION + 4, Part::Piano.velocity(3)] {
            s.push(id);
        }
        let ok = s.allowed(true);
        assert!(ok[Part::Piano.note_on(60) as usize] && !ok[Part::Melody.note_on(60) as usize]);
        s.push(Part::Piano.note_on(60));
        s.push(Part::Piano.duration(4));
        let ok = s.allowed(true);
        assert!(!ok[(POSITION + 4) as usize] && ok[(POSITION + 5) as usize] && ok[BAR as usize]);
        assert!(!ok[THEME_END as usize] && ok[THEME_START as usize]);
    }

    #[test]
    fn one_position_takes_each_pitch_once_and_at_most_max_notes() {
        let mut s = RemiState::default();
        for id in [BAR, POSITION + 2] {
            s.push(id);
        }
        let note = |s: &mut RemiState, part: Part, pitch: u8| {
            for id in [part.velocity(5), part.note_on(pitch), part.duration(2)] {
                assert!(s.allowed(true)[id as usize], "{} refused", id);
                s.push(id);
            }
        };
        note(&mut s, Part::Piano, 60);
        s.push(Part::Piano.velocity(5));
        let ok = s.allowed(true);
        assert!(!ok[Part::Piano.note_on(60) as usize] && ok[Part::Piano.note_on(61) as usize]);
        s.push(Part::Piano.note_on(61));
        s.push(Part::Piano.duration(2));
        // The melody may still start the piano's pitch.
        note(&mut s, Part::Melody, 60);
        for p in 0..MAX_NOTES_AT_ONCE as u8 - 3 {
            note(&mut s, Part::Piano, 40 + p);
        }
        let ok = s.allowed(true);
        assert!(!ok[Part::Piano.velocity(5) as usize] && !ok[Part::Melody.velocity(5) as usize]);
        assert!(ok[(POSITION + 3) as usize] && ok[BAR as usize]);
        // A new position starts afresh.
        s.push(POSITION + 3);
        note(&mut s, Part::Piano, 60);
    }
}
