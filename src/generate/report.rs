//! The continuation report: how a piano model's continuations compare with the real music and with
//! a dumb baseline. For each validation song (of POP909, or of any folder of MIDI files) the first
//! `primer_seconds` from its first note are the primer; the next `seconds` of the model's
//! continuation, of the song itself, and of the primer's last `loop_seconds` played over and over
//! are measured with [`crate::metrics`] on the song's beat grid: POP909's annotated beats, or a
//! MIDI file's own tempo map and time signatures.

use std::path::Path;

use super::beat::{self, BarGrid, Placement};
use super::infill;
use super::sampler::SamplerConfig;
use super::tasks::{self, Length, Request};
use crate::error::{Error, Result};
use crate::metrics::{self, copy_share, find_key, key_relation, Grid, KeyRelation, Profile};
use crate::midi::folder::{find_midi, is_valid, Found, DEFAULT_VALID_SHARE};
use crate::midi::Score;
use crate::model::{MusicTransformer, VocabKind};

/// What to measure.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Seconds of primer from the song's first note.
    pub primer_seconds: f64,
    /// Seconds of music compared after it.
    pub seconds: f64,
    /// The baseline loops the primer's last this many seconds.
    pub loop_seconds: f64,
    /// Sampling; each song adds its number to the seed.
    pub sampler: SamplerConfig,
    /// Measure only the first this many validation songs.
    pub songs: Option<usize>,
    /// Key guidance for beat-aware models (as `Request::key_guide`).
    pub key_guide: f32,
    /// On a MIDI folder: the share of its files in the valid split (POP909's split is fixed).
    pub valid_share: f64,
    /// Measure infilling instead of continuation: the model rewrites the compared seconds with the
    /// rest of the song after them as its suffix (`generate::infill`).
    pub infill: bool,
}

impl Default for ReportRequest {
    fn default() -> Self {
        ReportRequest {
            primer_seconds: 20.0,
            seconds: 30.0,
            loop_seconds: 10.0,
            sampler: SamplerConfig::default(),
            songs: None,
            key_guide: 0.0,
            valid_share: DEFAULT_VALID_SHARE,
            infill: false,
        }
    }
}

impl ReportRequest {
    /// Checks the lengths (positive and finite, the loop no longer than the primer) and the valid
    /// share (in `[0, 1)`).
    pub fn validate(&self) -> Result<()> {
        let ok = |x: f64| x > 0.0 && x.is_finite();
        if !(ok(self.primer_seconds) && ok(self.seconds) && ok(self.loop_seconds)) {
            return Err(Error::Invalid(format!(
                "a {} s primer, {} s compared and a {} s loop: each must be > 0",
                self.primer_seconds, self.seconds, self.loop_seconds
            )));
        }
        if self.loop_seconds > self.primer_seconds {
            return Err(Error::Invalid(format!(
                "a {} s loop is longer than the {} s primer it repeats the end of",
                self.loop_seconds, self.primer_seconds
            )));
        }
        if !(0.0..1.0).contains(&self.valid_share) {
            return Err(Error::Invalid(format!(
                "a valid share of {}: it must be in [0, 1)",
                self.valid_share
            )));
        }
        Ok(())
    }
}

/// One excerpt measured: its profile, how its key relates to the primer's, and how much of it
/// copies the primer (the share of its note 4-grams found in the primer, [`copy_share`]).
#[derive(Debug, Clone)]
pub struct Measured {
    /// The metrics.
    pub profile: Profile,
    /// Its key against the primer's.
    pub key: Option<KeyRelation>,
    /// Share of its note 4-grams that occur in the primer.
    pub copy: f64,
    /// Notes in the excerpt.
    pub notes: usize,
    /// Notes still sounding 50 ms after the excerpt's end (across the join with what follows).
    pub held_over: usize,
    /// Seconds from the excerpt's last onset to its end.
    pub tail_gap: f64,
}

/// One song's three excerpts.
#[derive(Debug, Clone)]
pub struct SongRow {
    /// The POP909 number, or the file's place (from 1) in a MIDI folder's valid split; the song's
    /// sampling seed adds it.
    pub song: u32,
    /// The POP909 number (three digits) or the file's path relative to the MIDI folder.
    pub name: String,
    /// The primer's key.
    pub primer_key: Option<metrics::Key>,
    /// The real next seconds.
    pub real: Measured,
    /// The model's continuation.
    pub model: Measured,
    /// The primer's end looped.
    pub looped: Measured,
}

