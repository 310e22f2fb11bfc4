//! Offline SoundFont rendering of a `Score` with rustysynth, written as a WAV with hound.
//!
//! Channels are independent in a SoundFont synth and its reverb and chorus are linear, so the channels are
//! split into groups rendered on separate threads (one synthesizer each) and summed.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};
use crate::midi::{ControlKind, Score};

/// Settings for an offline render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Output sample rate, 16 000–192 000 Hz.
    pub sample_rate: u32,
    /// Linear gain applied to the mix.
    pub gain: f32,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// The longest release tail rendered after the last event, in seconds.
    pub max_tail_seconds: f64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            sample_rate: 44_100,
            gain: 1.0,
            threads: 0,
            max_tail_seconds: 10.0,
        }
    }
}

impl RenderOptions {
    /// Checks the settings: sample rate 16 000–192 000 Hz, gain 0–100.
    pub fn validate(&self) -> Result<()> {
        if !(16_000..=192_000).contains(&self.sample_rate) {
            return Err(Error::Invalid(format!(
                "sample rate {} Hz is out of range 16000–192000",
                self.sample_rate
            )));
        }
        if !self.gain.is_finite() || !(0.0..=100.0).contains(&self.gain) {
            return Err(Error::Invalid(format!(
                "gain {} is out of range 0–100",
                self.gain
            )));
        }
        Ok(())
    }
}

/// Rendered stereo audio.
#[derive(Debug, Clone, Default)]
pub struct Stereo {
    /// Left channel samples.
    pub left: Vec<f32>,
    /// Right channel samples.
    pub right: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl Stereo {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.left.len() as f64 / self.sample_rate as f64
    }

    /// The largest absolute sample.
    pub fn peak(&self) -> f32 {
        self.left
            .iter()
            .chain(&self.right)
            .fold(0.0, |m, x| m.max(x.abs()))
    }
}

/// One MIDI message for the synthesizer at a sample position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SynthEvent {
    pub(crate) sample: u64,
    /// Order among events at the same sample: controls, note-offs, then note-ons.
    pub(crate) rank: u8,
    pub(crate) channel: u8,
    pub(crate) command: u8,
    pub(crate) data1: u8,
    pub(crate) data2: u8,
}

/// Samples below this (−100 dBFS) count as silence when looking for the end of the release tail.
const SILENCE: f32 = 1e-5;
/// Samples rendered per synthesizer call between events, and per silence check in the tail.
const CHUNK: usize = 1024;

/// Renders `score` with `soundfont`. `progress` receives the fraction done (0–1) from time to time.
pub fn render(
    score: &Score,
    soundfont: &Arc<SoundFont>,
    opts: &RenderOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<Stereo> {
    opts.validate()?;
    let events = synth_events(score, opts.sample_rate);
    let groups = channel_groups(score, &events, opts.threads);
    let expected = events.last().map_or(0, |e| e.sample) + opts.sample_rate as u64;
    let done = AtomicU64::new(0);
    let parts: Vec<Result<(Vec<f32>, Vec<f32>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .iter()
            .map(|channels| {
                let evs: Vec<SynthEvent> = events
                    .iter()
                    .filter(|e| channels.contains(&e.channel))
                    .copied()
                    .collect();
                let done = &done;
                scope.spawn(move || render_group(&evs, soundfont, opts, done))
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            let per_thread = done.load(Ordering::Relaxed) as f64 / groups.len().max(1) as f64;
            progress((per_thread / expected as f64).min(0.99));
            std::thread::sleep(Duration::from_millis(50));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("render thread panicked".into())))
            })
            .collect()
    });
    let mut out = Stereo {
        sample_rate: opts.sample_rate,
        ..Default::default()
    };
    for part in parts {
        let (l, r) = part?;
        mix_into(&mut out.left, &l, opts.gain);
        mix_into(&mut out.right, &r, opts.gain);
    }
    progress(1.0);
    Ok(out)
}

fn mix_into(dst: &mut Vec<f32>, src: &[f32], gain: f32) {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0.0);
    }
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s * gain;
    }
}

