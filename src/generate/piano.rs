//! Continuation with a performance-event (piano) model, for any General MIDI file: drums are dropped,
//! every other part is played as one piano, the primer's last seconds that fit the context are the
//! prompt, and the new music goes on a piano track of its own, on the primer's tempo map so that it
//! lines up in a sequencer. Note events are reported while they are generated.

use super::decode::Steer;
use super::request::{GenEvent, Length, Output, Request, Task};
use crate::error::{Error, Result};
use crate::midi::score::DRUM_CHANNEL;
use crate::midi::{apply_sustain, gm, Score, TrackRole};

use crate::tokens::performance::{grammar, PerformanceStream, PerformanceVocab};
use crate::tokens::{NoteEvent, Vocab, BOS};

/// Most keys that may sound at once in a continuation, pedal included. In POP909 with the pedal folded
/// into note lengths, the median is 6 keys, 90 % of the time ≤ 10, 99 % ≤ 46, 99.9 % ≤ 73
/// (`cargo run --release --example pop909_stats`): long pedals let many notes ring.
pub const MAX_POLYPHONY: usize = 48;

/// Tokens allowed per second of requested music before a sample is cut off (the corpus averages
/// about 25; this stops a model that never moves time forward).
const MAX_TOKENS_PER_SECOND: f64 = 300.0;

/// The primer reduced to a prompt.
struct Prompt {
    /// Token ids (BOS first if the prompt starts at the beginning of the piece).
    ids: Vec<u32>,
    /// Where the prompt's time 0 lies in the primer, seconds.
    origin: f64,
    /// Seconds from `origin` to the prompt's last event.
    length: f64,
}

/// Continues `primer` (or generates from nothing) with a performance model.
pub fn run(task: Task, on_event: &mut dyn FnMut(usize, GenEvent)) -> Result<Output> {
    let Task { model, primer, req } = task;
    let mut notes = Vec::new();
    let prompt = match primer {
        Some(score) => prompt_from(
            score,
            req.primer_seconds,
            model.config().max_len,
            &mut notes,
        )?,
        None => Prompt {
            ids: vec![BOS],
            origin: 0.0,
            length: 0.0,
        },
    };
    let (steps, until) = match req.length {
        Length::Tokens(n) => (n, f64::INFINITY),
        Length::Seconds(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => (
            ((s * MAX_TOKENS_PER_SECOND) as usize).max(256),
            prompt.length + s,
        ),
        Length::Seconds(s) => {
            return Err(Error::Invalid(format!(
                "the length {s} s must be in (0, 3600]"
            )))
        }
    };
    let channel = match primer {
        Some(p) if !req.only_new => free_channel(p),
        _ => 0,
    };
    let mut steer = PianoSteer::new(&prompt, req, channel, until, on_event)?;
    let generated = super::request::draw(model, &prompt.ids, req, steps, &mut steer)?;
    let mut scores = Vec::with_capacity(generated.len());
    for ids in generated {
        scores.push(output_score(primer, req, &prompt, channel, &ids)?);
    }
    Ok(Output { scores, notes })
}

/// The last `seconds` of the primer (less if that does not fit `max_len` tokens), as one piano with
/// the sustain pedal folded into the notes; `notes` learns what was dropped or folded.
fn prompt_from(
    score: &Score,
    seconds: f64,
    max_len: usize,
    notes: &mut Vec<String>,
) -> Result<Prompt> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(Error::Invalid(format!(
            "the primer window {seconds} s must be > 0"
        )));
    }
    let piano = piano_reduction(score, true, notes);
    let end = piano.notes.iter().map(|n| n.end).fold(0.0, f64::max);
    if piano.notes.is_empty() {
        return Err(Error::Invalid(
            "the primer has no pitched notes (it is empty or drums only)".into(),
        ));
    }
    let vocab = PerformanceVocab::default();
    let mut window = seconds.min(end);
    loop {
        let origin = (end - window).max(0.0);
        let mut part = piano.clone();
        part.notes.retain(|n| n.start >= origin - 1e-9);
        for n in &mut part.notes {
            n.start -= origin;
            n.end -= origin;
        }
        let mut ids = if origin <= 0.0 { vec![BOS] } else { vec![] };
        ids.extend(vocab.encode(&part)?);
        if ids.len() < max_len || window < 0.05 {
            let length = part.notes.iter().map(|n| n.end).fold(0.0, f64::max);
            let kept = ids.len().min(max_len - 1);
            notes.push(if window + 1e-9 < seconds.min(end) {
                format!(
                    "primer: the last {window:.1} s of {end:.1} s fit the model's context ({kept} tokens)"
                )
            } else {
                format!("primer: the last {window:.1} s of {end:.1} s as the prompt ({kept} tokens)")
            });
            let start = ids.len().saturating_sub(max_len - 1);
            return Ok(Prompt {
                ids: ids[start..].to_vec(),
                origin,
                length,
            });
        }
        window *= 0.85;
    }
}

