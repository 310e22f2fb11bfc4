//! Audio files played as they are (`reprise play take.wav`, the TUI's audition of a render or a
//! recording): rodio decodes WAV, FLAC, MP3 or Ogg Vorbis and converts it to stereo at the output's
//! rate; the result plays from memory through the same outputs as everything else, so it pauses
//! and seeks like a MIDI file and plays on the `null` clock where there is no sound card.

use std::num::NonZero;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rodio::source::UniformSourceIterator;
use rodio::Decoder;

use super::decode::MAX_SECONDS;
use super::playback::{AudioSource, Output, PlaybackStats, Transport};
use crate::error::{Error, Result};

/// Decodes `path` to interleaved stereo at `rate` Hz (at most [`MAX_SECONDS`]).
pub fn decode_stereo(path: &Path, rate: u32) -> Result<Vec<f32>> {
    let bytes = crate::input::read(path, crate::input::MAX_DATA_BYTES, "audio file")?;
    crate::guard::contain(path, "audio file", || decode(bytes, path, rate))
}

fn decode(bytes: Vec<u8>, path: &Path, rate: u32) -> Result<Vec<f32>> {
    let len = bytes.len() as u64;
    let mut builder = Decoder::builder()
        .with_data(std::io::Cursor::new(bytes))
        .with_byte_len(len)
        .with_seekable(true);
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        builder = builder.with_hint(ext);
    }
    let decoder = builder.build().map_err(|e| {
        Error::bad_file(
            path,
            format!("not a playable audio file (WAV, FLAC, MP3, Ogg Vorbis): {e}"),
        )
    })?;
    let rate = NonZero::new(rate).ok_or_else(|| Error::Internal("a 0 Hz output".into()))?;
    let stereo = NonZero::new(2).expect("2 > 0");
    let most = (MAX_SECONDS * rate.get() as f64) as usize * 2;
    let samples: Vec<f32> = UniformSourceIterator::new(decoder, stereo, rate)
        .take(most + 1)
        .collect();
    if samples.len() > most {
        return Err(Error::bad_file(
            path,
            format!("is longer than {MAX_SECONDS} s: too long to audition"),
        ));
    }
    if samples.is_empty() {
        return Err(Error::bad_file(path, "has no audio"));
    }
    Ok(samples)
}

/// Where the callback is, shared with the controller.
struct State {
    frame: AtomicU64,
    frames: u64,
    paused: AtomicBool,
}

/// An audio file playing.
pub struct FilePlayer {
    state: Arc<State>,
    transport: Arc<Transport>,
    output: Box<dyn Output>,
    rate: u32,
}

impl FilePlayer {
    /// Decodes `path` and starts playing it on `output` from `from` seconds.
    pub fn start(path: &Path, mut output: Box<dyn Output>, from: f64) -> Result<FilePlayer> {
        let rate = output.sample_rate();
        let samples: Arc<[f32]> = decode_stereo(path, rate)?.into();
        let frames = samples.len() as u64 / 2;
        let state = Arc::new(State {
            frame: AtomicU64::new(((from.max(0.0) * rate as f64) as u64).min(frames)),
            frames,
            paused: AtomicBool::new(false),
        });
        let transport = Arc::new(Transport::new(rate, 0));
        output.start(Box::new(FileSource {
            samples,
            state: state.clone(),
            transport: transport.clone(),
        }))?;
        Ok(FilePlayer {
            state,
            transport,
            output,
            rate,
        })
    }

    /// The file's length in seconds.
    pub fn seconds(&self) -> f64 {
        self.state.frames as f64 / self.rate as f64
    }

    /// Stops the output; returns how playback went.
    pub fn stop(mut self) -> PlaybackStats {
        self.output.stop();
        PlaybackStats {
            delivered: self.state.frame.load(Ordering::Acquire),
            late_events: 0,
            underruns: self.transport.underruns(),
            stalls: 0,
        }
    }
}