/// Renders the events of one channel group, then the release tail until silence.
fn render_group(
    events: &[SynthEvent],
    soundfont: &Arc<SoundFont>,
    opts: &RenderOptions,
    done: &AtomicU64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut settings = SynthesizerSettings::new(opts.sample_rate as i32);
    settings.maximum_polyphony = 256;
    let mut synth = Synthesizer::new(soundfont, &settings)
        .map_err(|e| Error::Internal(format!("synthesizer: {e}")))?;
    let end = events.last().map_or(0, |e| e.sample) as usize;
    let (mut left, mut right) = (vec![0f32; end], vec![0f32; end]);
    let mut pos = 0usize;
    for e in events {
        let target = e.sample as usize;
        while pos < target {
            let n = (target - pos).min(CHUNK);
            synth.render(&mut left[pos..pos + n], &mut right[pos..pos + n]);
            pos += n;
            done.fetch_add(n as u64, Ordering::Relaxed);
        }
        synth.process_midi_message(
            e.channel as i32,
            e.command as i32,
            e.data1 as i32,
            e.data2 as i32,
        );
    }
    let max_tail = (opts.max_tail_seconds * opts.sample_rate as f64) as usize;
    let (mut l, mut r) = (vec![0f32; CHUNK], vec![0f32; CHUNK]);
    let mut tail = 0;
    while tail < max_tail {
        synth.render(&mut l, &mut r);
        left.extend_from_slice(&l);
        right.extend_from_slice(&r);
        tail += CHUNK;
        if l.iter().chain(&r).all(|x| x.abs() < SILENCE) {
            break;
        }
    }
    let last_sound = left
        .iter()
        .zip(&right)
        .rposition(|(a, b)| a.abs() >= SILENCE || b.abs() >= SILENCE)
        .map_or(0, |i| i + 1);
    let keep = last_sound.max(end);
    left.truncate(keep);
    right.truncate(keep);
    Ok((left, right))
}

/// Splits the channels that have events into at most `threads` groups of similar synthesis cost. A
/// channel's cost is estimated as its voice-seconds: the sum of its note lengths plus a release allowance.
fn channel_groups(score: &Score, events: &[SynthEvent], threads: usize) -> Vec<Vec<u8>> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut cost = [0f64; 16];
    for e in events {
        cost[e.channel as usize] += 1e-3;
    }
    for n in &score.notes {
        cost[(n.channel & 15) as usize] += n.duration() + RELEASE_ALLOWANCE;
    }
    let mut channels: Vec<u8> = (0..16u8).filter(|&c| cost[c as usize] > 0.0).collect();
    channels.sort_by(|&a, &b| cost[b as usize].total_cmp(&cost[a as usize]));
    let k = threads.clamp(1, channels.len().max(1));
    let mut groups = vec![(0f64, Vec::new()); k];
    for c in channels {
        let g = groups
            .iter_mut()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("k >= 1");
        g.0 += cost[c as usize];
        g.1.push(c);
    }
    groups.into_iter().map(|g| g.1).collect()
}

/// Seconds of release counted per note when balancing channel groups.
const RELEASE_ALLOWANCE: f64 = 0.3;

/// The score as synthesizer messages at sample positions, sorted.
pub(crate) fn synth_events(score: &Score, sample_rate: u32) -> Vec<SynthEvent> {
    let at = |seconds: f64| (seconds.max(0.0) * sample_rate as f64).round() as u64;
    let mut out = Vec::with_capacity(score.notes.len() * 2 + score.controls.len());
    let mut push = |sample, rank, channel: u8, command, data1, data2| {
        out.push(SynthEvent {
            sample,
            rank,
            channel,
            command,
            data1,
            data2,
        })
    };
    let mut programs = [None::<u8>; 16];
    for n in &score.notes {
        let ch = n.channel & 15;
        if programs[ch as usize] != Some(n.program) {
            programs[ch as usize] = Some(n.program);
            push(at(n.start), 0, ch, 0xC0, n.program & 127, 0);
        }
        push(
            at(n.start),
            3,
            ch,
            0x90,
            n.pitch & 127,
            n.velocity.clamp(1, 127),
        );
        push(at(n.end), 2, ch, 0x80, n.pitch & 127, 0);
    }
    for s in &score.sustain {
        push(at(s.start), 1, s.channel & 15, 0xB0, 64, 127);
        push(at(s.end), 1, s.channel & 15, 0xB0, 64, 0);
    }
    for c in &score.controls {
        let ch = c.channel & 15;
        match c.kind {
            ControlKind::Controller { number, value } => {
                push(at(c.seconds), 0, ch, 0xB0, number & 127, value & 127)
            }
            ControlKind::PitchBend(b) => {
                let v = (b.clamp(-8192, 8191) + 8192) as u16;
                push(at(c.seconds), 0, ch, 0xE0, (v & 127) as u8, (v >> 7) as u8)
            }
        }
    }
    out.sort();
    out
}

