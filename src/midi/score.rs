//! `Score`: the one in-memory music type that readers, tokenisers, models and renderers meet at.

use crate::error::{Error, Result};

/// The most notes a `Score` may hold; larger inputs are rejected as bad input.
pub const MAX_NOTES: usize = 500_000;

/// MIDI channel 10 (0-based 9) carries General MIDI drums.
pub const DRUM_CHANNEL: u8 = 9;

/// Default ticks per quarter note for scores made in code.
pub const DEFAULT_PPQ: u16 = 480;

/// Default tempo (microseconds per quarter note) when a file sets none: 120 BPM.
pub const DEFAULT_US_PER_QUARTER: u32 = 500_000;

/// One sounding note. Times are held both in ticks and in seconds; `TempoMap` converts between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// MIDI key 0–127.
    pub pitch: u8,
    /// MIDI velocity 1–127.
    pub velocity: u8,
    /// Onset in ticks.
    pub start_tick: u64,
    /// Release in ticks (> `start_tick`).
    pub end_tick: u64,
    /// Onset in seconds.
    pub start: f64,
    /// Release in seconds.
    pub end: f64,
    /// MIDI channel 0–15 (9 = drums).
    pub channel: u8,
    /// General MIDI program 0–127 active on the channel at the onset.
    pub program: u8,
    /// Index into `Score::tracks`.
    pub track: usize,
}

impl Note {
    /// True for notes on the General MIDI drum channel.
    pub fn is_drum(&self) -> bool {
        self.channel == DRUM_CHANNEL
    }

    /// Duration in seconds.
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// What a track is for, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackRole {
    /// Nothing known.
    #[default]
    Other,
    /// The lead melody (POP909 `MELODY`).
    Melody,
    /// A secondary melody (POP909 `BRIDGE`).
    Bridge,
    /// Accompaniment (POP909 `PIANO`).
    Accompaniment,
    /// Only drum-channel notes.
    Drums,
    /// A chorale voice: 0 soprano, 1 alto, 2 tenor, 3 bass.
    Voice(u8),
}

/// A track of the score (an SMF track when read from or written to a file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Track {
    /// The track name meta event, or empty.
    pub name: String,
    /// The track's role.
    pub role: TrackRole,
}

/// A tempo change at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempoChange {
    /// Where the tempo takes effect.
    pub tick: u64,
    /// Microseconds per quarter note.
    pub us_per_quarter: u32,
}

/// Tick ↔ second conversion for a score: the resolution and the tempo changes.
#[derive(Debug, Clone, PartialEq)]
pub struct TempoMap {
    ppq: u16,
    /// Sorted by tick; the first is at tick 0.
    changes: Vec<TempoChange>,
    /// Seconds at each change, cached.
    seconds: Vec<f64>,
}

impl TempoMap {
    /// A map with one tempo from tick 0. `ppq` must be > 0 and the tempo > 0.
    pub fn constant(ppq: u16, us_per_quarter: u32) -> Result<Self> {
        Self::new(
            ppq,
            vec![TempoChange {
                tick: 0,
                us_per_quarter,
            }],
        )
    }

    /// A map from tempo changes in any order. Later changes at the same tick win; a missing change at
    /// tick 0 gets the default 120 BPM.
    pub fn new(ppq: u16, mut changes: Vec<TempoChange>) -> Result<Self> {
        if ppq == 0 {
            return Err(Error::Invalid("ticks per quarter note must be > 0".into()));
        }
        if let Some(c) = changes.iter().find(|c| c.us_per_quarter == 0) {
            return Err(Error::Invalid(format!(
                "tempo of 0 µs per quarter note at tick {}",
                c.tick
            )));
        }
        changes.sort_by_key(|c| c.tick);
        if changes.first().is_none_or(|c| c.tick != 0) {
            // The default tempo until the first change (before the repeats are dropped, so a first
            // change to the default itself is dropped too).
            changes.insert(
                0,
                TempoChange {
                    tick: 0,
                    us_per_quarter: DEFAULT_US_PER_QUARTER,
                },
            );
        }
        let mut dedup: Vec<TempoChange> = Vec::with_capacity(changes.len() + 1);
        for c in changes {
            match dedup.last_mut() {
                Some(last) if last.tick == c.tick => *last = c,
                Some(last) if last.us_per_quarter == c.us_per_quarter => {}
                _ => dedup.push(c),
            }
        }
        let mut seconds = Vec::with_capacity(dedup.len());
        let mut acc = 0.0;
        for (i, c) in dedup.iter().enumerate() {
            if i > 0 {
                let prev = dedup[i - 1];
                acc += span_seconds(c.tick - prev.tick, prev.us_per_quarter, ppq);
            }
            seconds.push(acc);
        }
        Ok(TempoMap {
            ppq,
            changes: dedup,
            seconds,
        })
    }

    /// Ticks per quarter note.
    pub fn ppq(&self) -> u16 {
        self.ppq
    }

