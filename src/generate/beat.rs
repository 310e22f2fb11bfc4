//! Continuation with the beat-aware piano model (`VocabKind::Remi`: REMI bars, sixteenth positions,
//! tempi, and notes that carry their duration). The primer is read onto its bar grid (its time
//! signatures, or annotated downbeats), its last bars that fit are the prompt, and the new notes go
//! on from the primer's end at the right bar and sixteenth, on the primer's tempo map. Every note is
//! written with its length, so no key can be left down; lengths are kept under
//! [`MAX_NOTE_SECONDS`]. The model learns notes as written (key presses, no pedal), as the primer
//! is read.

use super::decode::Steer;
use super::piano::{free_channel, piano_reduction};
use super::request::{GenEvent, Length, Output, Request, Task};
use super::MAX_NOTE_SECONDS;
use crate::error::{Error, Result};
use crate::metrics::{self, find_key, Key};
use crate::midi::{Score, TempoMap, TrackRole};
use crate::model::MusicTransformer;
use crate::tokens::remi::{self, Part, RemiState, Token, POSITION, POSITIONS};
use crate::tokens::{NoteEvent, RemiVocab, Vocab, BOS};

/// Most notes a continuation may start at one sixteenth: 99.96 % of the onsets of POP909's songs
/// (notes starting within a 32nd note of each other) have at most 8 notes, 99.99 % at most 12
/// (`cargo run --release --example pop909_stats`). Without it an undertrained model now and then
/// piles up 16 notes on one sixteenth.
pub const MAX_NOTES_PER_ONSET: u32 = 8;

/// Tokens allowed per second of requested music before a sample is cut off (POP909 averages about
/// 24 beat-aware tokens per second).
pub(super) const MAX_TOKENS_PER_SECOND: f64 = 200.0;

/// Bar start ticks, extended past the last known bar with its length.
#[derive(Debug, Clone)]
pub struct BarGrid {
    starts: Vec<u64>,
}

impl BarGrid {
    /// A grid from bar start ticks (sorted; a bar of `default_len` ticks is added when fewer than
    /// two are given).
    pub fn new(mut starts: Vec<u64>, default_len: u64) -> Self {
        starts.dedup();
        if starts.is_empty() {
            starts.push(0);
        }
        if starts.len() < 2 {
            starts.push(starts[0] + default_len.max(1));
        }
        BarGrid { starts }
    }

    /// The grid of `score`'s time signatures (4/4 where it has none).
    pub fn of_score(score: &Score) -> Self {
        let end = score.end_tick();
        let ppq = score.ppq() as u64;
        BarGrid::new(crate::midi::bar_starts(score, end), 4 * ppq)
    }

    /// Where bar `bar` starts.
    pub fn start(&self, bar: usize) -> u64 {
        let n = self.starts.len();
        if bar < n {
            return self.starts[bar];
        }
        let last = self.starts[n - 1] - self.starts[n - 2];
        self.starts[n - 1] + (bar - (n - 1)) as u64 * last
    }

    /// The length of bar `bar` in ticks.
    pub fn len(&self, bar: usize) -> u64 {
        self.start(bar + 1) - self.start(bar)
    }

    /// The tick of sixteenth `pos` (0–15) of bar `bar`.
    pub fn tick(&self, bar: usize, pos: u32) -> u64 {
        self.start(bar) + self.len(bar) * pos as u64 / POSITIONS as u64
    }

    /// The bar holding `tick`.
    pub fn bar_of(&self, tick: u64) -> usize {
        let mut bar = self
            .starts
            .partition_point(|&s| s <= tick)
            .saturating_sub(1);
        while self.start(bar + 1) <= tick {
            bar += 1;
        }
        bar
    }

    /// The first grid point (bar, sixteenth) at or after `tick`.
    pub fn ceil(&self, tick: u64) -> (usize, u32) {
        let bar = self.bar_of(tick);
        let len = self.len(bar);
        let pos = ((tick - self.start(bar)) * POSITIONS as u64).div_ceil(len) as u32;
        if pos >= POSITIONS {
            (bar + 1, 0)
        } else {
            (bar, pos)
        }
    }
}

