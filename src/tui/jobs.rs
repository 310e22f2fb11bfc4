//! The actions that run in the background — continue, generate, grow a theme, find a theme,
//! accompany, render, clone a timbre — as requests for the worker, and what the app does with
//! their results.

use std::path::{Path, PathBuf};

use crate::accompany::chords::chords_line;
use crate::generate::tasks::GenEvent;
use crate::midi::Score;
use crate::ops::engine::Engine;
use crate::ops::models::Action;
use crate::tokens::NoteEvent;

use super::app::{App, Doc, Effect, Job, Overlay, PreviewNote};
use super::chords::ChordSheet;
use super::types::{JobKind, JobMsg, JobResult, JobSpec};

impl App {
    /// Continues (from `from`, or the end) or generates with the chosen model.
    pub(super) fn generation(&mut self, kind: JobKind, from: Option<f64>) -> Option<Effect> {
        let Some(model) = self.model().cloned() else {
            self.status = "no model that continues music is installed".into();
            return None;
        };
        let primer = match kind {
            JobKind::Continue => match self.score() {
                Some(s) => Some(s.clone()),
                None => {
                    self.status = "open a MIDI file first (o), or generate (g)".into();
                    return None;
                }
            },
            _ => None,
        };
        let mut spec = JobSpec::new(kind, primer, &self.params);
        spec.model_dir = model.dir.clone();
        spec.origin = self.path.clone();
        spec.from = from;
        let at = from.map_or(String::new(), |t| {
            format!(" from {}", crate::console::clock(t))
        });
        self.start_job(kind, format!("{}{at} with {}…", kind.verb(), model.name));
        Some(Effect::Start(Box::new(spec)))
    }

    /// Continues from the selection's end, or else from the cursor.
    pub(super) fn continue_from_cursor(&mut self) -> Option<Effect> {
        let at = self.selection.map_or(self.cursor, |(_, b)| b);
        if at <= 0.0 {
            self.status = "move the cursor into the music first (→), or select a span".into();
            return None;
        }
        self.generation(JobKind::Continue, Some(at))
    }

    /// Grows a piece from the selected span as the theme.
    pub(super) fn grow_theme(&mut self) -> Option<Effect> {
        let Some(model) = self.model_for(Action::Theme).cloned() else {
            self.status = "no theme model is installed".into();
            return None;
        };
        let (Some(selection), Some(score)) = (self.selection, self.score()) else {
            self.status = "select the theme first (shift+←/→), or find one (e)".into();
            return None;
        };
        let (a, b, first, count) = bar_span(score, selection);
        let theme = match score.excerpt(a, b) {
            Ok(t) if !t.notes.is_empty() => t,
            Ok(_) => {
                self.status = "the selection has no notes".into();
                return None;
            }
            Err(e) => {
                self.status = e.to_string();
                return None;
            }
        };
        let mut spec = JobSpec::new(JobKind::Theme, Some(theme), &self.params);
        spec.model_dir = model.dir.clone();
        self.selection = Some((a, b));
        let bars = match count {
            1 => format!("bar {}", first + 1),
            _ => format!("bars {}–{}", first + 1, first + count),
        };
        self.start_job(
            JobKind::Theme,
            format!(
                "growing {} bars from {bars} with {}…",
                self.params.bars, model.name
            ),
        );
        Some(Effect::Start(Box::new(spec)))
    }

    /// Rewrites the selected bars (the selection snapped to bar lines) with the infilling model:
    /// each press is another take (the next seed), z goes back to the one before.
    pub(super) fn infill_selection(&mut self) -> Option<Effect> {
        let Some(model) = self.infill_model().cloned() else {
            self.status = format!(
                "no infilling model ({}) is installed",
                crate::ops::infill::DEFAULT_MODEL
            );
            return None;
        };
        let (Some(selection), Some(score)) = (self.selection, self.score()) else {
            self.status = "select the bars to rewrite first (shift+←/→)".into();
            return None;
        };
        let (a, b, first, count) = bar_span(score, selection);
        let mut spec = JobSpec::new(JobKind::Infill, Some(score.clone()), &self.params);
        spec.model_dir = model.dir.clone();
        spec.origin = self.path.clone();
        (spec.from, spec.to) = (Some(a), Some(b));
        self.selection = Some((a, b));
        self.start_job(
            JobKind::Infill,
            format!(
                "rewriting bars {}–{} with {} (seed {})…",
                first + 1,
                first + count,
                model.name,
                self.params.seed
            ),
        );
        Some(Effect::Start(Box::new(spec)))
    }

