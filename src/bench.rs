//! `reprise bench`: measured speed figures, with the reference tools run on the same inputs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::audio::{self, soundfont, RenderOptions};
use crate::error::{Error, Result};
use crate::midi::{self, Score, TrackRole};

/// A deterministic, dense General MIDI arrangement of `seconds` length at 120 BPM: piano arpeggios and
/// chords, string pads, bass, brass stabs, a flute line, guitar strums and a drum kit (8 channels,
/// roughly 30 onsets per second, up to ~60 voices sounding).
pub fn dense_score(seconds: f64, seed: u64) -> Score {
    let mut s = Score::new(480, 500_000).expect("constant tempo is valid");
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let parts = [
        ("Piano", 0u8, 0u8),
        ("Strings", 1, 48),
        ("Bass", 2, 33),
        ("Brass", 3, 61),
        ("Flute", 4, 73),
        ("Guitar", 5, 25),
        ("Drums", 9, 0),
    ];
    let tracks: Vec<usize> = parts
        .iter()
        .map(|p| s.add_track(p.0, TrackRole::Other))
        .collect();
    let beats = (seconds * 2.0).floor() as u64;
    for beat in 0..beats {
        dense_beat(&mut s, &tracks, beat, &mut next);
    }
    s.sort();
    s
}

/// The chords of [`dense_score`], one per bar of four beats.
const DENSE_CHORDS: [[u8; 4]; 4] = [
    [48, 55, 64, 67],
    [45, 52, 60, 64],
    [41, 53, 57, 60],
    [43, 50, 59, 62],
];

/// One beat of [`dense_score`] on its `tracks`, velocities and melody drawn from `next`.
fn dense_beat(s: &mut Score, tracks: &[usize], beat: u64, mut next: impl FnMut(u64) -> u64) {
    let t = beat as f64 * 0.5;
    let chord = DENSE_CHORDS[((beat / 4) % 4) as usize];
    let vel = |base: u64, next: &mut dyn FnMut(u64) -> u64| (base + next(20)) as u8;
    for (i, &p) in chord.iter().enumerate() {
        s.push_note_seconds(tracks[0], 0, 0, p + 12, vel(60, &mut next), t, t + 0.9);
        let arp = chord[(i + beat as usize) % 4] + 24;
        let at = t + i as f64 * 0.125;
        s.push_note_seconds(tracks[0], 0, 0, arp, vel(50, &mut next), at, at + 0.6);
        if beat.is_multiple_of(4) {
            s.push_note_seconds(tracks[1], 1, 48, p + 12, vel(50, &mut next), t, t + 2.0);
        }
        if beat.is_multiple_of(2) {
            s.push_note_seconds(tracks[3], 3, 61, p + 12, vel(60, &mut next), t, t + 0.3);
            s.push_note_seconds(
                tracks[5],
                5,
                25,
                p + 12,
                vel(50, &mut next),
                t + i as f64 * 0.02,
                t + 1.0,
            );
        }
        s.push_note_seconds(tracks[6], 9, 0, 42, vel(50, &mut next), at, at + 0.1);
    }
    s.push_note_seconds(
        tracks[2],
        2,
        33,
        chord[0] - 12,
        vel(70, &mut next),
        t,
        t + 0.24,
    );
    s.push_note_seconds(
        tracks[2],
        2,
        33,
        chord[0] - 12 + 7,
        vel(60, &mut next),
        t + 0.25,
        t + 0.49,
    );
    let melody = chord[2 + next(2) as usize] + 12 + [0u8, 2, 4][next(3) as usize];
    s.push_note_seconds(tracks[4], 4, 73, melody, vel(70, &mut next), t, t + 0.45);
    s.push_note_seconds(
        tracks[6],
        9,
        0,
        if beat.is_multiple_of(2) { 36 } else { 38 },
        100,
        t,
        t + 0.1,
    );
}

/// One timed renderer in a render benchmark.
#[derive(Debug, Clone)]
pub struct RenderTiming {
    /// What was run.
    pub name: String,
    /// Best wall time over the repeats, in seconds (load SoundFont + read MIDI + render + write WAV).
    pub seconds: f64,
    /// Length of the music in seconds divided by `seconds`.
    pub realtime: f64,
    /// For Reprise: seconds spent loading (SF2 + MIDI), synthesising, and writing the WAV (best run).
    pub phases: Option<[f64; 3]>,
}