/// Where a continuation goes: the primer's bar grid and the tick it starts from.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The bars.
    pub grid: BarGrid,
    /// New notes start at or after this tick (rounded up to the grid's next sixteenth).
    pub from: u64,
}

impl Placement {
    /// After the end of `primer`'s last note, on the grid of its time signatures.
    pub fn after(primer: &Score) -> Self {
        let from = primer
            .notes
            .iter()
            .filter(|n| !n.is_drum())
            .map(|n| n.end_tick)
            .max()
            .unwrap_or(0);
        Placement {
            grid: BarGrid::of_score(primer),
            from,
        }
    }
}

/// A note read from REMI tokens, on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GridNote {
    bar: usize,
    pos: u32,
    sixteenths: u32,
    pitch: u8,
    velocity: u8,
}

/// Reads REMI tokens one at a time: the current bar (counted on the grid from `first_bar`), the
/// sixteenth, and each note once its duration arrives.
#[derive(Debug, Clone)]
struct Cursor {
    first_bar: usize,
    bar: Option<usize>,
    pos: u32,
    velocity: u8,
    pitch: Option<u8>,
    /// Notes started at the current sixteenth.
    here: u32,
}

impl Cursor {
    fn new(first_bar: usize) -> Self {
        Cursor {
            first_bar,
            bar: None,
            pos: 0,
            velocity: 64,
            pitch: None,
            here: 0,
        }
    }

    /// The current grid point (the first bar before any Bar token).
    fn at(&self) -> (usize, u32) {
        (self.bar.unwrap_or(self.first_bar), self.pos)
    }

    fn push(&mut self, id: u32) -> Option<GridNote> {
        match remi::token(id)? {
            Token::Bar => {
                self.bar = Some(self.bar.map_or(self.first_bar, |b| b + 1));
                self.pos = 0;
                self.here = 0;
            }
            Token::Position(p) => {
                self.pos = p;
                self.here = 0;
            }
            Token::Velocity(_, b) => self.velocity = crate::tokens::performance::bin_velocity(b),
            Token::NoteOn(_, p) => self.pitch = Some(p),
            Token::Duration(_, d) => {
                let (bar, pos) = self.at();
                self.here += 1;
                return self.pitch.take().map(|pitch| GridNote {
                    bar,
                    pos,
                    sixteenths: d,
                    pitch,
                    velocity: self.velocity,
                });
            }
            _ => {}
        }
        None
    }
}

/// The primer reduced to a prompt.
pub(super) struct Prompt {
    pub(super) ids: Vec<u32>,
    /// The key of the primer's notes before the start.
    pub(super) key: Option<Key>,
    /// The grid bar of the first Bar token the cursor reads.
    pub(super) first_bar: usize,
    /// The first grid point new notes may take.
    pub(super) from: (usize, u32),
    /// Where in `ids` the grid cursor starts reading (0; an infilling prompt's length, since its
    /// bars are not in time order).
    pub(super) cursor_from: usize,
}

impl Prompt {
    /// The grid cursor after the prompt.
    fn cursor(&self) -> Cursor {
        let mut cursor = Cursor::new(self.first_bar);
        for &id in &self.ids[self.cursor_from..] {
            cursor.push(id);
        }
        cursor
    }
}

/// Continues `primer` (or generates from nothing) with a beat-aware model, after the primer's last
/// note on the grid of its time signatures.
pub fn run(task: Task, on_event: &mut dyn FnMut(usize, GenEvent)) -> Result<Output> {
    let Task { model, primer, req } = task;
    match primer {
        Some(p) => continue_at(model, p, &Placement::after(p), req, on_event),
        None => {
            let empty = Score::new(480, (60e6 / req.bpm).round() as u32)?;
            let place = Placement {
                grid: BarGrid::new(vec![0], 4 * 480),
                from: 0,
            };
            continue_at(model, &empty, &place, req, on_event)
        }
    }
}