    /// Writes alto, tenor and bass under the melody of the track parameter (auto: the top voice of
    /// the whole score); each press is another take (the next seed), z goes back.
    pub(super) fn harmonize_track(&mut self) -> Option<Effect> {
        let Some(model) = self.voice_model().cloned() else {
            self.status = format!(
                "no voice filler ({}) is installed",
                crate::ops::harmonize::DEFAULT_MODEL
            );
            return None;
        };
        let Some(score) = self.score().cloned() else {
            self.status = "open a melody first (o)".into();
            return None;
        };
        let track = self.params.track;
        let mut spec = JobSpec::new(JobKind::Harmonize, Some(score), &self.params);
        spec.model_dir = model.dir.clone();
        spec.origin = self.path.clone();
        let line = match track {
            Some(t) => format!("track {t}"),
            None => "the top voice".into(),
        };
        self.start_job(
            JobKind::Harmonize,
            format!(
                "harmonizing {line} with {} (seed {})…",
                model.name, self.params.seed
            ),
        );
        Some(Effect::Start(Box::new(spec)))
    }

    /// Finds the theme of the current music.
    pub(super) fn extract_theme(&mut self) -> Option<Effect> {
        let Some(score) = self.score().cloned() else {
            self.status = "open a MIDI file first (o)".into();
            return None;
        };
        let mut spec = JobSpec::new(JobKind::Extract, Some(score), &self.params);
        spec.origin = self.path.clone();
        self.start_job(JobKind::Extract, "finding the theme…".into());
        Some(Effect::Start(Box::new(spec)))
    }

    /// Accompanies the current music's melody (with these chords, or the harmonizer's).
    pub(super) fn accompany(
        &mut self,
        chords: Option<(
            crate::midi::Score,
            Vec<Option<crate::accompany::chords::BeatChord>>,
        )>,
    ) -> Option<Effect> {
        let chosen = self
            .model_for(Action::Accompany)
            .map(|m| (m.name.clone(), m.dir.clone()));
        let Some((name, dir)) = chosen else {
            self.status = "no accompaniment model is installed".into();
            return None;
        };
        let (song, beats) = match chords {
            Some((song, beats)) => (song, Some(beats)),
            None => match self.score() {
                Some(s) => (s.clone(), None),
                None => {
                    self.status = "open a melody first (o)".into();
                    return None;
                }
            },
        };
        let mut spec = JobSpec::new(JobKind::Accompany, Some(song), &self.params);
        spec.model_dir = dir;
        spec.origin = self.path.clone();
        spec.chords = beats;
        self.start_job(JobKind::Accompany, format!("accompanying with {name}…"));
        Some(Effect::Start(Box::new(spec)))
    }

    /// Accompanies the last accompanied song again with the edited chords.
    pub(super) fn reaccompany(&mut self) -> Option<Effect> {
        let sheet = self.chords.as_ref()?;
        let chords = (sheet.song.clone(), sheet.beats.clone());
        self.accompany(Some(chords))
    }

    /// Renders the current music to WAV with the chosen engine.
    pub(super) fn render_wav(&mut self) -> Option<Effect> {
        let Some(score) = self.score().cloned() else {
            self.status = "nothing to render: open a file first".into();
            return None;
        };
        let path = self.output_path("wav");
        let mut spec = JobSpec::new(JobKind::Render, Some(score), &self.params);
        spec.origin = self.path.clone();
        spec.wav_path = Some(path.clone());
        self.start_job(
            JobKind::Render,
            format!(
                "rendering {} ({})…",
                path.display(),
                self.params.voice().describe()
            ),
        );
        Some(Effect::Start(Box::new(spec)))
    }

    /// Clones a timbre from the recording at `recording` (one voice; its notes are transcribed)
    /// and auditions it on the current music, or on a scale when there is none.
    pub(super) fn clone_timbre(&mut self, recording: PathBuf) -> Option<Effect> {
        let mut spec = JobSpec::new(JobKind::Clone, self.score().cloned(), &self.params);
        spec.origin = self.path.clone();
        let status = format!("cloning a timbre from {}…", file_name(&recording));
        spec.recording = Some(recording);
        self.start_job(JobKind::Clone, status);
        Some(Effect::Start(Box::new(spec)))
    }

    /// A cloned timbre becomes the neural engine's timbre, its audition the WAV `p` plays.
    fn cloned(&mut self, result: JobResult) {
        let JobResult::Cloned {
            recording,
            timbre,
            audition,
            before,
            after,
            nearest,
        } = result
        else {
            return;
        };
        let timbre = timbre.to_string_lossy().into_owned();
        if !self.timbres.contains(&timbre) {
            self.timbres.push(timbre.clone());
        }
        self.params.timbre = timbre;
        self.params.engine = Engine::Neural;
        self.rendered = Some(audition);
        self.status = format!(
            "cloned {}: distance {before:.2} (nearest shipped: {nearest}) → {after:.2} · \
             timbre set for play/render · p auditions",
            file_name(&recording)
        );
    }