impl super::playback::Playback for FilePlayer {
    fn position(&self) -> f64 {
        self.state.frame.load(Ordering::Acquire) as f64 / self.rate as f64
    }
    fn is_done(&self) -> bool {
        self.state.frame.load(Ordering::Acquire) >= self.state.frames
    }
    fn is_paused(&self) -> bool {
        self.state.paused.load(Ordering::Acquire)
    }
    fn toggle_pause(&self) {
        self.state.paused.fetch_xor(true, Ordering::AcqRel);
    }
    fn seek(&self, seconds: f64) {
        let frame = (seconds.max(0.0) * self.rate as f64) as u64;
        self.state
            .frame
            .store(frame.min(self.state.frames), Ordering::Release);
    }
}

/// The callback side: copies from memory (no allocation, lock or I/O).
struct FileSource {
    samples: Arc<[f32]>,
    state: Arc<State>,
    transport: Arc<Transport>,
}

impl AudioSource for FileSource {
    fn fill(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        let s = &self.state;
        let start = s.frame.load(Ordering::Acquire);
        let mut frame = start;
        let paused = s.paused.load(Ordering::Acquire);
        for slot in out.chunks_mut(channels) {
            let i = frame as usize * 2;
            let (l, r) = match self.samples.get(i..i + 2) {
                Some(lr) if !paused => {
                    frame += 1;
                    (lr[0], lr[1])
                }
                _ => (0.0, 0.0),
            };
            if channels == 1 {
                slot[0] = 0.5 * (l + r);
            } else {
                slot[0] = l;
                slot[1] = r;
                slot[2..].iter_mut().for_each(|x| *x = 0.0);
            }
        }
        // A seek from the controller during this buffer wins over the frame played.
        let _ = s
            .frame
            .compare_exchange(start, frame, Ordering::AcqRel, Ordering::Relaxed);
    }

    fn transport_handle(&self) -> Arc<Transport> {
        self.transport.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::playback::{Clocked, Playback};
    use super::*;

    fn tone(path: &Path, rate: u32, seconds: f64) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..(seconds * rate as f64) as usize {
            let v = (i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin() * 0.5;
            w.write_sample((v * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn a_mono_wav_plays_as_stereo_at_the_output_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        tone(&path, 22_050, 0.5);
        let samples = decode_stereo(&path, 44_100).unwrap();
        assert!(
            (samples.len() as i64 - 44_100).abs() < 64,
            "{}",
            samples.len()
        );
        let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.5).abs() < 0.02, "{peak}");
        assert!(samples.chunks(2).all(|lr| lr[0] == lr[1]));

        let mut out = Clocked::new(44_100, 512, 20.0);
        let audio = out.keep_audio();
        let p = FilePlayer::start(&path, Box::new(out), 0.0).unwrap();
        assert!((p.seconds() - 0.5).abs() < 0.01);
        while !p.is_done() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let stats = p.stop();
        assert_eq!(stats.delivered, samples.len() as u64 / 2);
        let played = audio.lock().unwrap().clone();
        assert_eq!(&played[..samples.len()], &samples[..]);
    }

    #[test]
    fn seeking_and_pausing_move_the_playhead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        tone(&path, 44_100, 2.0);
        let p = FilePlayer::start(&path, Box::new(Clocked::new(44_100, 256, 1.0)), 1.0).unwrap();
        assert!(p.position() >= 1.0);
        p.toggle_pause();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let held = p.position();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(p.position(), held, "paused");
        p.seek(0.25);
        assert!((p.position() - 0.25).abs() < 1e-9);
        p.stop();
    }

    #[test]
    fn what_is_not_audio_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wav");
        std::fs::write(&path, b"RIFF nonsense").unwrap();
        let e = decode_stereo(&path, 44_100).unwrap_err().to_string();
        assert!(e.contains("c.wav") && !e.contains('\n'), "{e}");
    }
}
