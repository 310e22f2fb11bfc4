//! Offline SoundFont rendering of a `Score` with rustysynth, written as a WAV with hound.
//!
//! Channels are independent in a SoundFont synth and its reverb and chorus are linear, so the channels are
//! split into groups rendered on separate threads (one synthesizer each) and summed.

use std::path::Path;
use std::sync::Arc;

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

/// Samples per block of a streamed render (about 1.5 s at 44.1 kHz): memory is a few blocks per
/// channel group whatever the length of the piece.
const BLOCK: usize = 65_536;

/// Renders `score` with `soundfont` into memory. `progress` receives the fraction done (0–1) from
/// time to time. For long pieces prefer [`render_wav`], whose memory does not grow with the length.
pub fn render(
    score: &Score,
    soundfont: &Arc<SoundFont>,
    opts: &RenderOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<Stereo> {
    let mut out = Stereo {
        sample_rate: opts.sample_rate,
        ..Default::default()
    };
    render_blocks(score, soundfont, opts, progress, &mut |l, r| {
        out.left.extend_from_slice(l);
        out.right.extend_from_slice(r);
        Ok(())
    })?;
    Ok(out)
}

/// Renders `score` straight to a 16-bit stereo WAV at `path` (all-or-nothing), block by block.
/// Refuses a render that could exceed the 4 GiB a WAV file can address (about 6.7 h at 44.1 kHz).
/// Returns the length in seconds and the clipping report.
pub fn render_wav(
    score: &Score,
    soundfont: &Arc<SoundFont>,
    opts: &RenderOptions,
    path: &Path,
    progress: &mut dyn FnMut(f64),
) -> Result<(f64, WavStats)> {
    opts.validate()?;
    let events = synth_events(score, opts.sample_rate);
    let last = events.last().map_or(0, |e| e.sample);
    let frames = last + (opts.max_tail_seconds * opts.sample_rate as f64).ceil() as u64;
    check_wav_size(frames, opts.sample_rate)?;
    let mut frames_written = 0u64;
    let stats = write_wav_with(path, opts.sample_rate, |put| {
        render_blocks(score, soundfont, opts, progress, &mut |l, r| {
            frames_written += l.len() as u64;
            put(l, r)
        })
    })?;
    Ok((frames_written as f64 / opts.sample_rate as f64, stats))
}

/// Refuses a 16-bit stereo WAV of `frames` frames that would not fit hound's 32-bit sizes.
fn check_wav_size(frames: u64, sample_rate: u32) -> Result<()> {
    let bytes = frames.saturating_mul(4).saturating_add(44);
    if bytes > u32::MAX as u64 {
        return Err(Error::Invalid(format!(
            "the render would last up to {:.1} h, {:.1} GiB of WAV: a WAV file holds at most 4 GiB (about {:.1} h at {sample_rate} Hz); render a shorter part",
            frames as f64 / sample_rate as f64 / 3600.0,
            bytes as f64 / (1u64 << 30) as f64,
            (u32::MAX as f64 / 4.0) / sample_rate as f64 / 3600.0
        )));
    }
    Ok(())
}

/// One channel group's synthesizer and its events, rendered forward in time.
struct GroupSynth {
    synth: Synthesizer,
    events: Vec<SynthEvent>,
    next: usize,
    pos: u64,
}

impl GroupSynth {
    fn new(
        events: Vec<SynthEvent>,
        soundfont: &Arc<SoundFont>,
        opts: &RenderOptions,
    ) -> Result<Self> {
        let mut settings = SynthesizerSettings::new(opts.sample_rate as i32);
        settings.maximum_polyphony = 256;
        let synth = Synthesizer::new(soundfont, &settings)
            .map_err(|e| Error::Internal(format!("synthesizer: {e}")))?;
        Ok(GroupSynth {
            synth,
            events,
            next: 0,
            pos: 0,
        })
    }

    /// Renders the next `left.len()` samples (zeroed first), each event applied at its sample.
    fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        let mut done = 0;
        while done < left.len() {
            while let Some(e) = self.events.get(self.next).filter(|e| e.sample <= self.pos) {
                self.synth.process_midi_message(
                    e.channel as i32,
                    e.command as i32,
                    e.data1 as i32,
                    e.data2 as i32,
                );
                self.next += 1;
            }
            let until_event = self
                .events
                .get(self.next)
                .map_or(u64::MAX, |e| e.sample - self.pos);
            let n = (left.len() - done).min(CHUNK).min(until_event as usize);
            self.synth
                .render(&mut left[done..done + n], &mut right[done..done + n]);
            done += n;
            self.pos += n as u64;
        }
    }
}