/// The n in the copy measure's note n-grams.
pub const COPY_GRAM: usize = 4;

/// The report over songs.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One row per song, in song order.
    pub rows: Vec<SongRow>,
}

/// A metric of the table: its name and how to read it off a measured excerpt.
type Metric = (&'static str, fn(&Measured) -> f64);

/// The metrics of the table, in order: twelve that describe the music, then how much of it copies
/// the primer (not a likeness to the real music: the less the better, short of the real music's).
pub const METRICS: [Metric; 13] = [
    ("notes ≥ 8 s (share of notes)", |m| {
        m.profile.long_notes as f64 / m.notes.max(1) as f64
    }),
    ("polyphony (keys sounding when any sounds)", |m| {
        m.profile.polyphony
    }),
    ("most keys at once", |m| m.profile.max_polyphony as f64),
    ("pitch range (semitones)", |m| m.profile.pitch_range as f64),
    ("pitch classes used", |m| m.profile.pitch_classes as f64),
    ("pitch-class entropy (bits)", |m| m.profile.pc_entropy),
    ("scale consistency", |m| m.profile.scale_consistency),
    ("groove consistency", |m| m.profile.groove),
    ("onset offset from the beat grid (16ths)", |m| {
        m.profile.onset_offset
    }),
    ("note density (notes/s)", |m| m.profile.density),
    ("same key as the primer", |m| {
        (m.key == Some(KeyRelation::Same)) as u8 as f64
    }),
    ("same, relative or parallel key", |m| {
        m.key.is_some_and(|k| k != KeyRelation::Other) as u8 as f64
    }),
    ("notes copied from the primer (4-gram share)", |m| m.copy),
];

/// How many of [`METRICS`] describe the music (the rest measure copying).
pub const MUSIC_METRICS: usize = 12;

/// Measures `model` on the validation songs of `data`, a POP909 directory (songs 801–909, on
/// their annotated beats) or any folder of MIDI files (the files of its valid split by
/// `req.valid_share`, on their own tempo maps and time signatures; unreadable files are skipped);
/// `on_song` sees each row.
pub fn continuation_report(
    model: &MusicTransformer,
    data: &Path,
    req: &ReportRequest,
    on_song: &mut dyn FnMut(&SongRow),
) -> Result<Report> {
    if model.config().vocab == VocabKind::Grid {
        return Err(Error::Invalid(
            "the continuation report is for piano models, not chorale (grid) models".into(),
        ));
    }
    req.validate()?;
    let mut report = Report::default();
    let mut measure = |piece: Piece| -> Result<()> {
        if let Some(row) = song_row(model, &piece, req)? {
            on_song(&row);
            report.rows.push(row);
        }
        Ok(())
    };
    let scope = if crate::pop909::is_pop909(data) {
        let mut songs = crate::pop909::songs(data, "valid")?;
        songs.truncate(req.songs.unwrap_or(usize::MAX));
        for song in songs {
            measure(Piece::pop909(song)?)?;
        }
        String::new()
    } else {
        let files = valid_files(data, req)?;
        for (i, found) in files.iter().enumerate() {
            if let Some(piece) = Piece::file(i, found) {
                measure(piece)?;
            }
        }
        format!(
            " ({} MIDI files in its valid split; each needs {} s from its first note)",
            files.len(),
            req.primer_seconds + req.seconds
        )
    };
    if report.rows.is_empty() {
        return Err(Error::bad_file(
            data,
            format!("has no validation song long enough to measure{scope}"),
        ));
    }
    Ok(report)
}

/// The MIDI files of the valid split of the folder `root`, the first `req.songs` of them.
fn valid_files(root: &Path, req: &ReportRequest) -> Result<Vec<Found>> {
    let mut files = find_midi(root)?;
    files.retain(|f| is_valid(&f.relative, req.valid_share));
    files.truncate(req.songs.unwrap_or(usize::MAX));
    Ok(files)
}

/// One piece to measure: a POP909 song, whose beats and bars come from its `beat_midi.txt`, or a
/// file of a MIDI folder, whose beats and bars come from its tempo map and time signatures.
struct Piece {
    /// The POP909 number, or the file's place (from 1) in the folder's valid split.
    number: u32,
    /// The POP909 number (three digits) or the file's path relative to the folder.
    name: String,
    /// The music.
    score: Score,
    /// The POP909 song, if it is one.
    song: Option<crate::pop909::Song>,
}

impl Piece {
    /// A POP909 song; an unreadable one is an error.
    fn pop909(song: crate::pop909::Song) -> Result<Piece> {
        Ok(Piece {
            number: song.number,
            name: format!("{:03}", song.number),
            score: song.score()?,
            song: Some(song),
        })
    }

    /// The `index`th file of a folder's valid split, or `None` if it cannot be read.
    fn file(index: usize, found: &Found) -> Option<Piece> {
        Some(Piece {
            number: u32::try_from(index + 1).ok()?,
            name: found.relative.clone(),
            score: crate::midi::read_file(&found.path).ok()?,
            song: None,
        })
    }

    /// The beat grid, covering at least `end` seconds.
    fn grid(&self, end: f64) -> Option<Grid> {
        match &self.song {
            Some(song) => song_grid(song),
            None => score_grid(&self.score, self.score.tempo_map.tick(end)),
        }
    }

    /// The bars a beat-aware model continues `primer` (this piece cut short) on.
    fn bars(&self, primer: &Score) -> BarGrid {
        match &self.song {
            Some(song) => BarGrid::new(song.bars(primer), 4 * primer.ppq() as u64),
            None => BarGrid::of_score(primer),
        }
    }
}

/// The notes of `score` (no drums) with onsets in `[from, to)` seconds, shifted by `shift`.
fn excerpt(score: &Score, from: f64, to: f64, shift: f64) -> Vec<metrics::Note> {
    score
        .notes
        .iter()
        .filter(|n| !n.is_drum() && n.start >= from && n.start < to)
        .map(|n| metrics::Note {
            pitch: n.pitch,
            start: n.start + shift,
            end: n.end + shift,
            velocity: n.velocity,
        })
        .collect()
}

/// Measures one piece, or `None` when it is too short for the primer and the comparison (or has
/// no beat grid).
fn song_row(
    model: &MusicTransformer,
    piece: &Piece,
    req: &ReportRequest,
) -> Result<Option<SongRow>> {
    let score = &piece.score;
    let Some(first) = score
        .notes
        .iter()
        .filter(|n| !n.is_drum())
        .map(|n| n.start)
        .reduce(f64::min)
    else {
        return Ok(None);
    };
    let cut = first + req.primer_seconds;
    let end = cut + req.seconds;
    if score.duration() < end {
        return Ok(None);
    }
    let Some(grid) = piece.grid(end) else {
        return Ok(None);
    };
    let primer_notes = excerpt(score, first, cut, 0.0);
    let real = excerpt(score, cut, end, 0.0);
    let looped = loop_primer(score, cut, end, req.loop_seconds);
    let mut primer = score.clone();
    primer.notes.retain(|n| n.start < cut);
    primer
        .sustain
        .retain(|s| score.tempo_map.seconds(s.start_tick) < cut);
    let generated = if req.infill {
        infill_song(model, piece, cut, end, req)?
    } else {
        continue_song(model, piece, &primer, cut, req)?
    };
    let made = excerpt(&generated, cut, end, 0.0);
    let primer_key = find_key(&primer_notes);
    let measure = |notes: &[metrics::Note]| {
        let profile = Profile::measure(notes, &grid, req.seconds);
        let key = match (primer_key, profile.key) {
            (Some(a), Some(b)) => Some(key_relation(a, b)),
            _ => None,
        };
        Measured {
            copy: copy_share(&primer_notes, notes, &grid, COPY_GRAM),
            notes: notes.len(),
            held_over: notes.iter().filter(|n| n.end > end + 0.05).count(),
            tail_gap: end - notes.iter().map(|n| n.start).fold(cut, f64::max),
            profile,
            key,
        }
    };
    Ok(Some(SongRow {
        song: piece.number,
        name: piece.name.clone(),
        primer_key,
        real: measure(&real),
        model: measure(&made),
        looped: measure(&looped),
    }))
}

/// The song's beat grid from `beat_midi.txt`.
fn song_grid(song: &crate::pop909::Song) -> Option<Grid> {
    let (beats, downbeats) = crate::pop909::beats(&song.midi_path())?;
    Grid::new(beats, downbeats)
}

/// The primer's last `seconds` before `cut`, repeated from `cut` until `end`.
fn loop_primer(score: &Score, cut: f64, end: f64, seconds: f64) -> Vec<metrics::Note> {
    let tail = excerpt(score, cut - seconds, cut, 0.0);
    let mut out = Vec::new();
    let mut shift = seconds;
    while cut + shift - seconds < end {
        out.extend(
            tail.iter()
                .map(|n| metrics::Note {
                    start: n.start + shift,
                    end: n.end + shift,
                    ..*n
                })
                .filter(|n| n.start < end && n.start >= cut),
        );
        shift += seconds;
    }
    out
}

/// One sample of `req.seconds` for `piece`, its seed offset by the piece's number.
fn song_request(piece: &Piece, req: &ReportRequest, only_new: bool) -> Request {
    Request {
        length: Length::Seconds(req.seconds),
        sampler: SamplerConfig {
            seed: req.sampler.seed.wrapping_add(piece.number as u64),
            ..req.sampler
        },
        samples: 1,
        bpm: 120.0,
        primer_seconds: req.primer_seconds,
        only_new,
        cancel: None,
        key_guide: req.key_guide,
    }
}

/// The song with `cut..end` seconds rewritten by an infilling model, on the song's bars.
fn infill_song(
    model: &MusicTransformer,
    piece: &Piece,
    cut: f64,
    end: f64,
    req: &ReportRequest,
) -> Result<Score> {
    let grid = piece.bars(&piece.score);
    let spec = infill::SpanSpec::Seconds { from: cut, to: end };
    let span = infill::Span::resolve_on(&piece.score, &grid, spec)?;
    let request = song_request(piece, req, false);
    let out = infill::infill_on(
        model,
        &piece.score,
        &grid,
        span,
        None,
        &request,
        &mut |_, _| {},
    )?;
    out.scores
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("no infill".into()))
}

