//! The keyboard in the terminal UI: recording a primer (`r`, with a count-in and the metronome),
//! quantising it (`Q`), playing to a MIDI output (the "play to" parameter) and auditioning the
//! last rendered WAV as it is (`p`).

use std::path::PathBuf;

use crate::jam::record::Phase;
use crate::midi::quantize::quantize;
use crate::midi::Score;

use super::app::{App, Doc, Effect};

impl App {
    /// `r`: starts recording from the keyboard, or stops the recording.
    pub(super) fn toggle_record(&mut self) -> Option<Effect> {
        if self.recording.is_some() {
            return Some(Effect::StopRecording);
        }
        if self.ports.midi_in.is_none() {
            self.status =
                "no keyboard: start the UI with --midi-in PORT (reprise ports lists them)".into();
            return None;
        }
        self.recording = Some(Phase::CountIn(0));
        self.status = format!("count-in at {:.0} BPM…", self.params.bpm);
        Some(Effect::Record(self.params.bpm))
    }

    /// The runtime reports where the recording is.
    pub fn recording_at(&mut self, phase: Phase) {
        self.recording = Some(phase);
        self.status = match phase {
            Phase::CountIn(n) => format!("● count-in {n} · r stops"),
            Phase::Recording(bar) => format!("● recording bar {bar} · r stops"),
        };
    }

    /// The runtime stopped the recording: the take becomes the music (undo brings back the last).
    pub fn recorded(&mut self, take: crate::Result<Score>) {
        self.recording = None;
        match take {
            Ok(score) if score.notes.is_empty() => self.status = "recorded nothing".into(),
            Ok(score) => {
                self.status = format!(
                    "recorded {} notes ({:.1} s) · Q quantise · c continue · a accompany · z undo",
                    score.notes.len(),
                    score.duration()
                );
                self.cursor = 0.0;
                self.selection = None;
                self.history.push(Doc {
                    score,
                    generated_from: None,
                });
                if self.path.is_none() {
                    self.path = Some(PathBuf::from("recorded.mid"));
                }
            }
            Err(e) => self.status = e.to_string(),
        }
    }

    /// `Q`: snaps the selection's notes (or all) to sixteenths, as a new step of the history.
    pub(super) fn quantise(&mut self) -> Option<Effect> {
        let Some(mut score) = self.score().cloned() else {
            self.status = "nothing to quantise: record (r) or open a file (o)".into();
            return None;
        };
        let moved = quantize(&mut score, self.selection);
        self.status = if moved == 0 {
            "already on sixteenths".into()
        } else {
            self.history.push(Doc {
                score,
                generated_from: None,
            });
            format!("quantised: {moved} notes moved to sixteenths · z undo")
        };
        None
    }

    /// `p`: plays the last rendered WAV as it is.
    pub(super) fn play_render(&mut self) -> Option<Effect> {
        match &self.rendered {
            Some(path) => Some(Effect::PlayFile(path.clone())),
            None => {
                self.status = "no render yet: w renders a WAV, p plays it".into();
                None
            }
        }
    }
}
