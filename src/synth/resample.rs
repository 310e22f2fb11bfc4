//! Sample-rate conversion with rubato's synchronous FFT resampler (exact rational ratios), whole or
//! streamed chunk by chunk.

use rubato::{FftFixedInOut, Resampler};

use crate::error::{Error, Result};

/// A resampler fed in pieces of any length; its delay is removed, so the output lines up with the input.
pub struct StreamResampler {
    inner: Option<FftFixedInOut<f32>>,
    pending: Vec<f32>,
    to_skip: usize,
    consumed: u64,
    produced: u64,
    from: u32,
    to: u32,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz (a pass-through when they are equal).
    pub fn new(from: u32, to: u32) -> Result<Self> {
        Self::with_chunk(from, to, 1024)
    }

    /// A resampler working in chunks of about `chunk` input samples: smaller chunks give output
    /// sooner (live playing), larger ones cost less per sample.
    pub fn with_chunk(from: u32, to: u32, chunk: usize) -> Result<Self> {
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedInOut::<f32>::new(from as usize, to as usize, chunk, 1).map_err(|e| {
                    Error::Invalid(format!("cannot resample {from} Hz to {to} Hz: {e}"))
                })?,
            )
        };
        let to_skip = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(StreamResampler {
            inner,
            pending: Vec::new(),
            to_skip,
            consumed: 0,
            produced: 0,
            from,
            to,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Invalid(format!(
            "cannot resample {} Hz to {} Hz: {e}",
            self.from, self.to
        ))
    }

    fn emit(&mut self, mut y: Vec<f32>, out: &mut Vec<f32>) {
        let skip = self.to_skip.min(y.len());
        self.to_skip -= skip;
        y.drain(..skip);
        self.produced += y.len() as u64;
        out.extend(y);
    }

    /// Takes more input; returns the output that is ready. Samples that are not finite (NaN,
    /// infinities) are taken as silence: rubato's FFT panics on them.
    pub fn push(&mut self, input: &[f32]) -> Result<Vec<f32>> {
        self.consumed += input.len() as u64;
        let mut out = Vec::new();
        let Some(r) = self.inner.as_mut() else {
            self.produced += input.len() as u64;
            return Ok(input.to_vec());
        };
        self.pending
            .extend(input.iter().map(|&v| if v.is_finite() { v } else { 0.0 }));
        let mut pos = 0;
        let mut chunks = Vec::new();
        while pos + r.input_frames_next() <= self.pending.len() {
            let n = r.input_frames_next();
            let y = r
                .process(&[&self.pending[pos..pos + n]], None)
                .map_err(|e| e.to_string());
            chunks.push(y);
            pos += n;
        }
        self.pending.drain(..pos);
        for y in chunks {
            let mut y = y.map_err(|e| self.err(e))?;
            self.emit(y.remove(0), &mut out);
        }
        Ok(out)
    }

    /// Ends the stream: the rest of the output, so that the total is the input's length at the new rate.
    pub fn finish(&mut self) -> Result<Vec<f32>> {
        let expected = self.consumed * self.to as u64 / self.from as u64;
        let mut out = Vec::new();
        if let Some(r) = self.inner.as_mut() {
            let pending = std::mem::take(&mut self.pending);
            // Nothing pending (the input was a whole number of chunks): only the flush, since
            // rubato refuses an empty partial chunk.
            let first = if pending.is_empty() {
                r.process_partial::<&[f32]>(None, None)
            } else {
                r.process_partial(Some(&[&pending[..]]), None)
            }
            .map_err(|e| e.to_string());
            let mut ys = vec![first];
            let mut guard = 0;
            loop {
                let so_far: u64 = ys
                    .iter()
                    .map(|y| y.as_ref().map_or(0, |v| v[0].len() as u64))
                    .sum();
                if self.produced + so_far >= expected + self.to_skip as u64 || guard > 64 {
                    break;
                }
                guard += 1;
                ys.push(
                    r.process_partial::<&[f32]>(None, None)
                        .map_err(|e| e.to_string()),
                );
            }
            for y in ys {
                let mut y = y.map_err(|e| self.err(e))?;
                self.emit(y.remove(0), &mut out);
            }
        }
        let extra = self.produced.saturating_sub(expected) as usize;
        out.truncate(out.len().saturating_sub(extra));
        let missing = expected.saturating_sub(self.produced - extra as u64) as usize;
        out.resize(out.len() + missing, 0.0);
        Ok(out)
    }
}

/// `x` at `from` Hz converted to `to` Hz: the same duration, the resampler's delay removed.
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    let mut r = StreamResampler::new(from, to)?;
    let mut out = r.push(x)?;
    out.extend(r.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
    }

    fn tone() -> Vec<f32> {
        (0..22_050)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 22_050.0).sin() * 0.5)
            .collect()
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_length() {
        let tone = tone();
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

    #[test]
    fn an_input_of_whole_chunks_resamples() {
        for (from, to, seconds) in [
            (44_100, 16_000, 1.5),
            (44_100, 16_000, 3.0),
            (44_100, 22_050, 1.0),
        ] {
            let n = (from as f64 * seconds) as usize;
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin()).collect();
            let y = resample(&x, from, to).unwrap();
            let expected = n as u64 * to as u64 / from as u64;
            assert!(
                (y.len() as i64 - expected as i64).abs() <= 1,
                "{from}→{to}: {}",
                y.len()
            );
        }
    }

    #[test]
    fn streaming_in_pieces_equals_one_go() {
        let tone = tone();
        let whole = resample(&tone, 22_050, 48_000).unwrap();
        let mut r = StreamResampler::new(22_050, 48_000).unwrap();
        let mut pieces = Vec::new();
        for chunk in tone.chunks(3001) {
            pieces.extend(r.push(chunk).unwrap());
        }
        pieces.extend(r.finish().unwrap());
        assert_eq!(pieces.len(), whole.len());
        let d = pieces
            .iter()
            .zip(&whole)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(d < 1e-5, "{d}");
    }
}