/// The model's continuation of `primer` from `cut` seconds, only the new notes: a beat-aware model
/// continues on the piece's bars, a performance model after the primer's last note.
fn continue_song(
    model: &MusicTransformer,
    piece: &Piece,
    primer: &Score,
    cut: f64,
    req: &ReportRequest,
) -> Result<Score> {
    let request = song_request(piece, req, true);
    let out = if model.config().vocab == VocabKind::Remi {
        let place = Placement {
            grid: piece.bars(primer),
            from: primer.tempo_map.tick(cut),
        };
        beat::continue_at(model, primer, &place, &request, &mut |_, _| {})?
    } else {
        tasks::run(model, Some(primer), &request, &mut |_, _| {})?
    };
    out.scores
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("no continuation".into()))
}

impl Report {
    /// Per metric: the mean of the real music, the model and the loop; the mean absolute
    /// difference from the real music per song of the model and of the loop; and the share of
    /// songs where the model is closer than the loop (ties count half).
    pub fn summary(&self) -> Vec<Summary> {
        let n = self.rows.len().max(1) as f64;
        METRICS
            .iter()
            .map(|&(name, f)| {
                let mean = |g: fn(&SongRow) -> &Measured| {
                    self.rows.iter().map(|r| f(g(r))).sum::<f64>() / n
                };
                let gap = |r: &SongRow, m: &Measured| (f(m) - f(&r.real)).abs();
                let closer: f64 = self
                    .rows
                    .iter()
                    .map(|r| {
                        let (a, b) = (gap(r, &r.model), gap(r, &r.looped));
                        if a < b {
                            1.0
                        } else if a == b {
                            0.5
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>();
                Summary {
                    name,
                    real: mean(|r| &r.real),
                    model: mean(|r| &r.model),
                    looped: mean(|r| &r.looped),
                    model_gap: self.rows.iter().map(|r| gap(r, &r.model)).sum::<f64>() / n,
                    loop_gap: self.rows.iter().map(|r| gap(r, &r.looped)).sum::<f64>() / n,
                    model_closer: closer / n,
                }
            })
            .collect()
    }

    /// On how many of the [`MUSIC_METRICS`] the model's mean absolute difference from the real
    /// music is smaller than the loop's.
    pub fn model_closer_on(&self) -> usize {
        let summary = self.summary();
        summary[..MUSIC_METRICS]
            .iter()
            .filter(|s| s.model_gap < s.loop_gap)
            .count()
    }

    /// The summary as a Markdown table, and a line that counts the metrics where the model is
    /// closer to the real music than the loop.
    pub fn table(&self) -> String {
        let mut out = format!(
            "| {} songs | real music | Reprise | loop the primer | mean abs. diff. from real: Reprise | loop | songs where Reprise is closer |\n|---|---|---|---|---|---|---|\n",
            self.rows.len()
        );
        for s in self.summary() {
            out += &format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} % |\n",
                s.name,
                s.real,
                s.model,
                s.looped,
                s.model_gap,
                s.loop_gap,
                100.0 * s.model_closer
            );
        }
        let copy = &self.summary()[MUSIC_METRICS];
        out += &format!(
            "\nReprise is closer to the real music than the loop on {} of {MUSIC_METRICS} metrics (mean absolute difference per song); it copies {:.1} % of its note 4-grams from the primer, the loop {:.1} %, the real music {:.1} %.\n",
            self.model_closer_on(),
            100.0 * copy.model,
            100.0 * copy.looped,
            100.0 * copy.real
        );
        out + &self.join_line()
    }

    /// The join with what follows the compared seconds: notes sounding across their end and the
    /// gap after the last onset, mean per song.
    pub fn join_line(&self) -> String {
        let n = self.rows.len().max(1) as f64;
        let mean = |f: &dyn Fn(&SongRow) -> f64| self.rows.iter().map(f).sum::<f64>() / n;
        format!(
            "At the end of the compared seconds, notes sounding across it: real {:.2}, Reprise {:.2}, loop {:.2}; seconds from the last onset to it: real {:.2}, Reprise {:.2}, loop {:.2} (means per song).\n",
            mean(&|r| r.real.held_over as f64),
            mean(&|r| r.model.held_over as f64),
            mean(&|r| r.looped.held_over as f64),
            mean(&|r| r.real.tail_gap),
            mean(&|r| r.model.tail_gap),
            mean(&|r| r.looped.tail_gap),
        )
    }
}

/// One line of the report's summary.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The metric.
    pub name: &'static str,
    /// Mean over songs of the real music.
    pub real: f64,
    /// Mean over songs of the model's continuations.
    pub model: f64,
    /// Mean over songs of the looped primer.
    pub looped: f64,
    /// Mean absolute difference from the real music, per song, of the model.
    pub model_gap: f64,
    /// The same for the loop.
    pub loop_gap: f64,
    /// Share of songs where the model is closer to the real music than the loop (ties half).
    pub model_closer: f64,
}