    /// The tempo changes, sorted, the first at tick 0.
    pub fn changes(&self) -> &[TempoChange] {
        &self.changes
    }

    fn index_at_tick(&self, tick: u64) -> usize {
        self.changes.partition_point(|c| c.tick <= tick).max(1) - 1
    }

    /// Seconds from the start to `tick`.
    pub fn seconds(&self, tick: u64) -> f64 {
        let i = self.index_at_tick(tick);
        let c = self.changes[i];
        self.seconds[i] + span_seconds(tick - c.tick, c.us_per_quarter, self.ppq)
    }

    /// The tick nearest to `seconds` (negative times map to 0).
    pub fn tick(&self, seconds: f64) -> u64 {
        if seconds.is_nan() || seconds <= 0.0 {
            return 0;
        }
        let i = self.seconds.partition_point(|&s| s <= seconds).max(1) - 1;
        let c = self.changes[i];
        let ticks_per_second = self.ppq as f64 * 1e6 / c.us_per_quarter as f64;
        c.tick + ((seconds - self.seconds[i]) * ticks_per_second).round() as u64
    }

    /// Tempo in beats (quarter notes) per minute at `tick`.
    pub fn bpm(&self, tick: u64) -> f64 {
        60e6 / self.changes[self.index_at_tick(tick)].us_per_quarter as f64
    }
}

fn span_seconds(ticks: u64, us_per_quarter: u32, ppq: u16) -> f64 {
    ticks as f64 * us_per_quarter as f64 / (1e6 * ppq as f64)
}

/// A time signature change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSignature {
    /// Where it takes effect.
    pub tick: u64,
    /// Beats per bar.
    pub numerator: u8,
    /// Beat unit (4 = quarter note).
    pub denominator: u16,
}

/// A span during which the sustain pedal (CC64 ≥ 64) is held on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct SustainSpan {
    /// MIDI channel.
    pub channel: u8,
    /// Track the pedal events came from.
    pub track: usize,
    /// Pedal down, in ticks.
    pub start_tick: u64,
    /// Pedal up, in ticks.
    pub end_tick: u64,
    /// Pedal down, in seconds.
    pub start: f64,
    /// Pedal up, in seconds.
    pub end: f64,
}

/// A channel event other than notes, programs and sustain, kept so renders sound like the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// Control change `number` (never 64, which lives in `Score::sustain`) set to `value`.
    Controller {
        /// Controller number 0–127.
        number: u8,
        /// Value 0–127.
        value: u8,
    },
    /// Pitch bend, −8192…8191.
    PitchBend(i16),
}

/// A control event at a time on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// When, in ticks.
    pub tick: u64,
    /// When, in seconds.
    pub seconds: f64,
    /// MIDI channel.
    pub channel: u8,
    /// Track it came from.
    pub track: usize,
    /// What it does.
    pub kind: ControlKind,
}

/// A piece of music: notes, tracks, tempo map, time signatures, sustain spans and other controls.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Tick ↔ second conversion.
    pub tempo_map: TempoMap,
    /// Time signature changes, sorted by tick.
    pub time_signatures: Vec<TimeSignature>,
    /// Tracks; `Note::track` indexes here.
    pub tracks: Vec<Track>,
    /// Notes, sorted by (start tick, track, pitch).
    pub notes: Vec<Note>,
    /// Sustain-pedal spans, sorted by start tick.
    pub sustain: Vec<SustainSpan>,
    /// Other channel controls, sorted by tick.
    pub controls: Vec<Control>,
}

impl Score {
    /// Notes of the tracks with `role` (drums left out), as `(start, end, pitch, velocity)` ticks.
    pub fn role_notes(&self, role: TrackRole) -> Vec<(u64, u64, u8, u8)> {
        self.notes
            .iter()
            .filter(|n| !n.is_drum() && self.tracks.get(n.track).map(|t| t.role) == Some(role))
            .map(|n| (n.start_tick, n.end_tick, n.pitch, n.velocity))
            .collect()
    }

    /// An empty score with one tempo.
    pub fn new(ppq: u16, us_per_quarter: u32) -> Result<Self> {
        Ok(Score {
            tempo_map: TempoMap::constant(ppq, us_per_quarter)?,
            time_signatures: Vec::new(),
            tracks: Vec::new(),
            notes: Vec::new(),
            sustain: Vec::new(),
            controls: Vec::new(),
        })
    }

    /// Ticks per quarter note.
    pub fn ppq(&self) -> u16 {
        self.tempo_map.ppq()
    }

    /// Adds a track and returns its index.
    pub fn add_track(&mut self, name: &str, role: TrackRole) -> usize {
        self.tracks.push(Track {
            name: name.to_string(),
            role,
        });
        self.tracks.len() - 1
    }

