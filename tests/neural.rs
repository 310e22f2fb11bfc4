//! The neural synth from the command line with the shipped model: rendering, cloning a timbre from
//! a recording (with its notes, or transcribing them), and clean refusals of bad recordings (exit 2,
//! one line, no timbre file written).

mod common;
use common::{assert_bad_input, reprise, sample};

/// Writes a mono 16-bit WAV of `samples` at `rate`.
fn wav(path: &std::path::Path, rate: u32, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample((s * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn read_wav(path: &std::path::Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    let ch = r.spec().channels as usize;
    let s: Vec<f32> = r
        .samples::<i16>()
        .step_by(ch)
        .map(|x| x.unwrap() as f32 / 32768.0)
        .collect();
    (rate, s)
}

#[test]
fn renders_with_a_shipped_timbre_and_with_a_cloned_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("flute.wav");
    let o = out.to_str().unwrap();
    let r = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "--engine",
        "neural",
        "--timbre",
        "flute",
        "-q",
        "-o",
        o,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (rate, audio) = read_wav(&out);
    let seconds = audio.len() as f64 / rate as f64;
    assert!((11.0..15.5).contains(&seconds), "{seconds} s");
    let peak = audio.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.01 && peak <= 0.99, "peak {peak}");

    let timbre = tmp.path().join("oboe.safetensors");
    let t = timbre.to_str().unwrap();
    let r = reprise(&[
        "clone-timbre",
        &sample("recording-oboe.wav"),
        "--notes",
        &sample("recording-oboe.mid"),
        "--steps",
        "3",
        "-q",
        "-o",
        t,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out2 = tmp.path().join("oboe.wav");
    let r = reprise(&[
        "render",
        &sample("piano-phrase.mid"),
        "--engine",
        "neural",
        "--timbre",
        t,
        "-q",
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_ne!(read_wav(&out2).1, audio, "another timbre, another sound");
}

#[test]
fn bad_recordings_are_refused_without_writing_a_timbre() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = sample("recording-oboe.mid");
    let timbre = tmp.path().join("t.safetensors");
    let t = timbre.to_str().unwrap();
    let tone = |secs: f64, rate: u32| -> Vec<f32> {
        (0..(secs * rate as f64) as usize)
            .map(|i| 0.3 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
            .collect()
    };
    let corrupt = tmp.path().join("corrupt.wav");
    std::fs::write(&corrupt, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let short = tmp.path().join("short.wav");
    wav(&short, 22_050, &tone(0.5, 22_050));
    let silent = tmp.path().join("silent.wav");
    wav(&silent, 22_050, &vec![0.0; 22_050 * 3]);
    let slow = tmp.path().join("slow.wav");
    wav(&slow, 1_000, &tone(5.0, 1_000));
    let mismatch = tmp.path().join("mismatch.wav");
    wav(&mismatch, 22_050, &tone(2.0, 22_050)); // the oboe's notes run for 20 s
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "not audio at all").unwrap();
    for (file, problem) in [
        (&corrupt, "audio"),
        (&text, "not a supported audio file"),
        (&short, "at least 1 s"),
        (&silent, "silent"),
        (&slow, "sample rate 1000 Hz"),
        (&mismatch, "do not match"),
    ] {
        let f = file.to_str().unwrap();
        let r = reprise(&[
            "clone-timbre",
            f,
            "--notes",
            &notes,
            "--steps",
            "2",
            "-o",
            t,
        ]);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_bad_input(&r, name, problem);
        assert!(!timbre.exists(), "{name}: no timbre file");
    }
}

/// A flute phrase rendered with the built-in SoundFont, as a WAV at the synth's rate, 4 s long.
fn flute_phrase(path: &std::path::Path) {
    use reprise::synth::data::{render_phrase, FitNote};
    let sf = reprise::audio::soundfont::load(None).unwrap();
    let notes: Vec<FitNote> = [72u8, 74, 76, 77, 79, 77]
        .iter()
        .enumerate()
        .map(|(i, &pitch)| FitNote {
            pitch,
            velocity: 90,
            start: 0.2 + 0.4 * i as f64,
            held: 0.35,
        })
        .collect();
    let rate = reprise::synth::ddsp::SAMPLE_RATE;
    wav(path, rate, &render_phrase(&sf, 73, &notes, 4.0).unwrap());
}

#[test]
fn clones_without_notes_by_transcribing_a_one_voice_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let take = tmp.path().join("take.wav");
    flute_phrase(&take);
    let timbre = tmp.path().join("t.safetensors");
    let r = reprise(&[
        "clone-timbre",
        take.to_str().unwrap(),
        "--steps",
        "2",
        "-o",
        timbre.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(
        stderr.contains("transcribed 6 notes, C5–G5, confidence") && stderr.contains("no --notes"),
        "{stderr}"
    );
    assert!(timbre.exists());
}

#[test]
fn without_notes_silence_and_noise_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let timbre = tmp.path().join("t.safetensors");
    let silent = tmp.path().join("silent.wav");
    wav(&silent, 22_050, &vec![0.0; 22_050 * 3]);
    let noise = tmp.path().join("noise.wav");
    let mut seed = 12345u32;
    let hiss: Vec<f32> = (0..22_050 * 3)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.6 - 0.3
        })
        .collect();
    wav(&noise, 22_050, &hiss);
    for (file, problem) in [(&silent, "silent"), (&noise, "--notes")] {
        let f = file.to_str().unwrap();
        let r = reprise(&[
            "clone-timbre",
            f,
            "--steps",
            "2",
            "-o",
            timbre.to_str().unwrap(),
        ]);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_bad_input(&r, name, problem);
        assert!(!timbre.exists(), "{name}: no timbre file");
    }
}

/// The held-out SoundFont measurement end to end, fast: the bundled SoundFont stands in for the
/// held-out one, so its own rendering of phrase B must be exactly the recording (distance 0) and
/// every sample is shared; the clone, the transcribed clone and the shipped timbres get distances.
#[test]
fn synth_eval_measures_cloning_on_a_heldout_soundfont() {
    let r = reprise(&[
        "synth-eval",
        "--heldout-sf2",
        &format!("{}/soundfonts/sf_GMbank.sf2", env!("CARGO_MANIFEST_DIR")),
        "--programs",
        "71",
        "--phrase-seconds",
        "5",
        "--clone-steps",
        "2",
        "--transcribed",
    ]);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let row = out
        .lines()
        .find(|l| l.starts_with("| 71 clarinet"))
        .unwrap_or_else(|| panic!("no clarinet row in {out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // program, notes, clone, transcribed clone, nearest, bundled, clone vs nearest, time
    assert!(cells[1].contains("shares 8 of its 8 samples"), "{row}");
    assert_eq!(cells[6], "0.000", "the same bank renders B exactly: {row}");
    for cell in [cells[3], cells[4]] {
        let d: f64 = cell.split(' ').next().unwrap().parse().expect(row);
        assert!(d.is_finite() && d > 0.0, "{row}");
    }
    assert!(out.contains("issue 25's bar"), "{out}");
}

#[test]
fn synth_eval_refuses_a_missing_or_non_sf2_heldout_soundfont() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.sf2");
    let not_sf2 = tmp.path().join("notes.sf2");
    std::fs::write(&not_sf2, b"RIFF....WAVEfmt not a soundfont").unwrap();
    for (file, problem) in [(&missing, "missing.sf2"), (&not_sf2, "not a SoundFont")] {
        let r = reprise(&[
            "synth-eval",
            "--heldout-sf2",
            file.to_str().unwrap(),
            "--programs",
            "56",
        ]);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_bad_input(&r, name, problem);
    }
    let r = reprise(&["synth-eval", "--programs", "56"]);
    assert_eq!(r.status.code(), Some(2), "--programs needs --heldout-sf2");
}