/// A beat grid for `score` from its time signatures and tempo map, long enough for `until_tick`:
/// beats of `4/denominator` quarters, bars from the time signatures.
pub fn score_grid(score: &Score, until_tick: u64) -> Option<Grid> {
    let end = until_tick.max(score.end_tick()) + 4 * score.ppq() as u64;
    let bars = crate::midi::bar_starts(score, end);
    let tempo = &score.tempo_map;
    let mut beats = Vec::new();
    for w in bars.windows(2) {
        let sig = score
            .time_signatures
            .iter()
            .rev()
            .find(|s| s.tick <= w[0])
            .map_or(4, |s| s.denominator.max(1) as u64);
        let beat = (4 * score.ppq() as u64 / sig).max(1);
        beats.extend(
            (w[0]..w[1])
                .step_by(beat as usize)
                .map(|t| tempo.seconds(t)),
        );
    }
    let downbeats = bars.iter().map(|&t| tempo.seconds(t)).collect();
    Grid::new(beats, downbeats)
}

/// How a continuation of a user's file sits against its primer: key, grid, rhythm, held notes.
#[derive(Debug, Clone)]
pub struct ContinuationCheck {
    /// The primer's metrics.
    pub primer: Profile,
    /// The new notes' metrics.
    pub new: Profile,
    /// The new notes' key against the primer's.
    pub key: Option<KeyRelation>,
    /// New notes.
    pub notes: usize,
    /// Bar (1-based) and beat (1-based, fractional) of the first new onset.
    pub first_onset: Option<(i64, f64)>,
}

