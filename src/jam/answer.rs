//! A model's answer: the conversation so far (the player's notes and Reprise's) becomes a primer on
//! the session's beat, and a beat-aware model continues it from the answer's start for a number of
//! bars, note by note as they are drawn.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::tempo::Beat;
use super::Note;
use crate::error::Result;
use crate::generate::beat::{continue_at, BarGrid, Placement};
use crate::generate::request::{GenEvent, Length, Request};
use crate::generate::SamplerConfig;
use crate::midi::{Score, TrackRole};
use crate::model::MusicTransformer;
use crate::ports::{Message, Timed};
use crate::tokens::NoteEvent;

/// Ticks per quarter of the primer.
const PPQ: u16 = 480;

/// One answer to draw.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// The session's beat.
    pub beat: Beat,
    /// Session seconds where the answer starts (a beat).
    pub start: f64,
    /// Bars to answer.
    pub bars: usize,
    /// MIDI channel of the answer.
    pub channel: u8,
    /// Seed of this answer's sampling.
    pub seed: u64,
}

/// Something that answers a phrase: sends the answer's messages (session seconds, roughly in time
/// order, each note's release after its onset) to `out` as they are known, and returns early once
/// `cancel` is set.
pub trait Answerer: Send + Sync {
    /// Answers `heard` (every note so far, sorted by onset) as `ask` says.
    fn answer(
        &self,
        heard: &[Note],
        ask: &Ask,
        cancel: &Arc<AtomicBool>,
        out: &mut dyn FnMut(Timed),
    ) -> Result<()>;
}

/// Answers with a beat-aware Music Transformer (`pop909-beat`).
pub struct ModelAnswerer {
    /// The model.
    pub model: Arc<MusicTransformer>,
    /// Sampling (the seed is each [`Ask`]'s).
    pub sampler: SamplerConfig,
    /// Key guidance toward the primer's key, in nats (see [`Request::key_guide`]).
    pub key_guide: f32,
    /// Seconds of the conversation the prompt holds at most.
    pub primer_seconds: f64,
}

/// The conversation as a score on `beat`: tick 0 is the first downbeat, one tempo, 4/4.
pub fn primer(heard: &[Note], beat: &Beat) -> Result<Score> {
    let mut s = Score::new(PPQ, (60e6 / beat.bpm).round() as u32)?;
    let t = s.add_track("conversation", TrackRole::Other);
    for n in heard {
        let start = (n.start - beat.origin).max(0.0);
        let end = (n.end - beat.origin).max(start + 0.01);
        s.push_note_seconds(t, 0, 0, n.pitch, n.velocity, start, end);
    }
    s.sort();
    Ok(s)
}

impl Answerer for ModelAnswerer {
    fn answer(
        &self,
        heard: &[Note],
        ask: &Ask,
        cancel: &Arc<AtomicBool>,
        out: &mut dyn FnMut(Timed),
    ) -> Result<()> {
        let score = primer(heard, &ask.beat)?;
        let from = score.tempo_map.tick(ask.start - ask.beat.origin);
        let place = Placement {
            grid: BarGrid::new(vec![0], 4 * PPQ as u64),
            from,
        };
        let req = Request {
            length: Length::Seconds(ask.bars as f64 * ask.beat.bar_seconds()),
            sampler: SamplerConfig {
                seed: ask.seed,
                ..self.sampler
            },
            samples: 1,
            bpm: ask.beat.bpm,
            primer_seconds: self.primer_seconds,
            only_new: true,
            cancel: Some(cancel.clone()),
            key_guide: self.key_guide,
        };
        let (origin, channel) = (ask.beat.origin, ask.channel);
        let mut on_event = |_: usize, e: GenEvent| {
            if let GenEvent::Note { event, .. } = e {
                out(timed(event, origin, channel));
            }
        };
        continue_at(&self.model, &score, &place, &req, &mut on_event).map(|_| ())
    }
}

/// A generated note event as a message in session seconds.
fn timed(event: NoteEvent, origin: f64, channel: u8) -> Timed {
    let message = match event {
        NoteEvent::On {
            pitch, velocity, ..
        } => Message::NoteOn {
            channel,
            pitch,
            velocity: velocity.max(1),
        },
        NoteEvent::Off { pitch, .. } => Message::NoteOff { channel, pitch },
    };
    Timed {
        time: origin + event.time(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primer_starts_at_the_first_downbeat() {
        let beat = Beat {
            bpm: 100.0,
            origin: 2.0,
        };
        let heard = [
            Note {
                pitch: 60,
                velocity: 90,
                start: 2.0,
                end: 2.6,
            },
            Note {
                pitch: 64,
                velocity: 80,
                start: 2.6,
                end: 3.2,
            },
        ];
        let s = primer(&heard, &beat).unwrap();
        assert_eq!(s.notes.len(), 2);
        assert_eq!(s.notes[0].start_tick, 0);
        // 0.6 s at 100 BPM is one beat: 480 ticks.
        assert_eq!(s.notes[1].start_tick, 480);
        assert!((s.notes[1].end - 1.2).abs() < 1e-3);
    }
}
