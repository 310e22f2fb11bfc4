//! Reading recordings (WAV, FLAC, MP3, Ogg Vorbis) with symphonia, as mono f32.

use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{Error, Result};

/// A decoded recording: mono samples (the channels averaged) and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Samples in [−1, 1].
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl Recording {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate.max(1) as f64
    }
}

/// The longest recording decoded, in seconds (a timbre needs seconds, not hours).
pub const MAX_SECONDS: f64 = 600.0;
/// Sample rates accepted, in Hz.
const RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Decodes the first audio track of `path` (a regular file of at most 1 GiB); unsupported or
/// corrupt files are errors naming it.
pub fn decode_file(path: &Path) -> Result<Recording> {
    let bytes = crate::input::read(path, crate::input::MAX_DATA_BYTES, "recording")?;
    decode_bytes(bytes, path)
}

/// Decodes the first audio track of `bytes`; `origin` names the source in errors and its extension
/// is the format hint. A panic inside the decoder is contained as the file's error.
pub fn decode_bytes(bytes: Vec<u8>, origin: &Path) -> Result<Recording> {
    crate::guard::contain(origin, "audio file", || decode(bytes, origin))
}

fn decode(bytes: Vec<u8>, path: &Path) -> Result<Recording> {
    let bad = |m: String| Error::bad_file(path, m);
    let stream = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| {
            bad(format!(
                "not a supported audio file (WAV, FLAC, MP3, Ogg Vorbis): {e}"
            ))
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| bad("has no audio track".into()))?;
    let id = track.id;
    let sample_rate = track
        .codec_params
        .sample_rate
        .ok_or_else(|| bad("does not say its sample rate".into()))?;
    if !RATES.contains(&sample_rate) {
        return Err(bad(format!(
            "sample rate {sample_rate} Hz is out of range 1000–384000"
        )));
    }
    let max_samples = (MAX_SECONDS * sample_rate as f64) as usize;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| bad(format!("unsupported codec: {e}")))?;
    let mut samples = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(bad(format!("corrupt audio: {e}"))),
        };
        if packet.track_id() != id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymphoniaError::DecodeError(e)) => return Err(bad(format!("corrupt audio: {e}"))),
            Err(e) => return Err(bad(format!("cannot decode: {e}"))),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        samples.extend(
            buf.samples()
                .chunks(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32),
        );
        if samples.len() > max_samples {
            return Err(bad(format!(
                "longer than {MAX_SECONDS} s: give a shorter recording"
            )));
        }
    }
    checked(samples, sample_rate).map_err(|m| bad(m.into()))
}

/// The recording, unless it holds no samples or samples that are not finite.
fn checked(samples: Vec<f32>, sample_rate: u32) -> std::result::Result<Recording, &'static str> {
    if samples.is_empty() {
        return Err("holds no audio");
    }
    if samples.iter().any(|v| !v.is_finite()) {
        return Err("corrupt audio: it holds NaN or infinite samples");
    }
    Ok(Recording {
        samples,
        sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stereo_wav_as_mono_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 32_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..3200 {
            w.write_sample(if i % 2 == 0 { 16_384i16 } else { 0 })
                .unwrap();
        }
        w.finalize().unwrap();
        let r = decode_file(&path).unwrap();
        assert_eq!(r.sample_rate, 32_000);
        assert_eq!(r.samples.len(), 1600);
        assert!((r.samples[10] - 0.25).abs() < 1e-3); // (0.5 + 0) / 2
        let junk = dir.path().join("junk.wav");
        std::fs::write(&junk, b"RIFF\\x00\\x00not audio at all").unwrap();
        let err = decode_file(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.wav"), "{err}");
        assert!(decode_file(&dir.path().join("missing.flac")).is_err());
    }

    /// A float WAV with a NaN sample made the resampler panic further on: refused here.
    #[test]
    fn a_float_wav_with_nan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        (0..1600).for_each(|i| {
            w.write_sample(if i == 800 { f32::NAN } else { 0.1 })
                .unwrap()
        });
        w.finalize().unwrap();
        let err = decode_file(&path).unwrap_err().to_string();
        assert!(err.contains("nan.wav") && err.contains("NaN"), "{err}");
    }

    /// A WAV whose header says 0 Hz made symphonia panic (units.rs): now one error naming the file.
    #[test]
    fn a_zero_sample_rate_or_a_device_is_refused() {
        let mut wav = Vec::new();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut wav), spec).unwrap();
        (0..800).for_each(|i| w.write_sample((i * 40) as i16).unwrap());
        w.finalize().unwrap();
        wav[24..28].copy_from_slice(&0u32.to_le_bytes());
        let err = decode_bytes(wav, Path::new("zero.wav"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("zero.wav: "), "{err}");
        let err = decode_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