/// Continues `primer` from `place.from` on `place.grid`: the output is the primer (unless
/// `only_new`) and a new piano track.
pub fn continue_at(
    model: &MusicTransformer,
    primer: &Score,
    place: &Placement,
    req: &Request,
    on_event: &mut dyn FnMut(usize, GenEvent),
) -> Result<Output> {
    super::request::validate_key_guide(req.key_guide)?;
    let mut notes = Vec::new();
    let piano = piano_reduction(primer, false, &mut notes);
    let prompt = prompt_from(&piano, place, req.primer_seconds, model, &mut notes)?;
    let tempo = &primer.tempo_map;
    let from_seconds = tempo.seconds(place.grid.tick(prompt.from.0, prompt.from.1));
    let (steps, until) = match req.length {
        Length::Tokens(n) => (n, f64::INFINITY),
        Length::Seconds(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => (
            ((s * MAX_TOKENS_PER_SECOND) as usize).max(256),
            from_seconds + s,
        ),
        Length::Seconds(s) => {
            return Err(Error::Invalid(format!(
                "the length {s} s must be in (0, 3600]"
            )))
        }
    };
    let channel = if req.only_new {
        0
    } else {
        free_channel(primer)
    };
    let mut steer = BeatSteer::new(&prompt, place, tempo, req, channel, until, on_event);
    let generated = super::request::draw(model, &prompt.ids, req, steps, &mut steer)?;
    let mut scores = Vec::with_capacity(generated.len());
    for ids in generated {
        let new = new_notes(&prompt, &place.grid, tempo, &ids, until);
        scores.push(output_score(primer, req.only_new, channel, &new));
    }
    Ok(Output { scores, notes })
}

/// The primer's bars from `primer_seconds` before `place.from` (fewer if they do not fit the
/// context) up to the bar of `place.from`, as tokens.
fn prompt_from(
    piano: &Score,
    place: &Placement,
    primer_seconds: f64,
    model: &MusicTransformer,
    notes: &mut Vec<String>,
) -> Result<Prompt> {
    if !(primer_seconds.is_finite() && primer_seconds > 0.0) {
        return Err(Error::Invalid(format!(
            "the primer length {primer_seconds} s must be > 0"
        )));
    }
    let grid = &place.grid;
    let mut from = grid.ceil(place.from);
    let cut = grid.tick(from.0, from.1);
    let mut part = piano.clone();
    part.notes.retain(|n| n.start_tick < cut);
    if part.notes.is_empty() && !piano.notes.is_empty() {
        return Err(Error::Invalid(
            "the primer has no pitched notes before the continuation's start".into(),
        ));
    }
    let tempo = &piano.tempo_map;
    let earliest = tempo.tick(tempo.seconds(cut) - primer_seconds);
    let first_note = part.notes.iter().map(|n| n.start_tick).min().unwrap_or(0);
    let mut first_bar = grid.bar_of(earliest.max(first_note)).min(from.0);
    let budget = model.config().max_len * 3 / 4;
    loop {
        let mut ids = encode_bars(&part, grid, first_bar, from.0)?;
        let bars = ids.iter().filter(|&&i| i == remi::BAR).count();
        if first_bar + bars > from.0 + 1 {
            // A note just before the start rounded onto the next downbeat.
            from = (first_bar + bars - 1, 0);
        }
        while first_bar + ids.iter().filter(|&&i| i == remi::BAR).count() <= from.0 {
            ids.push(remi::BAR);
        }
        if first_bar == 0 {
            ids.insert(0, BOS);
        }
        if ids.len() <= budget || first_bar >= from.0 {
            let start = ids.len().saturating_sub(model.config().max_len - 1);
            if !part.notes.is_empty() {
                let seconds = tempo.seconds(cut) - tempo.seconds(grid.start(first_bar));
                let bars = from.0 - first_bar + usize::from(from.1 > 0);
                notes.push(format!(
                    "primer: {bars} bars ({seconds:.1} s, {} tokens) as the prompt; new music from bar {} + {}/16 ({:.1} s)",
                    ids.len() - start,
                    from.0 + 1,
                    from.1,
                    tempo.seconds(cut)
                ));
            }
            return Ok(Prompt {
                ids: ids[start..].to_vec(),
                key: primer_key(&part),
                first_bar,
                from,
                cursor_from: 0,
            });
        }
        first_bar += 1;
    }
}

/// The Krumhansl–Kessler key of `score`'s notes.
pub(super) fn primer_key(score: &Score) -> Option<Key> {
    let notes: Vec<metrics::Note> = score
        .notes
        .iter()
        .map(|n| metrics::Note {
            pitch: n.pitch,
            start: n.start,
            end: n.end,
            velocity: n.velocity,
        })
        .collect();
    find_key(&notes)
}

/// The piano Note-On ids of the pitches outside `key` (none without a key).
fn out_of_key(key: Option<Key>) -> Vec<u32> {
    let Some(key) = key else { return Vec::new() };
    let scale = key.scale();
    (0..128u8)
        .filter(|p| !scale[usize::from(p % 12)])
        .map(|p| Part::Piano.note_on(p))
        .collect()
}

/// The notes of bars `first..=last` of `grid` as beat-aware tokens (notes before `first` dropped).
pub(super) fn encode_bars(
    piano: &Score,
    grid: &BarGrid,
    first: usize,
    last: usize,
) -> Result<Vec<u32>> {
    let start = grid.start(first);
    let mut part = piano.clone();
    part.notes.retain(|n| n.start_tick >= start);
    let vocab = RemiVocab {
        bars: Some((first..=last + 2).map(|b| grid.start(b)).collect()),
        themes: Vec::new(),
        one_part: true,
    };
    let ids = vocab.encode(&part)?;
    Ok(if ids.is_empty() { vec![remi::BAR] } else { ids })
}

/// Keeps each sample's grammar state and place on the grid, masks what may not come next (the other
/// part, places before the start, notes longer than [`MAX_NOTE_SECONDS`]), reports notes as they
/// are written (each release once the music reaches it) and ends a sample at `until` seconds.
pub(super) struct BeatSteer<'a> {
    req: &'a Request,
    grid: &'a BarGrid,
    tempo: &'a TempoMap,
    from: (usize, u32),
    channel: u8,
    until: f64,
    states: Vec<RemiState>,
    cursors: Vec<Cursor>,
    releases: Vec<Vec<(f64, u8)>>,
    /// Note-On ids outside the primer's key, lowered by `req.key_guide`.
    out_of_key: Vec<u32>,
    on_event: &'a mut dyn FnMut(usize, GenEvent),
}