/// Measures the notes of `output`'s last track (where continuations go) against the other notes
/// of `primer`, on `primer`'s grid.
pub fn check_continuation(primer: &Score, output: &Score) -> Result<ContinuationCheck> {
    let track = output.tracks.len().saturating_sub(1);
    let notes = |s: &Score, new: bool| -> Vec<metrics::Note> {
        s.notes
            .iter()
            .filter(|n| !n.is_drum() && (!new || n.track == track))
            .map(|n| metrics::Note {
                pitch: n.pitch,
                start: n.start,
                end: n.end,
                velocity: n.velocity,
            })
            .collect()
    };
    let (old, new) = (notes(primer, false), notes(output, true));
    let grid = score_grid(primer, output.end_tick())
        .ok_or_else(|| Error::Invalid("the primer has no bar grid".into()))?;
    let span = |n: &[metrics::Note]| {
        let a = n.iter().map(|n| n.start).fold(f64::INFINITY, f64::min);
        let b = n.iter().map(|n| n.end).fold(0.0, f64::max);
        (b - a).max(1e-9)
    };
    let (primer_p, new_p) = (
        Profile::measure(&old, &grid, span(&old)),
        Profile::measure(&new, &grid, span(&new)),
    );
    let key = match (primer_p.key, new_p.key) {
        (Some(a), Some(b)) => Some(key_relation(a, b)),
        _ => None,
    };
    let first_onset = new.iter().map(|n| n.start).reduce(f64::min).map(|t| {
        let (bar, pos) = grid.bar_of(t);
        (bar + 1, 1.0 + pos / 4.0)
    });
    Ok(ContinuationCheck {
        primer: primer_p,
        new: new_p,
        key,
        notes: new.len(),
        first_onset,
    })
}