    /// Adds a note given in ticks (seconds are computed); the end is kept at least one tick after the start.
    #[allow(clippy::too_many_arguments)]
    pub fn push_note_ticks(
        &mut self,
        track: usize,
        channel: u8,
        program: u8,
        pitch: u8,
        velocity: u8,
        start_tick: u64,
        end_tick: u64,
    ) {
        let end_tick = end_tick.max(start_tick + 1);
        self.notes.push(Note {
            pitch,
            velocity,
            start_tick,
            end_tick,
            start: self.tempo_map.seconds(start_tick),
            end: self.tempo_map.seconds(end_tick),
            channel,
            program,
            track,
        });
    }

    /// Adds a note given in seconds (ticks are computed and kept at least one apart).
    #[allow(clippy::too_many_arguments)]
    pub fn push_note_seconds(
        &mut self,
        track: usize,
        channel: u8,
        program: u8,
        pitch: u8,
        velocity: u8,
        start: f64,
        end: f64,
    ) {
        let start_tick = self.tempo_map.tick(start);
        let end_tick = self.tempo_map.tick(end).max(start_tick + 1);
        self.notes.push(Note {
            pitch,
            velocity,
            start_tick,
            end_tick,
            start,
            end: if end > start {
                end
            } else {
                self.tempo_map.seconds(end_tick)
            },
            channel,
            program,
            track,
        });
    }

    /// Sorts notes, spans and controls into their canonical order.
    pub fn sort(&mut self) {
        self.notes.sort_by(|a, b| {
            (a.start_tick, a.track, a.pitch, a.end_tick).cmp(&(
                b.start_tick,
                b.track,
                b.pitch,
                b.end_tick,
            ))
        });
        self.sustain
            .sort_by_key(|s| (s.start_tick, s.channel, s.track));
        self.controls.sort_by_key(|c| c.tick);
        self.time_signatures.sort_by_key(|t| t.tick);
    }

    /// Recomputes every time in seconds from ticks (after the tempo map changed).
    pub fn retime(&mut self) {
        let map = &self.tempo_map;
        for n in &mut self.notes {
            n.start = map.seconds(n.start_tick);
            n.end = map.seconds(n.end_tick);
        }
        for s in &mut self.sustain {
            s.start = map.seconds(s.start_tick);
            s.end = map.seconds(s.end_tick);
        }
        for c in &mut self.controls {
            c.seconds = map.seconds(c.tick);
        }
    }

    /// The end of the last note or span, in seconds.
    pub fn duration(&self) -> f64 {
        let notes = self.notes.iter().map(|n| n.end);
        let spans = self.sustain.iter().map(|s| s.end);
        notes.chain(spans).fold(0.0, f64::max)
    }

    /// The end of the last note or span, in ticks.
    pub fn end_tick(&self) -> u64 {
        let notes = self.notes.iter().map(|n| n.end_tick);
        let spans = self.sustain.iter().map(|s| s.end_tick);
        notes.chain(spans).max().unwrap_or(0)
    }

    /// The notes of one track.
    pub fn track_notes(&self, track: usize) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(move |n| n.track == track)
    }

    /// The notes that start in `[from, to)` seconds, moved to start at tick 0, at the tempo and
    /// time signature in force at `from` (e.g. a selected span used as a theme). Tracks are kept.
    pub fn excerpt(&self, from: f64, to: f64) -> Result<Score> {
        let (a, b) = (
            self.tempo_map.tick(from.max(0.0)),
            self.tempo_map.tick(to.max(0.0)),
        );
        let us = (60e6 / self.tempo_map.bpm(a)).round() as u32;
        let mut out = Score::new(self.ppq(), us)?;
        out.tracks = self.tracks.clone();
        if let Some(ts) = self.time_signatures.iter().rev().find(|t| t.tick <= a) {
            out.time_signatures.push(TimeSignature { tick: 0, ..*ts });
        }
        for n in self.notes.iter().filter(|n| (a..b).contains(&n.start_tick)) {
            let (start, end) = (n.start_tick - a, n.end_tick.min(b) - a);
            out.push_note_ticks(
                n.track, n.channel, n.program, n.pitch, n.velocity, start, end,
            );
        }
        out.sort();
        Ok(out)
    }

    /// The music before `seconds` (e.g. to continue from a cursor): notes and pedal spans that start
    /// earlier are kept, cut off there if they sound past it; later notes and controls are dropped.
    /// Tracks, tempo map and time signatures are kept whole.
    pub fn until(&self, seconds: f64) -> Score {
        let cut = self.tempo_map.tick(seconds.max(0.0));
        let mut out = self.clone();
        out.notes.retain(|n| n.start_tick < cut);
        for n in &mut out.notes {
            n.end_tick = n.end_tick.min(cut);
        }
        out.sustain.retain(|s| s.start_tick < cut);
        for s in &mut out.sustain {
            s.end_tick = s.end_tick.min(cut);
        }
        out.controls.retain(|c| c.tick < cut);
        out.retime();
        out
    }
}
