//! Loading SoundFonts for rustysynth, with the shipped General MIDI bank as the default.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use rustysynth::SoundFont;

use crate::error::{Error, Result};

/// The shipped General MIDI bank (`soundfonts/sf_GMbank.sf2`, public domain), built into the binary so
/// rendering works offline from any directory with no flags.
pub static DEFAULT_SF2: &[u8] = include_bytes!("../../soundfonts/sf_GMbank.sf2");

/// Name of the default SoundFont, for messages.
pub const DEFAULT_SF2_NAME: &str = "soundfonts/sf_GMbank.sf2 (built in)";

/// Loads the SoundFont at `path`, or the built-in default when `None`.
pub fn load(path: Option<&Path>) -> Result<Arc<SoundFont>> {
    match path {
        None => parse(DEFAULT_SF2, Path::new(DEFAULT_SF2_NAME)),
        Some(p) => {
            let bytes = crate::input::read(p, crate::input::MAX_DATA_BYTES, "SoundFont")?;
            parse(&bytes, p)
        }
    }
}

/// Parses SF2 bytes; `origin` names the source in errors. SF3 is refused with a clear message.
pub fn parse(bytes: &[u8], origin: &Path) -> Result<Arc<SoundFont>> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"sfbk" {
        return Err(Error::bad_file(
            origin,
            "not a SoundFont (no RIFF 'sfbk' header)",
        ));
    }
    if let Some(major) = sf_version_major(bytes) {
        if major >= 3 {
            return Err(Error::bad_file(
                origin,
                format!(
                    "SoundFont version {major} (SF3, compressed samples) is not supported by rustysynth; \
                     convert it to SF2 or use the built-in {DEFAULT_SF2_NAME}"
                ),
            ));
        }
    }
    let sf = crate::guard::contain(origin, "SoundFont", || {
        SoundFont::new(&mut Cursor::new(bytes))
            .map_err(|e| Error::bad_file(origin, format!("unreadable SoundFont: {e}")))
    })?;
    check_samples(&sf).map_err(|m| Error::bad_file(origin, m))?;
    Ok(Arc::new(sf))
}

/// Checks what rustysynth trusts when it plays a sample: a positive sample rate and start, end and
/// loop points inside the wave data (a negative rate or a point past the data makes its oscillator
/// index out of bounds while rendering, found by fuzzing).
fn check_samples(sf: &SoundFont) -> std::result::Result<(), String> {
    let len = sf.get_wave_data().len() as i64;
    for (i, h) in sf.get_sample_headers().iter().enumerate() {
        let (start, end) = (h.get_start() as i64, h.get_end() as i64);
        let (loop_start, loop_end) = (h.get_start_loop() as i64, h.get_end_loop() as i64);
        let inside = |x: i64| (0..=len).contains(&x);
        let ok = (1..=384_000).contains(&h.get_sample_rate())
            && inside(start)
            && inside(end)
            && start <= end
            && inside(loop_start)
            && inside(loop_end)
            && loop_start <= loop_end;
        if !ok {
            return Err(format!(
                "corrupt SoundFont: sample {i} ({}) has rate {} Hz, start {start}, end {end}, loop {loop_start}–{loop_end} of {len} sample points",
                crate::error::printable(h.get_name()),
                h.get_sample_rate()
            ));
        }
    }
    Ok(())
}

/// The major version in the INFO list's `ifil` chunk (2 for SF2, 3 for SF3), if found.
fn sf_version_major(bytes: &[u8]) -> Option<u16> {
    let at = bytes.windows(4).take(4096).position(|w| w == b"ifil")?;
    let v = bytes.get(at + 8..at + 10)?;
    Some(u16::from_le_bytes([v[0], v[1]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bank_loads_and_has_a_piano() {
        let sf = load(None).unwrap();
        assert!(sf
            .get_presets()
            .iter()
            .any(|p| p.get_bank_number() == 0 && p.get_patch_number() == 0));
    }

    #[test]
    fn sf3_and_garbage_are_refused_clearly() {
        let mut sf3 = DEFAULT_SF2[..4096].to_vec();
        let at = sf3.windows(4).position(|w| w == b"ifil").unwrap();
        sf3[at + 8] = 3;
        let err = parse(&sf3, Path::new("x.sf3")).unwrap_err().to_string();
        assert!(err.contains("SF3") && err.starts_with("x.sf3:"), "{err}");
        let err = parse(b"MThd....", Path::new("y.sf2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a SoundFont"), "{err}");
        let err = parse(&DEFAULT_SF2[..2000], Path::new("z.sf2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unreadable SoundFont"), "{err}");
    }

    /// rustysynth indexes its tables without checks; the mutant (byte 3 990 961 = 255) and
    /// random mutants must give the file's error, never a panic out of `parse`.
    #[test]
    fn corrupt_banks_are_errors_not_panics() {
        let mut bytes = DEFAULT_SF2.to_vec();
        bytes[3_990_961] = 255;
        let err = parse(&bytes, Path::new("m.sf2")).unwrap_err().to_string();
        assert!(err.starts_with("m.sf2: "), "{err}");
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(19);
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..100 {
            let mut m = DEFAULT_SF2.to_vec();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..m.len());
                m[at] = rng.random();
            }
            match parse(&m, Path::new("r.sf2")) {
                Ok(_) => ok += 1,
                Err(_) => refused += 1,
            }
        }
        assert_eq!(ok + refused, 100);
    }
}