impl<'a> BeatSteer<'a> {
    pub(super) fn new(
        prompt: &Prompt,
        place: &'a Placement,
        tempo: &'a TempoMap,
        req: &'a Request,
        channel: u8,
        until: f64,
        on_event: &'a mut dyn FnMut(usize, GenEvent),
    ) -> Self {
        let mut state = RemiState::default();
        for &id in &prompt.ids {
            state.push(id);
        }
        let cursor = prompt.cursor();
        let n = req.samples.max(1);
        BeatSteer {
            req,
            grid: &place.grid,
            tempo,
            from: prompt.from,
            channel,
            until,
            states: vec![state; n],
            cursors: vec![cursor; n],
            releases: vec![Vec::new(); n],
            out_of_key: out_of_key(prompt.key),
            on_event,
        }
    }

    fn seconds(&self, bar: usize, pos: u32) -> f64 {
        self.tempo.seconds(self.grid.tick(bar, pos))
    }

    /// Reports the releases due by `now` (all with `None`).
    fn release(&mut self, i: usize, now: Option<f64>) {
        let (mut due, kept): (Vec<_>, Vec<_>) = self.releases[i]
            .drain(..)
            .partition(|&(t, _)| now.is_none_or(|now| t <= now));
        due.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.releases[i] = kept;
        for (time, pitch) in due {
            let event = NoteEvent::Off { pitch, time };
            self.note(i, event);
        }
    }