    fn start_job(&mut self, kind: JobKind, status: String) {
        self.status = status.clone();
        self.job = Some(Job {
            kind,
            progress: status,
            preview: Vec::new(),
            latest: 0.0,
            accompanied: None,
        });
    }

    /// Takes a message from the running job.
    pub fn job_message(&mut self, msg: JobMsg) {
        match msg {
            JobMsg::Progress(p) => {
                if let Some(j) = self.job.as_mut() {
                    j.progress = p;
                }
            }
            JobMsg::Event(GenEvent::Note { channel, event, .. }) => self.preview(channel, event),
            JobMsg::Event(GenEvent::Token(_)) => {}
            JobMsg::Accompanied {
                song,
                melody,
                harmonized,
                chords,
            } => {
                if let Some(j) = self.job.as_mut() {
                    let line = harmonized.unwrap_or_else(|| chords_line(&chords));
                    j.accompanied = Some((melody, line, ChordSheet::new(song, chords)));
                }
            }
            JobMsg::Done(result) => {
                let accompanied = self.job.take().and_then(|j| j.accompanied);
                match result {
                    Ok(r) => {
                        self.job_done(r);
                        if let Some((melody, line, sheet)) = accompanied {
                            self.status =
                                format!("accompanied · k edit chords {line} · melody: {melody}");
                            self.chords = (!sheet.beats.is_empty()).then_some(sheet);
                        }
                    }
                    Err(e) => self.status = e,
                }
            }
        }
    }

    fn job_done(&mut self, result: JobResult) {
        match result {
            JobResult::Generated {
                score,
                generated_from,
            } => {
                let notes = score.notes.len();
                self.history.push(Doc {
                    score,
                    generated_from: Some(generated_from),
                });
                self.params.seed += 1;
                // Show where the new music starts.
                let page = self.roll_cols as f64 * self.view.seconds_per_col;
                self.view.start = (generated_from - page / 4.0).max(0.0);
                self.status = format!(
                    "generated: {notes} notes, new music from {} · s save · z undo · space play",
                    crate::console::clock(generated_from)
                );
            }
            JobResult::Extracted { lines, span } => {
                self.selection = Some(span);
                self.cursor = span.0;
                self.view.start = (span.0 - self.view.seconds_per_col * 4.0).max(0.0);
                self.status = format!(
                    "theme selected: {}–{} · t grow a piece from it",
                    crate::console::clock(span.0),
                    crate::console::clock(span.1)
                );
                self.overlay = Overlay::Info {
                    title: "Theme".into(),
                    lines,
                };
            }
            JobResult::Rendered {
                path,
                seconds,
                engine,
            } => {
                self.status = format!(
                    "wrote {} ({seconds:.1} s, {engine}) · p plays it",
                    path.display()
                );
                self.rendered = Some(path);
            }
            cloned @ JobResult::Cloned { .. } => self.cloned(cloned),
        }
    }

    fn preview(&mut self, channel: u8, event: NoteEvent) {
        let cols = self.roll_cols as f64 * self.view.seconds_per_col;
        let Some(job) = self.job.as_mut() else { return };
        let (pitch, time) = (event.pitch(), event.time());
        job.latest = job.latest.max(time);
        if let Some(velocity) = event.velocity() {
            job.preview.push(PreviewNote {
                channel,
                pitch,
                velocity,
                start: time,
                end: None,
            });
        } else if let Some(n) = job
            .preview
            .iter_mut()
            .rev()
            .find(|n| n.channel == channel && n.pitch == pitch && n.end.is_none())
        {
            n.end = Some(time);
        }
        // Follow the new music.
        let latest = job.latest;
        if latest > self.view.start + cols * 0.9 {
            self.view.start = (latest - cols * 0.5).max(0.0);
        }
    }
}

/// The file name of `path`, for the status line.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The selection `(a, b)` widened or narrowed to the nearest bar lines (at least one bar): its
/// seconds, its first bar (0-based) and its number of bars.
pub fn bar_span(score: &Score, (a, b): (f64, f64)) -> (f64, f64, usize, usize) {
    let tm = &score.tempo_map;
    let bars = crate::midi::bar_starts(score, tm.tick(b) + 1);
    let nearest = |t: f64| {
        let tick = tm.tick(t);
        (0..bars.len())
            .min_by_key(|&i| bars[i].abs_diff(tick))
            .unwrap_or(0)
    };
    let first = nearest(a).min(bars.len().saturating_sub(2));
    let last = nearest(b).clamp(first + 1, bars.len() - 1);
    (
        tm.seconds(bars[first]),
        tm.seconds(bars[last]),
        first,
        last - first,
    )
}