/// All non-drum notes as one piano, with the sustain folded into note lengths if `pedal`, pedal
/// spans cleared. Says on `notes` when drums were dropped or other instruments folded.
pub(crate) fn piano_reduction(score: &Score, pedal: bool, notes: &mut Vec<String>) -> Score {
    let mut piano = if pedal {
        apply_sustain(score)
    } else {
        score.clone()
    };
    piano.sustain.clear();
    let drums = piano.notes.iter().filter(|n| n.is_drum()).count();
    piano.notes.retain(|n| !n.is_drum());
    let mut others: Vec<&str> = piano
        .notes
        .iter()
        .filter(|n| n.program >= 8) // 0–7 are the GM pianos
        .map(|n| gm::program_name(n.program, false))
        .collect();
    others.sort_unstable();
    others.dedup();
    if drums > 0 {
        notes.push(format!("primer: {drums} drum notes left out"));
    }
    if !others.is_empty() {
        notes.push(format!(
            "primer: {} folded to piano for the prompt",
            others.join(", ")
        ));
    }
    piano
}

/// Keeps each sample's decoder state: masks releases to sounding keys and caps polyphony, reports
/// tokens and notes (in output seconds), and ends a sample once it reaches `until` seconds.
struct PianoSteer<'a> {
    req: &'a Request,
    channel: u8,
    streams: Vec<PerformanceStream>,
    until: f64,
    origin: f64,
    on_event: &'a mut dyn FnMut(usize, GenEvent),
    events: Vec<NoteEvent>,
}

impl<'a> PianoSteer<'a> {
    fn new(
        prompt: &Prompt,
        req: &'a Request,
        channel: u8,
        until: f64,
        on_event: &'a mut dyn FnMut(usize, GenEvent),
    ) -> Result<Self> {
        let mut stream = PerformanceStream::new();
        let mut ignored = Vec::new();
        for &id in &prompt.ids {
            stream.push(id, &mut ignored)?;
        }
        Ok(PianoSteer {
            req,
            channel,
            streams: vec![stream; req.samples.max(1)],
            until,
            origin: prompt.origin,
            on_event,
            events: Vec::new(),
        })
    }

    fn report(&mut self, i: usize) {
        for e in self.events.drain(..) {
            let shifted = match e {
                NoteEvent::On {
                    pitch,
                    velocity,
                    time,
                } => NoteEvent::On {
                    pitch,
                    velocity,
                    time: time + self.origin,
                },
                NoteEvent::Off { pitch, time } => NoteEvent::Off {
                    pitch,
                    time: time + self.origin,
                },
            };
            let note = GenEvent::Note {
                channel: self.channel,
                program: 0,
                event: shifted,
            };
            (self.on_event)(i, note);
        }
    }
}

impl Steer for PianoSteer<'_> {
    fn allowed(&mut self, i: usize) -> Option<Vec<bool>> {
        Some(grammar(
            &self.streams[i],
            MAX_POLYPHONY,
            super::MAX_NOTE_SECONDS,
        ))
    }

    fn accept(&mut self, i: usize, id: u32) -> bool {
        (self.on_event)(i, GenEvent::Token(id));
        // Ids come from the model's vocabulary, so the stream cannot refuse them.
        let _ = self.streams[i].push(id, &mut self.events);
        let more = self.streams[i].seconds() < self.until && !self.req.cancelled();
        if !more {
            self.streams[i].finish(&mut self.events);
        }
        self.report(i);
        more
    }
}

/// The output file for one sample: the primer's own tracks (unless `--only-new`) and a new piano
/// track with the continuation, all on the primer's tempo map.
fn output_score(
    primer: Option<&Score>,
    req: &Request,
    prompt: &Prompt,
    channel: u8,
    new_ids: &[u32],
) -> Result<Score> {
    let mut out = match primer {
        Some(p) => {
            let mut s = p.clone();
            if req.only_new {
                s.tracks.clear();
                s.notes.clear();
                s.sustain.clear();
                s.controls.clear();
            }
            s
        }
        None => Score::new(480, (60e6 / req.bpm).round() as u32)?,
    };
    let track = out.add_track("Reprise continuation", TrackRole::Other);
    let ids: Vec<u32> = prompt.ids.iter().chain(new_ids).copied().collect();
    let decoded = PerformanceVocab::default().decode(&ids)?;
    for n in decoded
        .notes
        .iter()
        .filter(|n| n.start >= prompt.length - 1e-6)
    {
        out.push_note_seconds(
            track,
            channel,
            0,
            n.pitch,
            n.velocity,
            n.start + prompt.origin,
            n.end + prompt.origin,
        );
    }
    out.sort();
    Ok(out)
}

/// The first melodic channel no note of `score` uses (0 if all are taken): where the continuation goes.
pub fn free_channel(score: &Score) -> u8 {
    (0u8..16)
        .filter(|&c| c != DRUM_CHANNEL)
        .find(|&c| !score.notes.iter().any(|n| n.channel == c))
        .unwrap_or(0)
}