/// Renders every group's next `len` samples in parallel and mixes them with `gain`.
fn render_mixed(groups: &mut [GroupSynth], len: usize, gain: f32) -> (Vec<f32>, Vec<f32>) {
    use rayon::prelude::*;
    let parts: Vec<(Vec<f32>, Vec<f32>)> = groups
        .par_iter_mut()
        .map(|g| {
            let (mut l, mut r) = (vec![0f32; len], vec![0f32; len]);
            g.render(&mut l, &mut r);
            (l, r)
        })
        .collect();
    let (mut left, mut right) = (vec![0f32; len], vec![0f32; len]);
    for (l, r) in &parts {
        mix_into(&mut left, l, gain);
        mix_into(&mut right, r, gain);
    }
    (left, right)
}

/// Receives a render block by block: left and right samples.
type BlockSink<'a> = dyn FnMut(&[f32], &[f32]) -> Result<()> + 'a;

/// The render, handed to `sink` in mixed blocks: up to the last event in blocks of [`BLOCK`], then
/// the release tail until silence (at most `opts.max_tail_seconds`), trimmed after its last sound.
fn render_blocks(
    score: &Score,
    soundfont: &Arc<SoundFont>,
    opts: &RenderOptions,
    progress: &mut dyn FnMut(f64),
    sink: &mut BlockSink<'_>,
) -> Result<()> {
    opts.validate()?;
    let events = synth_events(score, opts.sample_rate);
    let mut groups = channel_groups(score, &events, opts.threads)
        .into_iter()
        .map(|channels| {
            let evs = events
                .iter()
                .filter(|e| channels.contains(&e.channel))
                .copied();
            GroupSynth::new(evs.collect(), soundfont, opts)
        })
        .collect::<Result<Vec<_>>>()?;
    let end = events.last().map_or(0, |e| e.sample);
    let expected = (end + opts.sample_rate as u64) as f64;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(groups.len().max(1))
        .build()
        .map_err(|e| Error::Internal(format!("render threads: {e}")))?;
    let mut pos = 0u64;
    while pos < end {
        let len = (end - pos).min(BLOCK as u64) as usize;
        let (l, r) = pool.install(|| render_mixed(&mut groups, len, opts.gain));
        sink(&l, &r)?;
        pos += len as u64;
        progress((pos as f64 / expected).min(0.99));
    }
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let max_tail = (opts.max_tail_seconds * opts.sample_rate as f64) as usize;
    while left.len() < max_tail {
        let (l, r) = pool.install(|| render_mixed(&mut groups, CHUNK, opts.gain));
        left.extend_from_slice(&l);
        right.extend_from_slice(&r);
        if l.iter().chain(&r).all(|x| x.abs() < SILENCE) {
            break;
        }
    }
    let last_sound = left
        .iter()
        .zip(&right)
        .rposition(|(a, b)| a.abs() >= SILENCE || b.abs() >= SILENCE)
        .map_or(0, |i| i + 1);
    sink(&left[..last_sound], &right[..last_sound])?;
    progress(1.0);
    Ok(())
}

fn mix_into(dst: &mut [f32], src: &[f32], gain: f32) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s * gain;
    }
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

/// Writes `audio` as 16-bit stereo PCM (all-or-nothing); refuses more than a WAV can hold.
pub fn write_wav(audio: &Stereo, path: &Path) -> Result<WavStats> {
    check_wav_size(audio.left.len() as u64, audio.sample_rate)?;
    write_wav_with(path, audio.sample_rate, |put| {
        put(&audio.left, &audio.right)
    })
}