    fn note(&mut self, i: usize, event: NoteEvent) {
        let e = GenEvent::Note {
            channel: self.channel,
            program: 0,
            event,
        };
        (self.on_event)(i, e);
    }
}

impl Steer for BeatSteer<'_> {
    fn adjust(&mut self, _: usize, logits: &mut [f32]) {
        if self.req.key_guide > 0.0 {
            for &id in &self.out_of_key {
                logits[id as usize] -= self.req.key_guide;
            }
        }
    }

    fn allowed(&mut self, i: usize) -> Option<Vec<bool>> {
        let mut ok = self.states[i].allowed(false);
        let melody = Part::Melody.velocity(1)..=Part::Melody.duration(remi::MAX_DURATION);
        melody.for_each(|id| ok[id as usize] = false);
        let (bar, pos) = self.cursors[i].at();
        let mut no_notes = self.cursors[i].here >= MAX_NOTES_PER_ONSET;
        if bar == self.from.0 && self.cursors[i].bar.is_some() {
            (0..self.from.1).for_each(|p| ok[(POSITION + p) as usize] = false);
            no_notes |= pos < self.from.1;
        }
        if no_notes {
            (1..=32).for_each(|b| ok[Part::Piano.velocity(b) as usize] = false);
        }
        if self.cursors[i].pitch.is_some() {
            let sixteenth = (self.seconds(bar + 1, 0) - self.seconds(bar, 0)) / POSITIONS as f64;
            let longest = ((MAX_NOTE_SECONDS / sixteenth.max(1e-6)).ceil() as u32 - 1).max(1);
            (longest + 1..=remi::MAX_DURATION).for_each(|d| {
                ok[Part::Piano.duration(d) as usize] = false;
            });
        }
        Some(ok)
    }

    fn accept(&mut self, i: usize, id: u32) -> bool {
        (self.on_event)(i, GenEvent::Token(id));
        self.states[i].push(id);
        if let Some(n) = self.cursors[i].push(id) {
            let time = self.seconds(n.bar, n.pos);
            let end = self.tempo.seconds(note_end(self.grid, &n));
            if time < self.until {
                let (pitch, velocity) = (n.pitch, n.velocity);
                self.note(
                    i,
                    NoteEvent::On {
                        pitch,
                        velocity,
                        time,
                    },
                );
                self.releases[i].push((end, pitch));
            }
        }
        let (bar, pos) = self.cursors[i].at();
        let now = self.seconds(bar, pos);
        let more = now < self.until && !self.req.cancelled();
        self.release(i, more.then_some(now));
        more
    }
}

/// The tick a note ends.
fn note_end(grid: &BarGrid, n: &GridNote) -> u64 {
    grid.tick(n.bar, n.pos) + grid.len(n.bar) * n.sixteenths as u64 / POSITIONS as u64
}

/// The notes of one sample's new tokens that start before `until` seconds, as
/// (start tick, end tick, pitch, velocity).
pub(super) fn new_notes(
    prompt: &Prompt,
    grid: &BarGrid,
    tempo: &TempoMap,
    ids: &[u32],
    until: f64,
) -> Vec<(u64, u64, u8, u8)> {
    let mut cursor = prompt.cursor();
    ids.iter()
        .filter_map(|&id| cursor.push(id))
        .map(|n| {
            (
                grid.tick(n.bar, n.pos),
                note_end(grid, &n),
                n.pitch,
                n.velocity,
            )
        })
        .filter(|&(start, ..)| tempo.seconds(start) < until)
        .collect()
}

