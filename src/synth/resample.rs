//! Sample-rate conversion with rubato's synchronous FFT resampler (exact rational ratios).

use rubato::{FftFixedInOut, Resampler};

use crate::error::{Error, Result};

/// `x` at `from` Hz converted to `to` Hz: the same duration, the resampler's delay removed.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    let err = |e: String| Error::Invalid(format!("cannot resample {from} Hz to {to} Hz: {e}"));
    let mut r = FftFixedInOut::<f32>::new(from as usize, to as usize, 1024, 1)
        .map_err(|e| err(e.to_string()))?;
    let delay = r.output_delay();
    let expected = (x.len() as u64 * to as u64 / from as u64) as usize;
    let mut out: Vec<f32> = Vec::with_capacity(expected + delay + 4096);
    let mut pos = 0;
    while pos + r.input_frames_next() <= x.len() {
        let n = r.input_frames_next();
        let y = r
            .process(&[&x[pos..pos + n]], None)
            .map_err(|e| err(e.to_string()))?;
        out.extend_from_slice(&y[0]);
        pos += n;
    }
    let y = r
        .process_partial(Some(&[&x[pos..]]), None)
        .map_err(|e| err(e.to_string()))?;
    out.extend_from_slice(&y[0]);
    while out.len() < expected + delay {
        let y = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| err(e.to_string()))?;
        if y[0].is_empty() {
            break;
        }
        out.extend_from_slice(&y[0]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_length() {
        let tone: Vec<f32> = (0..22_050)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 22_050.0).sin() * 0.5)
            .collect();
        for to in [44_100, 48_000, 16_000] {
            let y = resample(&tone, 22_050, to).unwrap();
            assert_eq!(y.len(), to as usize);
            let c = crossings(&y[to as usize / 10..to as usize * 9 / 10]);
            assert!((c as i64 - 800).abs() <= 2, "{to}: {c}");
            let peak = y[100..y.len() - 100]
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()));
            assert!((peak - 0.5).abs() < 0.02, "{peak}");
        }
        assert!(resample(&tone, 22_050, 0).is_err());
    }
}