/// Clipping report of a WAV write.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WavStats {
    /// Samples (per channel, both counted) that were clipped to full scale.
    pub clipped: u64,
    /// Peak absolute value before clipping.
    pub peak: f32,
}

/// Writes `audio` as 16-bit stereo PCM (all-or-nothing).
pub fn write_wav(audio: &Stereo, path: &Path) -> Result<WavStats> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut stats = WavStats {
        clipped: 0,
        peak: audio.peak(),
    };
    let wav_err = |e: hound::Error| match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::Internal(format!("WAV writer: {other}")),
    };
    write_atomic(path, |w| {
        let mut wav = hound::WavWriter::new(w, spec).map_err(wav_err)?;
        for (l, r) in audio.left.iter().zip(&audio.right) {
            for x in [*l, *r] {
                if x.abs() > 1.0 {
                    stats.clipped += 1;
                }
                let s = (x.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
                wav.write_sample(s).map_err(wav_err)?;
            }
        }
        wav.finalize().map_err(wav_err)
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::soundfont;
    use crate::midi::TrackRole;

    fn two_channel_score() -> Score {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("", TrackRole::Other);
        s.push_note_seconds(t, 0, 0, 60, 100, 0.0, 0.5);
        s.push_note_seconds(t, 1, 40, 67, 100, 0.25, 1.0);
        s.push_note_seconds(t, 9, 0, 38, 100, 0.5, 0.6);
        s.sort();
        s
    }

    #[test]
    fn renders_notes_with_a_tail_and_threads_agree() {
        let sf = soundfont::load(None).unwrap();
        let score = two_channel_score();
        let one = RenderOptions {
            threads: 1,
            ..Default::default()
        };
        let a = render(&score, &sf, &one, &mut |_| {}).unwrap();
        let three = RenderOptions {
            threads: 3,
            ..Default::default()
        };
        let b = render(&score, &sf, &three, &mut |_| {}).unwrap();
        assert!(a.seconds() > 1.0 && a.seconds() < 11.0, "{}", a.seconds());
        assert!(a.peak() > 0.01);
        assert!(a.left.len().abs_diff(b.left.len()) <= CHUNK);
        let max_diff = a
            .left
            .iter()
            .zip(&b.left)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(max_diff < 1e-4, "split render differs by {max_diff}");
    }

    #[test]
    fn events_are_ordered_offs_before_ons() {
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("", TrackRole::Other);
        s.push_note_seconds(t, 0, 5, 60, 90, 0.0, 0.5);
        s.push_note_seconds(t, 0, 5, 60, 90, 0.5, 1.0);
        let ev = synth_events(&s, 1000);
        let kinds: Vec<(u64, u8)> = ev.iter().map(|e| (e.sample, e.command)).collect();
        assert_eq!(
            kinds,
            [(0, 0xC0), (0, 0x90), (500, 0x80), (500, 0x90), (1000, 0x80)]
        );
    }

    #[test]
    fn bad_settings_are_errors() {
        let sf = soundfont::load(None).unwrap();
        let s = two_channel_score();
        let bad_rate = RenderOptions {
            sample_rate: 8000,
            ..Default::default()
        };
        assert!(render(&s, &sf, &bad_rate, &mut |_| {}).is_err());
        let bad_gain = RenderOptions {
            gain: f32::NAN,
            ..Default::default()
        };
        assert!(render(&s, &sf, &bad_gain, &mut |_| {}).is_err());
    }
}