impl ContinuationCheck {
    /// One line for the user.
    pub fn line(&self) -> String {
        let key = |p: &Profile| p.key.map_or("no key".to_string(), |k| k.name());
        let start = self.first_onset.map_or(String::new(), |(b, beat)| {
            format!(" from bar {b} beat {beat:.2}")
        });
        format!(
            "continuation: {} notes{start}; key {} (primer {}: {}); onsets {:.2} 16ths off the grid; groove {:.2} (primer {:.2}); polyphony {:.1} (primer {:.1}); notes ≥ 8 s: {}",
            self.notes,
            key(&self.new),
            key(&self.primer),
            self.key.map_or("—".into(), |k| format!("{k:?}").to_lowercase()),
            self.new.onset_offset,
            self.new.groove,
            self.primer.groove,
            self.new.polyphony,
            self.primer.polyphony,
            self.new.long_notes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::{TempoChange, TempoMap, TimeSignature, TrackRole};

    /// Six bars of 3/4 at 480 PPQ: 120 BPM, then 60 BPM from bar 2 (3 s).
    fn waltz() -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("Piano", TrackRole::Other);
        for beat in 0..18u64 {
            s.push_note_ticks(t, 0, 0, 60, 80, beat * 480, beat * 480 + 400);
        }
        s.time_signatures.push(TimeSignature {
            tick: 0,
            numerator: 3,
            denominator: 4,
        });
        let change = |tick, us_per_quarter| TempoChange {
            tick,
            us_per_quarter,
        };
        s.tempo_map =
            TempoMap::new(480, vec![change(0, 500_000), change(2880, 1_000_000)]).unwrap();
        s.retime();
        s
    }

    #[test]
    fn report_folder_pieces_take_beats_and_bars_from_the_file() {
        let piece = Piece {
            number: 1,
            name: "waltz.mid".into(),
            score: waltz(),
            song: None,
        };
        let grid = piece.grid(10.0).unwrap();
        assert_eq!(grid.bar_of(1.5), (1, 0.0));
        assert_eq!(grid.bar_of(6.0), (3, 0.0));
        assert_eq!(grid.bar_of(4.0), (2, 4.0));
        let bars = piece.bars(&piece.score);
        assert_eq!((bars.start(3), bars.len(2)), (4320, 1440));
    }

    #[test]
    fn report_request_lengths_are_checked() {
        assert!(ReportRequest::default().validate().is_ok());
        for bad in [
            ReportRequest {
                loop_seconds: 25.0,
                ..Default::default()
            },
            ReportRequest {
                seconds: 0.0,
                ..Default::default()
            },
            ReportRequest {
                valid_share: 1.0,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