/// Writes a 16-bit stereo WAV at `path` (all-or-nothing) from the blocks `produce` hands to its
/// `put(left, right)`, clipping to full scale and counting what was clipped.
fn write_wav_with<F>(path: &Path, sample_rate: u32, produce: F) -> Result<WavStats>
where
    F: FnOnce(&mut BlockSink<'_>) -> Result<()>,
{
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut stats = WavStats::default();
    let wav_err = |e: hound::Error| match e {
        hound::Error::IoError(io) => Error::io(path, io),
        other => Error::Internal(format!("WAV writer: {other}")),
    };
    write_atomic(path, |w| {
        let mut wav = hound::WavWriter::new(w, spec).map_err(wav_err)?;
        produce(&mut |left, right| {
            let mut samples = wav.get_i16_writer(2 * left.len() as u32);
            for (l, r) in left.iter().zip(right) {
                for x in [*l, *r] {
                    stats.peak = stats.peak.max(x.abs());
                    if x.abs() > 1.0 {
                        stats.clipped += 1;
                    }
                    samples.write_sample((x.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16);
                }
            }
            samples.flush().map_err(wav_err)
        })?;
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

    /// The obvious render: one synthesizer for every channel, sample by sample through the events.
    fn reference(score: &Score, sf: &Arc<SoundFont>, rate: u32) -> Vec<f32> {
        let settings = SynthesizerSettings::new(rate as i32);
        let mut synth = Synthesizer::new(sf, &settings).unwrap();
        let events = synth_events(score, rate);
        let end = events.last().unwrap().sample as usize + rate as usize;
        let (mut l, mut r) = (vec![0f32; end], vec![0f32; end]);
        let mut next = 0;
        for i in 0..end {
            while next < events.len() && events[next].sample as usize <= i {
                let e = events[next];
                synth.process_midi_message(
                    e.channel as i32,
                    e.command as i32,
                    e.data1 as i32,
                    e.data2 as i32,
                );
                next += 1;
            }
            synth.render(&mut l[i..i + 1], &mut r[i..i + 1]);
        }
        l
    }

    #[test]
    fn the_streamed_render_matches_the_reference_and_the_wav() {
        let sf = soundfont::load(None).unwrap();
        let mut score = two_channel_score();
        // Longer than one block, so that blocks, events and the tail all meet.
        let t = score.add_track("", TrackRole::Other);
        score.push_note_seconds(t, 2, 0, 72, 90, 1.2, 2.1);
        score.sort();
        let one = RenderOptions {
            sample_rate: 22_050,
            threads: 1,
            ..Default::default()
        };
        let got = render(&score, &sf, &one, &mut |_| {}).unwrap();
        let want = reference(&score, &sf, 22_050);
        assert!(got.left.len() > BLOCK);
        let n = got.left.len().min(want.len());
        let diff = (0..n)
            .map(|i| (got.left[i] - want[i]).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-6, "streamed render differs by {diff}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let (seconds, stats) = render_wav(&score, &sf, &one, &path, &mut |_| {}).unwrap();
        assert!((seconds - got.seconds()).abs() < 1e-9);
        assert_eq!(stats.peak, got.peak());
        let wav: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .into_samples::<i16>()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(wav.len(), 2 * got.left.len());
        let first = (got.left[5000].clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
        assert_eq!(wav[10_000], first);
    }

    #[test]
    fn a_render_longer_than_a_wav_can_hold_is_refused_before_any_work() {
        let sf = soundfont::load(None).unwrap();
        let mut s = Score::new(480, 500_000).unwrap();
        let t = s.add_track("", TrackRole::Other);
        s.push_note_seconds(t, 0, 0, 60, 100, 0.0, 0.5);
        s.push_note_seconds(t, 0, 0, 62, 100, 23.0 * 3600.0, 23.0 * 3600.0 + 0.5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        let err = render_wav(&s, &sf, &RenderOptions::default(), &path, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("at most 4 GiB"), "{err}");
        assert!(!path.exists());
        assert!(check_wav_size(1 << 20, 44_100).is_ok());
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
