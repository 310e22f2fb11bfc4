//! The SoundFont synthesizer played by MIDI messages as they come (a live session's audio output):
//! a [`MidiSink`] on the controlling thread pushes messages into a lock-free queue; the output's
//! callback applies them at the start of its next buffer and renders.

use std::sync::Arc;
use std::time::Duration;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::playback::{interleave, AudioSource, Output, Transport, SCRATCH_FRAMES};
use crate::error::{Error, Result};
use crate::ports::{Message, MidiSink};

/// Messages the queue holds between two audio buffers.
const QUEUE: usize = 4096;

/// Output gain (the General MIDI bank is quiet for one or two voices).
const GAIN: f32 = 1.0;

/// A synthesizer on an output, played by [`MidiSink::send`]. Dropping it lets the last releases
/// sound for a moment, then stops the output.
pub struct SynthSink {
    tx: rtrb::Producer<Message>,
    output: Box<dyn Output>,
    transport: Arc<Transport>,
}

impl SynthSink {
    /// Starts `output` playing `soundfont` (every channel on the General MIDI piano until told otherwise).
    pub fn start(soundfont: &Arc<SoundFont>, mut output: Box<dyn Output>) -> Result<SynthSink> {
        let rate = output.sample_rate();
        let settings = SynthesizerSettings::new(rate as i32);
        let synth = Synthesizer::new(soundfont, &settings)
            .map_err(|e| Error::Invalid(format!("the SoundFont cannot play: {e:?}")))?;
        let (tx, rx) = rtrb::RingBuffer::new(QUEUE);
        let transport = Arc::new(Transport::new(rate, 0));
        output.start(Box::new(LiveSource {
            synth,
            rx,
            transport: transport.clone(),
            left: vec![0.0; SCRATCH_FRAMES],
            right: vec![0.0; SCRATCH_FRAMES],
        }))?;
        Ok(SynthSink {
            tx,
            output,
            transport,
        })
    }

    /// Seconds of audio played.
    pub fn position(&self) -> f64 {
        self.transport.position()
    }
}

impl MidiSink for SynthSink {
    fn send(&mut self, message: Message) -> Result<()> {
        self.tx
            .push(message)
            .map_err(|_| Error::Internal("the synthesizer's queue is full".into()))
    }
}

impl Drop for SynthSink {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(150));
        self.output.stop();
    }
}

/// The callback side: real-time safe (no allocation, lock or I/O).
struct LiveSource {
    synth: Synthesizer,
    rx: rtrb::Consumer<Message>,
    transport: Arc<Transport>,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl AudioSource for LiveSource {
    fn fill(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        while let Ok(m) = self.rx.pop() {
            let [status, data1, data2] = m.bytes();
            self.synth.process_midi_message(
                i32::from(status & 0x0F),
                i32::from(status & 0xF0),
                i32::from(data1),
                i32::from(data2),
            );
        }
        let frames = out.len() / channels;
        let mut pos = 0;
        while pos < frames {
            let n = (frames - pos).min(SCRATCH_FRAMES);
            self.synth.render(&mut self.left[..n], &mut self.right[..n]);
            let chunk = &mut out[pos * channels..(pos + n) * channels];
            interleave(&self.left[..n], &self.right[..n], GAIN, chunk, channels);
            pos += n;
        }
        self.transport.advance(frames as u64);
    }

    fn transport_handle(&self) -> Arc<Transport> {
        self.transport.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::playback::Clocked;

    #[test]
    fn messages_become_sound_and_releases_silence() {
        let sf = crate::audio::soundfont::load(None).unwrap();
        let mut out = Clocked::new(22_050, 256, 8.0);
        let audio = out.keep_audio();
        let mut sink = SynthSink::start(&sf, Box::new(out)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        sink.send(Message::NoteOn {
            channel: 0,
            pitch: 60,
            velocity: 100,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        sink.send(Message::NoteOff {
            channel: 0,
            pitch: 60,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(sink);
        let audio = audio.lock().unwrap().clone();
        let peak = audio.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.01, "a note sounded: {peak}");
        let tail = &audio[audio.len() - 2 * 2048..];
        let tail_peak = tail.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(tail_peak < peak * 0.05, "released: {tail_peak} vs {peak}");
    }
}
