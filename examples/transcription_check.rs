//! Transcribed notes against the notes played, on the held-out phrases of `synth-eval
//! --heldout-sf2`: onset, hold and velocity errors per note.
//!
//! `cargo run --release --example transcription_check -- /usr/share/sounds/sf2/TimGM6mb.sf2 56,65,68`
//! (`WAV_DIR=dir` also writes each phrase, e.g. to time `reprise clone-timbre` on it).

use reprise::audio::decode::Recording;
use reprise::synth::ddsp::SAMPLE_RATE;
use reprise::synth::eval::heldout_phrases;
use reprise::synth::transcribe::transcribe;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let sf = reprise::audio::soundfont::load(Some(std::path::Path::new(&args[1])))?;
    for program in args[2].split(',').map(|p| p.parse::<u8>()) {
        let program = program?;
        let ((audio, truth), _) = heldout_phrases(&sf, program, 20.0)?;
        if let Ok(dir) = std::env::var("WAV_DIR") {
            write_wav(&format!("{dir}/phrase-a-{program}.wav"), &audio)?;
        }
        let rec = Recording {
            samples: audio,
            sample_rate: SAMPLE_RATE,
        };
        let t = transcribe(&rec)?;
        println!(
            "program {program}: {} played, {} transcribed",
            truth.len(),
            t.notes.len()
        );
        let (mut on, mut held, mut vel, mut count) = (0.0, 0.0, 0.0, 0);
        let mut slopes = [0.0f64; 5];
        for n in &truth {
            let near = t.notes.iter().min_by(|a, b| {
                (a.start - n.start)
                    .abs()
                    .total_cmp(&(b.start - n.start).abs())
            });
            if let Some(m) = near.filter(|m| m.pitch == n.pitch) {
                on += (m.start - n.start).abs();
                held += ((m.end - m.start) - n.held).abs();
                vel += m.velocity as f64 - n.velocity as f64;
                for (i, s) in [20.0, 30.0, 40.0, 50.0, 60.0].iter().enumerate() {
                    let v = 80.0 * (m.velocity as f64 / 80.0).powf(40.0 / s);
                    slopes[i] += (v - n.velocity as f64).abs();
                }
                count += 1;
            }
            if let Some(m) = near {
                println!(
                    "  {:>3} v{:>3} {:6.3}+{:5.3}  |  {:>3} v{:>3} {:+6.3} held {:+6.3}",
                    n.pitch,
                    n.velocity,
                    n.start,
                    n.held,
                    m.pitch,
                    m.velocity,
                    m.start - n.start,
                    (m.end - m.start) - n.held
                );
            }
        }
        println!(
            "program {program}: {count} of {} found at their pitch; mean |onset error| {:.1} ms, mean |held error| {:.1} ms, mean velocity error {:+.1}",
            truth.len(),
            1e3 * on / count as f64,
            1e3 * held / count as f64,
            vel / count as f64
        );
        let per: Vec<String> = slopes
            .iter()
            .map(|e| format!("{:.1}", e / count as f64))
            .collect();
        println!(
            "  mean |velocity error| at 20/30/40/50/60 dB per decade: {}",
            per.join(" / ")
        );
    }
    Ok(())
}

/// dB of 10 ms RMS every 5 ms from `t0` to `t1` seconds.
#[allow(dead_code)]
fn envelope(audio: &[f32], t0: f64, t1: f64) -> Vec<i32> {
    let sr = SAMPLE_RATE as f64;
    let mut out = Vec::new();
    let mut t = t0;
    while t < t1 {
        let c = (t * sr) as usize;
        let w = &audio[c.saturating_sub(110)..(c + 110).min(audio.len())];
        let rms = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
        out.push((20.0 * (rms + 1e-9).log10()).round() as i32);
        t += 0.005;
    }
    out
}

/// `audio` (the synth's rate) as a 16-bit mono WAV.
fn write_wav(path: &str, audio: &[f32]) -> Result<(), Box<dyn std::error::Error>> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for v in audio {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    Ok(w.finalize()?)
}
