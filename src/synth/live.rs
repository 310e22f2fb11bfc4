//! The neural synthesizer played by MIDI messages as they come (a live session's audio output with
//! `--engine neural`). The network is too heavy for the audio callback, so a producer thread owns
//! the voices: it applies the messages the [`NeuralSink`] queued, steps one frame (5.8 ms) whenever
//! the audio queue holds less than [`AHEAD_SECONDS`], resamples in small chunks and queues the
//! samples; the callback only copies them out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::ddsp::SAMPLE_RATE;
use super::render::{LiveVoices, NeuralEngine};
use super::resample::StreamResampler;
use crate::audio::playback::{AudioSource, Output, Transport};
use crate::error::{Error, Result};
use crate::ports::{Message, MidiSink};

/// Audio kept queued ahead of the output, seconds: the latency the synth adds beyond its
/// resampler's chunk.
pub const AHEAD_SECONDS: f64 = 0.03;
/// Input samples per resampler chunk (11.6 ms at the synth's rate).
const CHUNK: usize = 256;
/// Output peak the voices are clipped to.
const CEILING: f32 = 0.98;

/// The neural synthesizer on an output, played by [`MidiSink::send`].
pub struct NeuralSink {
    tx: rtrb::Producer<Message>,
    stop: Arc<AtomicBool>,
    producer: Option<JoinHandle<Result<()>>>,
    output: Box<dyn Output>,
}

impl NeuralSink {
    /// Starts `output` playing `engine`'s voices.
    pub fn start(engine: NeuralEngine, mut output: Box<dyn Output>) -> Result<NeuralSink> {
        let rate = output.sample_rate();
        let resampler = StreamResampler::with_chunk(SAMPLE_RATE, rate, CHUNK)?;
        let (tx, messages) = rtrb::RingBuffer::new(4096);
        let (samples, rx) = rtrb::RingBuffer::new(rate as usize);
        let transport = Arc::new(Transport::new(rate, 0));
        let stop = Arc::new(AtomicBool::new(false));
        let ahead = (AHEAD_SECONDS * rate as f64) as usize;
        let s = stop.clone();
        let producer = std::thread::Builder::new()
            .name("reprise-neural-live".into())
            .spawn(move || produce(&engine, messages, samples, resampler, ahead, &s))
            .map_err(|e| Error::Internal(format!("neural synth thread: {e}")))?;
        output.start(Box::new(Queued {
            rx,
            transport: transport.clone(),
        }))?;
        Ok(NeuralSink {
            tx,
            stop,
            producer: Some(producer),
            output,
        })
    }
}

impl MidiSink for NeuralSink {
    fn send(&mut self, message: Message) -> Result<()> {
        self.tx
            .push(message)
            .map_err(|_| Error::Internal("the neural synth's queue is full".into()))
    }
}

impl Drop for NeuralSink {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(150));
        self.stop.store(true, Ordering::Release);
        if let Some(p) = self.producer.take() {
            let _ = p.join();
        }
        self.output.stop();
    }
}

/// The producer thread: messages in, frames stepped while the queue is short, samples out.
fn produce(
    engine: &NeuralEngine,
    mut messages: rtrb::Consumer<Message>,
    mut samples: rtrb::Producer<f32>,
    mut resampler: StreamResampler,
    ahead: usize,
    stop: &AtomicBool,
) -> Result<()> {
    let mut voices = LiveVoices::new(engine);
    while !stop.load(Ordering::Acquire) {
        while let Ok(m) = messages.pop() {
            apply(&mut voices, m);
        }
        let queued = samples.buffer().capacity() - samples.slots();
        if queued >= ahead {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let out = resampler.push(&voices.frame())?;
        for v in out {
            if samples.push(v.clamp(-CEILING, CEILING)).is_err() {
                break;
            }
        }
    }
    Ok(())
}

fn apply(voices: &mut LiveVoices, m: Message) {
    match m {
        Message::NoteOn {
            pitch, velocity, ..
        } => voices.press(pitch, velocity),
        Message::NoteOff { pitch, .. } => voices.release(pitch),
        Message::Control {
            controller: 120 | 123,
            ..
        } => voices.release_all(),
        Message::Control { .. } | Message::Program { .. } => {}
    }
}

/// The callback side: copies queued samples to every channel (silence, counted, if none came).
struct Queued {
    rx: rtrb::Consumer<f32>,
    transport: Arc<Transport>,
}

impl AudioSource for Queued {
    fn fill(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        let mut starved = false;
        for frame in out.chunks_mut(channels) {
            let v = self.rx.pop().unwrap_or_else(|_| {
                starved = true;
                0.0
            });
            frame.iter_mut().for_each(|x| *x = v);
        }
        if starved {
            self.transport.count_underrun();
        }
        self.transport.advance((out.len() / channels) as u64);
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
    fn keys_sound_through_the_neural_synth_and_fall_silent_when_released() {
        let engine = NeuralEngine::untrained(&crate::test_util::tiny_synth_config()).unwrap();
        let mut out = Clocked::new(44_100, 256, 1.0);
        let audio = out.keep_audio();
        let mut sink = NeuralSink::start(engine, Box::new(out)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        sink.send(Message::NoteOn {
            channel: 0,
            pitch: 69,
            velocity: 110,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        sink.send(Message::Control {
            channel: 0,
            controller: 123,
            value: 0,
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(1800));
        drop(sink);
        let audio = audio.lock().unwrap().clone();
        let peak = |a: &[f32]| a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let before = peak(&audio[..2 * 44_100 * 40 / 1000]);
        let during = peak(&audio[2 * 44_100 * 150 / 1000..2 * 44_100 * 300 / 1000]);
        let tail = peak(&audio[audio.len() - 2 * 4410..]);
        assert!(before < 1e-6, "silent before the key: {before}");
        assert!(during > 1e-3, "the key sounds: {during}");
        assert!(tail < during * 0.05, "released: {tail} vs {during}");
    }
}