/// The output: the primer's own tracks (unless `only_new`) and a new piano track on its grid.
fn output_score(primer: &Score, only_new: bool, channel: u8, new: &[(u64, u64, u8, u8)]) -> Score {
    let mut out = primer.clone();
    if only_new {
        out.tracks.clear();
        out.notes.clear();
        out.sustain.clear();
        out.controls.clear();
    }
    let track = out.add_track("Reprise continuation", TrackRole::Other);
    for &(start, end, pitch, velocity) in new {
        out.push_note_ticks(track, channel, 0, pitch, velocity, start, end);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::sampler::SamplerConfig;
    use crate::model::{TransformerConfig, VocabKind};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// `run`, the events unseen.
    fn silent(model: &MusicTransformer, primer: Option<&Score>, req: &Request) -> Result<Output> {
        run(Task { model, primer, req }, &mut |_, _| {})
    }

    fn tiny() -> (VarMap, MusicTransformer) {
        let cfg = TransformerConfig {
            vocab: VocabKind::Remi,
            vocab_size: remi::SIZE as usize,
            d_model: 32,
            n_layers: 1,
            n_heads: 4,
            d_ff: 64,
            max_len: 128,
            dropout: 0.0,
            beat_embedding: false,
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        (vm.clone(), MusicTransformer::new(&cfg, vb).unwrap())
    }

    fn request(seconds: f64, seed: u64) -> Request {
        Request {
            length: Length::Seconds(seconds),
            sampler: SamplerConfig {
                seed,
                ..Default::default()
            },
            samples: 2,
            bpm: 120.0,
            primer_seconds: 20.0,
            only_new: false,
            cancel: None,
            key_guide: 0.0,
        }
    }

    /// Two and a half bars of quarter notes in 3/4 at 90 BPM (480 PPQ): bars of 1 440 ticks.
    fn waltz() -> Score {
        let mut s = Score::new(480, 666_667).unwrap();
        s.time_signatures = vec![crate::midi::TimeSignature {
            tick: 0,
            numerator: 3,
            denominator: 4,
        }];
        let t = s.add_track("Piano", TrackRole::Other);
        for i in 0..8u64 {
            s.push_note_ticks(t, 0, 0, 60 + (i % 3) as u8 * 4, 80, i * 480, i * 480 + 400);
        }
        s.sort();
        s
    }

    #[test]
    fn the_grid_extends_its_last_bar_and_rounds_up_to_sixteenths() {
        let g = BarGrid::new(vec![0, 1440, 2880], 1920);
        assert_eq!(g.start(4), 5760);
        assert_eq!(g.len(7), 1440);
        assert_eq!(g.tick(1, 8), 1440 + 720);
        assert_eq!(g.bar_of(2879), 1);
        assert_eq!(g.bar_of(9000), 6);
        assert_eq!(g.ceil(1440), (1, 0));
        assert_eq!(g.ceil(1441), (1, 1));
        assert_eq!(g.ceil(2879), (2, 0));
        assert_eq!(BarGrid::new(vec![], 1920).len(3), 1920);
        assert_eq!(BarGrid::of_score(&waltz()).len(0), 1440);
    }

    #[test]
    fn a_continuation_starts_after_the_primer_on_its_grid_and_holds_no_key_too_long() {
        let (_vm, m) = tiny();
        let primer = waltz();
        let out = silent(&m, Some(&primer), &request(12.0, 3)).unwrap();
        assert_eq!(out.scores.len(), 2);
        let grid = BarGrid::of_score(&primer);
        let from = primer.end_tick(); // 3 280: the last note's end
        for s in &out.scores {
            assert_eq!(s.tracks.len(), 2);
            let new: Vec<_> = s.notes.iter().filter(|n| n.track == 1).collect();
            assert!(!new.is_empty());
            assert_eq!(s.notes.len() - new.len(), primer.notes.len());
            for n in new {
                assert!(n.start_tick >= from, "{} before {from}", n.start_tick);
                let bar = grid.bar_of(n.start_tick);
                let off = (n.start_tick - grid.start(bar)) * 16;
                assert_eq!(off % 1440, 0, "onset {} off the grid", n.start_tick);
                assert!(n.duration() < crate::generate::MAX_NOTE_SECONDS);
                let together = s
                    .notes
                    .iter()
                    .filter(|m| m.track == 1 && m.start_tick == n.start_tick)
                    .count();
                assert!(together <= MAX_NOTES_PER_ONSET as usize);
                assert!(n.start < primer.duration() + 12.0);
                assert_eq!(n.channel, 1);
            }
        }
    }

    #[test]
    fn the_prompt_ends_where_the_music_goes_on() {
        let (_vm, m) = tiny();
        let primer = waltz();
        let place = Placement::after(&primer);
        let mut notes = Vec::new();
        let p = prompt_from(&primer, &place, 20.0, &m, &mut notes).unwrap();
        // The last note ends at 3 760 ticks: bar 2 (from 2 880), 880 ticks in, rounded up to
        // sixteenth 10 (900 ticks of 90).
        assert_eq!(p.from, (2, 10));
        assert_eq!(p.first_bar, 0);
        assert_eq!(p.ids[0], BOS);
        assert_eq!(p.ids.iter().filter(|&&i| i == remi::BAR).count(), 3);
        assert!(
            notes[0].contains("new music from bar 3 + 10/16 (5.3 s)"),
            "{}",
            notes[0]
        );
        // A later start on an empty bar adds its Bar tokens.
        let later = Placement {
            grid: place.grid.clone(),
            from: 5 * 1440,
        };
        let p = prompt_from(&primer, &later, 20.0, &m, &mut notes).unwrap();
        assert_eq!(p.from, (5, 0));
        assert_eq!(p.ids.iter().filter(|&&i| i == remi::BAR).count(), 6);
        // A short primer window starts at a later bar, without BOS.
        let p = prompt_from(&primer, &place, 2.0, &m, &mut notes).unwrap();
        assert_eq!(p.first_bar, 1);
        assert_eq!(p.ids[0], remi::BAR);
    }

    #[test]
    fn key_guidance_keeps_new_notes_in_the_primer_key() {
        let (_vm, m) = tiny();
        let primer = waltz();
        let scale = primer_key(&primer).unwrap().scale();
        let outside = |g: f32| {
            let mut req = request(12.0, 7);
            req.only_new = true;
            req.key_guide = g;
            let out = silent(&m, Some(&primer), &req).unwrap();
            let notes: Vec<_> = out.scores.iter().flat_map(|s| &s.notes).collect();
            assert!(notes.len() > 20);
            let off = notes.iter().filter(|n| !scale[usize::from(n.pitch % 12)]);
            off.count() as f64 / notes.len() as f64
        };
        // Untrained, the model writes any pitch; 10 nats make an out-of-key note ~20 000× rarer.
        assert!(outside(0.0) > 0.2);
        assert_eq!(outside(10.0), 0.0);
        let mut req = request(1.0, 1);
        req.key_guide = f32::NAN;
        assert!(silent(&m, Some(&primer), &req).is_err());
    }

    #[test]
    fn only_new_and_generation_from_nothing_write_one_track() {
        let (_vm, m) = tiny();
        let mut req = request(6.0, 5);
        req.only_new = true;
        let out = silent(&m, Some(&waltz()), &req).unwrap();
        assert!(out.scores.iter().all(|s| s.tracks.len() == 1));
        let out = silent(&m, None, &req).unwrap();
        let s = &out.scores[0];
        assert_eq!(s.tracks.len(), 1);
        assert!(s.notes.iter().all(|n| n.start < 6.0));
    }

    #[test]
    fn streamed_events_are_in_time_order_and_match_the_output() {
        let (_vm, m) = tiny();
        let mut req = request(8.0, 11);
        req.samples = 1;
        let mut events = Vec::new();
        let primer = waltz();
        let task = Task {
            model: &m,
            primer: Some(&primer),
            req: &req,
        };
        let out = run(task, &mut |_, e| {
            if let GenEvent::Note { event, .. } = e {
                events.push(event);
            }
        })
        .unwrap();
        let time = |e: &NoteEvent| match *e {
            NoteEvent::On { time, .. } | NoteEvent::Off { time, .. } => time,
        };
        assert!(events.windows(2).all(|w| time(&w[0]) <= time(&w[1]) + 1e-9));
        let ons = events
            .iter()
            .filter(|e| matches!(e, NoteEvent::On { .. }))
            .count();
        let offs = events.len() - ons;
        let new = out.scores[0].notes.iter().filter(|n| n.track == 1).count();
        assert_eq!((ons, offs), (new, new));
    }
}