/// Times Reprise's renderer (one thread and all cores) and, when `fluidsynth` is on PATH, FluidSynth on the
/// same MIDI file and SF2. Without `midi`, renders `dense_score(seconds)`.
pub fn render_speed(
    midi_path: Option<&Path>,
    seconds: f64,
    sf2: Option<&Path>,
    repeats: usize,
    with_fluidsynth: bool,
) -> Result<(Score, Vec<RenderTiming>)> {
    let dir = std::env::temp_dir().join(format!("reprise-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let result = (|| {
        let mid = match midi_path {
            Some(p) => p.to_path_buf(),
            None => {
                let p = dir.join("dense.mid");
                midi::write_file(&dense_score(seconds, 7), &p)?;
                p
            }
        };
        let sf2_path = match sf2 {
            Some(p) => p.to_path_buf(),
            None => {
                let p = dir.join("default.sf2");
                std::fs::write(&p, soundfont::DEFAULT_SF2).map_err(|e| Error::io(&p, e))?;
                p
            }
        };
        let score = midi::read_file(&mid)?;
        let length = score.duration();
        let wav = dir.join("out.wav");
        let mut timings = Vec::new();
        for threads in [1, 0] {
            let name = if threads == 1 {
                "reprise (1 thread)".to_string()
            } else {
                "reprise (all cores)".to_string()
            };
            let mut best: Option<[f64; 3]> = None;
            for _ in 0..repeats.max(1) {
                let p = reprise_render(&mid, &sf2_path, &wav, threads)?;
                if best.is_none_or(|b| p.iter().sum::<f64>() < b.iter().sum::<f64>()) {
                    best = Some(p);
                }
            }
            let phases = best.unwrap_or_default();
            let secs = phases.iter().sum::<f64>();
            timings.push(RenderTiming {
                name,
                seconds: secs,
                realtime: length / secs,
                phases: Some(phases),
            });
        }
        if with_fluidsynth && which("fluidsynth").is_some() {
            let secs = best_of(repeats, || fluidsynth_render(&mid, &sf2_path, &wav))?;
            timings.push(RenderTiming {
                name: "fluidsynth -ni -F".into(),
                seconds: secs,
                realtime: length / secs,
                phases: None,
            });
        }
        Ok((score, timings))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn best_of(repeats: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        run()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// One full render as the CLI does it; returns the seconds spent loading (SF2 + MIDI), synthesising and
/// writing the WAV.
fn reprise_render(mid: &Path, sf2: &Path, wav: &Path, threads: usize) -> Result<[f64; 3]> {
    let t = Instant::now();
    let sf = soundfont::load(Some(sf2))?;
    let score = midi::read_file(mid)?;
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let opts = RenderOptions {
        threads,
        ..Default::default()
    };
    let audio = audio::render(&score, &sf, &opts, &mut |_| {})?;
    let synth = t.elapsed().as_secs_f64();
    let t = Instant::now();
    audio::write_wav(&audio, wav)?;
    Ok([load, synth, t.elapsed().as_secs_f64()])
}

fn fluidsynth_render(mid: &Path, sf2: &Path, wav: &Path) -> Result<()> {
    let status = Command::new("fluidsynth")
        .args(["-ni", "-q", "-r", "44100", "-F"])
        .arg(wav)
        .arg(sf2)
        .arg(mid)
        .output()
        .map_err(|e| Error::Internal(format!("running fluidsynth: {e}")))?;
    if !status.status.success() {
        return Err(Error::Internal(format!(
            "fluidsynth failed: {}",
            String::from_utf8_lossy(&status.stderr).trim()
        )));
    }
    Ok(())
}

/// The path of `program` on PATH, if any.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_score_is_dense_and_deterministic() {
        let a = dense_score(10.0, 7);
        assert_eq!(a, dense_score(10.0, 7));
        let per_second = a.notes.len() as f64 / a.duration();
        assert!(per_second > 20.0, "{per_second} notes/s");
        assert!(a.notes.iter().any(|n| n.is_drum()));
        assert!(a.duration() >= 10.0 && a.duration() < 12.5);
    }
}

/// Decoding speed of a model: cached and uncached tokens per second, and the per-token time of one long
/// cached generation near token 100 and near the last token.
#[derive(Debug, Clone)]
pub struct DecodeSpeed {
    /// Tokens per second with the KV cache (one sequence, `tokens` tokens).
    pub cached_tokens_per_s: f64,
    /// Tokens per second without a cache (full forward over the window each step, `uncached_tokens`).
    pub uncached_tokens_per_s: f64,
    /// Tokens generated without the cache.
    pub uncached_tokens: usize,
    /// Median milliseconds per token for tokens 90–110 of the cached run.
    pub ms_at_100: f64,
    /// Median milliseconds per token for the last 21 tokens of the cached run.
    pub ms_at_end: f64,
    /// Tokens generated with the cache.
    pub tokens: usize,
    /// Seconds of music in the cached run's tokens (performance models: the sum of the time shifts).
    pub music_seconds: Option<f64>,
    /// Peak resident memory of the process so far, bytes (Linux).
    pub peak_rss: Option<u64>,
}

impl DecodeSpeed {
    /// Seconds of music generated per second of decoding, for vocabularies with real time.
    pub fn realtime_factor(&self) -> Option<f64> {
        self.music_seconds
            .map(|m| m * self.cached_tokens_per_s / self.tokens as f64)
    }
}

/// Peak resident set size from `/proc/self/status` (`VmHWM`), where the system has it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Measures `DecodeSpeed` with a fixed seed from a BOS prompt.
pub fn decode_speed(
    model: &crate::model::MusicTransformer,
    tokens: usize,
    uncached_tokens: usize,
) -> Result<DecodeSpeed> {
    use crate::generate::decode::{generate, generate_uncached, unsteered, FixedMask};
    use crate::generate::{Sampler, SamplerConfig};
    let cfg = SamplerConfig {
        seed: 1,
        ..Default::default()
    };
    let mut stamps = Vec::with_capacity(tokens + 1);
    let t = Instant::now();
    stamps.push(t);
    let mut sampler = Sampler::new(cfg)?;
    let drawn = generate(
        model,
        &[crate::tokens::BOS],
        1,
        tokens,
        &mut sampler,
        &mut FixedMask {
            mask: None,
            on_token: Some(&mut |_, _| {
                stamps.push(Instant::now());
                true
            }),
        },
    )?;
    let cached = t.elapsed().as_secs_f64();
    let per_token: Vec<f64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let median = |range: std::ops::Range<usize>| {
        let mut v: Vec<f64> = per_token[range].to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let t = Instant::now();
    let mut sampler = Sampler::new(cfg)?;
    generate_uncached(
        model,
        &[crate::tokens::BOS],
        uncached_tokens,
        &mut sampler,
        &mut unsteered(),
    )?;
    let uncached = t.elapsed().as_secs_f64();
    Ok(DecodeSpeed {
        cached_tokens_per_s: tokens as f64 / cached,
        uncached_tokens_per_s: uncached_tokens as f64 / uncached,
        uncached_tokens,
        ms_at_100: median(90.min(tokens - 1)..110.min(tokens)),
        ms_at_end: median(tokens.saturating_sub(21)..tokens),
        tokens,
        music_seconds: music_seconds(model.config().vocab, &drawn[0]),
        peak_rss: peak_rss(),
    })
}

/// Seconds of music in generated piano tokens (`None` for the chorale grid): the time the
/// performance events move through, or where the last beat-aware note ends.
fn music_seconds(vocab: crate::model::VocabKind, ids: &[u32]) -> Option<f64> {
    use crate::model::VocabKind;
    use crate::tokens::Vocab;
    match vocab {
        VocabKind::Grid => None,
        VocabKind::Performance => {
            let mut stream = crate::tokens::PerformanceStream::new();
            let mut sink = Vec::new();
            for &id in ids {
                let _ = stream.push(id, &mut sink);
            }
            Some(stream.seconds())
        }
        VocabKind::Remi => {
            let vocab = crate::tokens::RemiVocab {
                one_part: true,
                ..Default::default()
            };
            vocab.decode(ids).ok().map(|s| s.duration())
        }
    }
}

/// Real-time factor of the neural synth's streaming path: `voices` voices streamed together for
/// `seconds` on the calling thread; seconds of music per second of computing.
pub fn synth_speed(
    engine: &crate::synth::render::NeuralEngine,
    voices: usize,
    seconds: f64,
) -> f64 {
    let t = Instant::now();
    let mix = engine.stream_voices(voices, seconds);
    std::hint::black_box(&mix);
    seconds / t.elapsed().as_secs_f64()
}
